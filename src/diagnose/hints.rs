//! What each check expects and finds, and the hints for the common mistakes: the wrong
//! `aud`, an opaque or encrypted token, an `iss` without its trailing slash, an ID token, a
//! clock off by minutes, an unknown `kid`, HS256 configured for an RS256 API, scopes in
//! `permissions` while they are not read.

use crate::error::{AuthError, TokenProblem};
use crate::resolver::RequestView;
use crate::validate::Rules;
use crate::{Algorithm, Validator};

use super::proof_hints::{NONCE_HINT, ProofContext, proof_hint};
use super::seen::Seen;

/// What the report knows about the validator and the token.
pub(super) struct Context<'a> {
    seen: &'a Seen,
    rules: Rules,
    /// The issuers accepted (one, or several chosen by `iss`).
    issuers: Vec<&'a str>,
    /// Whether the token's issuer was found among them.
    routed: bool,
    /// Whether issuers are resolved per request (`resolved_issuers`).
    resolved: bool,
    token_len: usize,
    max_token_bytes: usize,
    /// The key set's `kid`s at hand (`None`: a secret, or not fetched).
    kids: Option<Vec<String>>,
    secret: bool,
    /// Whether the validator introspects opaque tokens.
    introspects: bool,
    /// Whether this token goes to the introspection endpoint: its claims are then the
    /// endpoint's answer, which the report does not see.
    introspected: bool,
    requires_dpop: bool,
    /// The request's DPoP proof, when a request is explained and its issuer takes DPoP.
    proof: ProofContext,
    now: i64,
}

impl<'a> Context<'a> {
    /// The configuration of the issuer `token` goes to (with several and an unknown `iss`,
    /// the first one's, and every issuer's name).
    pub(super) fn new(
        validator: &'a Validator,
        token: &str,
        request: Option<&RequestView<'_>>,
        seen: &'a Seen,
        now: i64,
    ) -> Self {
        let routed = validator.route(token, request).ok();
        let route = match &routed {
            Some(route) => route,
            None => validator
                .routes()
                .next()
                .expect("a validator has at least one issuer"),
        };
        Context {
            seen,
            rules: route.issuer.rules().clone(),
            issuers: validator.shown_issuers().collect(),
            routed: routed.is_some(),
            resolved: validator.resolves_per_request(),
            token_len: token.len(),
            max_token_bytes: validator.max_token_bytes(),
            kids: route.issuer.key_ids(),
            secret: route.issuer.uses_secret(),
            introspects: route.issuer.introspects(),
            introspected: route.issuer.introspects_token(token),
            requires_dpop: route.binder.requires_dpop(),
            proof: request.map_or_else(ProofContext::default, |request| {
                ProofContext::of(&route.binder, request)
            }),
            now,
        }
    }

    /// What check `name` expects, and what the token has.
    pub(super) fn describe(&self, name: &str) -> (String, String) {
        if self.introspected {
            match name {
                "alg" | "typ" | "kid" => {
                    return ("(none for an introspected token)".into(), "(opaque)".into());
                }
                "signature" => {
                    return (
                        "active at the issuer's introspection endpoint".into(),
                        "introspected".into(),
                    );
                }
                "iss" | "aud" | "exp" | "nbf" | "iat" | "scopes" | "binding" => {
                    let (expected, _) = self.describe_jwt(name);
                    return (expected, "(in the introspection answer)".into());
                }
                _ => {}
            }
        }
        self.describe_jwt(name)
    }

    /// [`describe`](Self::describe) for a token validated locally.
    fn describe_jwt(&self, name: &str) -> (String, String) {
        let seen = self.seen;
        let or_none = |value: Option<String>| value.unwrap_or_else(|| "(none)".to_owned());
        let leeway = self.rules.leeway_secs;
        match name {
            "token" => (
                format!("a token of at most {} bytes", self.max_token_bytes),
                match self.token_len {
                    0 => "none".to_owned(),
                    len => format!("{len} bytes"),
                },
            ),
            "format" => (
                if self.introspects {
                    "a JWT (header.payload.signature), or an opaque token to introspect"
                } else {
                    "a JWT (header.payload.signature)"
                }
                .to_owned(),
                seen.format(),
            ),
            "alg" => (
                join(self.configured_algorithms()),
                or_none(seen.header("alg")),
            ),
            "typ" => (
                if self.rules.rfc9068 {
                    "at+jwt (rfc9068)"
                } else {
                    "not another token's +jwt type"
                }
                .to_owned(),
                or_none(seen.header("typ")),
            ),
            "kid" => (
                match &self.kids {
                    None if self.secret => "none needed: the shared secret (hs256_secret)".into(),
                    None => "a key of the key set (not fetched yet)".to_owned(),
                    Some(kids) => format!("a key of the key set: {}", join(kids.iter())),
                },
                or_none(seen.header("kid")),
            ),
            "signature" => (
                if self.secret {
                    "a MAC by the shared secret"
                } else {
                    "a signature by that key"
                }
                .to_owned(),
                match seen.segments {
                    3 => "present (not shown)",
                    _ => "(none)",
                }
                .to_owned(),
            ),
            "iss" => (
                if self.routed {
                    self.rules.issuer.clone()
                } else {
                    join(self.issuers.iter())
                },
                or_none(seen.claim("iss")),
            ),
            "aud" => (
                join(self.rules.audiences.iter()),
                or_none(seen.claim("aud")),
            ),
            "exp" => (
                format!("after now ({}) - {leeway} s leeway", self.now),
                self.date("exp"),
            ),
            "nbf" | "iat" => (
                format!("absent, or before now + {leeway} s leeway"),
                self.date(name),
            ),
            "claims" => (
                if self.rules.rfc9068 {
                    "sub, client_id, jti and iat (rfc9068)"
                } else {
                    "no more (rfc9068 off)"
                }
                .to_owned(),
                or_none(
                    Some(join(
                        ["sub", "client_id", "jti", "iat"]
                            .into_iter()
                            .filter(|claim| seen.claim(claim).is_some()),
                    ))
                    .filter(|present| !present.is_empty()),
                ),
            ),
            "scopes" => {
                let read = self.rules.scope_claims;
                let claims = [
                    (read.scope, "scope"),
                    (read.scp, "scp"),
                    (read.permissions, "permissions"),
                ];
                let found = claims
                    .iter()
                    .filter_map(|(_, claim)| Some(format!("{claim}: {}", seen.claim(claim)?)));
                (
                    format!(
                        "read from {}",
                        join(claims.iter().filter(|(on, _)| *on).map(|(_, c)| c))
                    ),
                    or_none(Some(join(found)).filter(|found| !found.is_empty())),
                )
            }
            "binding" => (
                match (self.proof.checked, self.requires_dpop) {
                    (true, required) => format!(
                        "{}a DPoP-bound token with a proof for {} (a replay is not checked: \
                         explaining records no proof)",
                        if required { "" } else { "a bearer token, or " },
                        self.proof
                            .expected_htu
                            .as_deref()
                            .unwrap_or("the API's URL (unknown: no public_url)")
                    ),
                    (false, true) => {
                        "a DPoP-bound token and its proof (explain checks no proof)".to_owned()
                    }
                    (false, false) => "a bearer token (no cnf)".to_owned(),
                },
                seen.claim("cnf")
                    .map_or_else(|| "no cnf".to_owned(), |cnf| format!("cnf {cnf}")),
            ),
            _ => (
                "the validator's claim rules (claim_rule)".to_owned(),
                "the verified claims".to_owned(),
            ),
        }
    }

    /// A NumericDate claim and how far it is from now.
    fn date(&self, claim: &str) -> String {
        match self.seen.date(claim) {
            None => "(none)".to_owned(),
            Some(at) if at == self.now => format!("{at} (now)"),
            Some(at) if at > self.now => format!("{at} (in {} s)", at - self.now),
            Some(at) => format!("{at} ({} s ago)", self.now.saturating_sub(at)),
        }
    }

    /// The hint for the check that failed with `verdict`, for the common mistakes.
    pub(super) fn failure_hint(&self, name: &str, verdict: Option<&AuthError>) -> Option<String> {
        let problem = match verdict? {
            AuthError::InvalidToken(problem) => Some(*problem),
            AuthError::MissingToken => {
                return Some("send the token as `Authorization: Bearer <token>`".to_owned());
            }
            AuthError::KeysUnavailable { .. } => {
                return Some(
                    "the key set could not be fetched: check that `jwks_uri(...)` (or the \
                     issuer's discovery document) is reachable from here; `warm_up()` returns \
                     the reason"
                        .to_owned(),
                );
            }
            AuthError::InvalidDpopProof(problem) => {
                return proof_hint(*problem, &self.proof, self.now);
            }
            AuthError::UseDpopNonce { .. } => return Some(NONCE_HINT.to_owned()),
            _ => None,
        };
        let audience = self.rules.audiences.first().map_or("", String::as_str);
        if matches!(name, "aud" | "typ") && self.seen.looks_like_id_token() {
            return Some(format!(
                "this is an OpenID Connect ID token (it has ID token claims such as `nonce` or \
                 `auth_time`), sent instead of the access token: send the `access_token` the \
                 client received, requested with `audience={audience}`"
            ));
        }
        match (name, problem?) {
            ("token", TokenProblem::TooLarge) => Some(
                "if your issuer's tokens are this large, raise `max_token_bytes(...)`".to_owned(),
            ),
            ("format", TokenProblem::Encrypted) => Some(format!(
                "an encrypted token (JWE), which this API has no key to read: the client \
                 requested it without this API's identifier (request it with \
                 `audience={audience}`), or the issuer encrypts this API's tokens (give the \
                 API's private key with `decryption_key_pem(...)`)"
            )),
            ("format", TokenProblem::Undecryptable) => Some(
                "an encrypted token (JWE) that no configured decryption key opens: its `kid` \
                 names none of them (or it has none and several are configured), or it was \
                 encrypted to another key"
                    .to_owned(),
            ),
            ("format", _) if self.seen.segments == 5 => Some(
                "an encrypted token (JWE) refused before or after decryption: it must use an \
                 `alg`/`enc` pair of `encryption_algorithms` (default RSA-OAEP-256/384/512 \
                 with A128GCM or A256GCM), no `zip` or `crit`, and hold a signed token (plain \
                 claims inside are never trusted)"
                    .to_owned(),
            ),
            ("format", _) if self.seen.segments != 3 => Some(format!(
                "your client got an opaque token, not a JWT: request it with \
                 `audience={audience}` (Auth0 issues opaque tokens when no audience is asked), \
                 or validate opaque tokens with `.introspection(...)`"
            )),
            ("alg", _) => self.alg_hint(),
            ("typ", TokenProblem::NotAnAccessToken) if self.rules.rfc9068 => Some(
                "strict mode (`rfc9068()`) requires `typ: at+jwt`, which this issuer does not \
                 send: drop `rfc9068()`, or have the issuer issue RFC 9068 tokens"
                    .to_owned(),
            ),
            ("kid", TokenProblem::UnknownKey) => Some(format!(
                "the key set holds {}, not this `kid`: the token was signed by another issuer's \
                 or tenant's key (check `issuer(...)` and `jwks_uri(...)`), or by a key the \
                 issuer has retired",
                self.kids
                    .as_ref()
                    .map_or("no named key".to_owned(), |k| join(k.iter()))
            )),
            ("signature", TokenProblem::Inactive) => Some(
                "the issuer says the token is not active (unknown, revoked or expired): get a \
                 new one, from this issuer (check `introspection(...)`'s endpoint)"
                    .to_owned(),
            ),
            ("signature", TokenProblem::InvalidSignature) if self.secret => Some(
                "the token was not MACed with this secret: check `hs256_secret(...)` (a secret \
                 shown Base64-encoded goes to `hs256_secret_base64(...)`)"
                    .to_owned(),
            ),
            ("iss", TokenProblem::WrongIssuer) => self.issuer_hint(),
            ("iss", TokenProblem::WrongTenant) => Some(
                "the token's issuer is served, but this request is for another tenant (its \
                 host, by `tenant_of_request(...)`): send it to its own tenant's host, or \
                 call `validate_request` / `explain_request` with the request"
                    .to_owned(),
            ),
            ("iss", TokenProblem::TenantMismatch) => Some(
                "the token's tenant claim (`tid`, unless `tenant_claim(...)` names another) must \
                 name the tenant in its `iss` (a token of one tenant passed off as another's): \
                 the issuer template's `{tenantid}` and the claim differ"
                    .to_owned(),
            ),
            ("aud", TokenProblem::WrongAudience) => {
                // An introspected token's `aud` is in the endpoint's answer, not shown here.
                let found = self
                    .seen
                    .claim("aud")
                    .unwrap_or_else(|| "another API".into());
                Some(format!(
                    "the token is for `{}`, not this API: the client must request it with \
                     `audience={audience}` (an Auth0 client that forgot `audience` gets a \
                     token for /userinfo); or, if that is this API's identifier, set \
                     `.audience(...)` to it",
                    super::shown(&found)
                ))
            }
            ("exp", TokenProblem::Expired) => Some(format!(
                "the token has expired (leeway {} s): get a new one; if it was just issued, \
                 this server's clock is off: sync it (NTP), or tolerate a small skew with \
                 `leeway(...)`",
                self.rules.leeway_secs
            )),
            ("nbf", TokenProblem::NotYetValid) | ("iat", TokenProblem::IssuedInFuture) => {
                Some(format!(
                    "the token is dated in the future (leeway {} s): the issuer's clock and this \
                 server's disagree: sync them (NTP), or tolerate a small skew with \
                 `leeway(...)`",
                    self.rules.leeway_secs
                ))
            }
            ("claims", _) if self.rules.rfc9068 => Some(
                "strict mode (`rfc9068()`) requires `sub`, `client_id`, `jti` and `iat`: drop \
                 `rfc9068()` if your issuer does not send them"
                    .to_owned(),
            ),
            ("binding", TokenProblem::DpopBound) => Some(
                "a DPoP-bound token (`cnf.jkt`) is sent with the `DPoP` scheme and a proof, to \
                 an API configured with `dpop(...)`"
                    .to_owned(),
            ),
            ("binding", TokenProblem::CertificateBound) => Some(
                "a certificate-bound token is checked by an API configured with `mtls(...)`"
                    .to_owned(),
            ),
            _ => None,
        }
    }

    /// The hint for a check that passed: scopes the validator does not read.
    pub(super) fn pass_hint(&self, name: &str) -> Option<String> {
        let unread_permissions = name == "scopes"
            && !self.rules.scope_claims.permissions
            && self.seen.claim("permissions").is_some();
        unread_permissions.then(|| {
            "the token's scopes are in `permissions` (Auth0 RBAC), which this validator does \
             not read, so routes requiring them refuse it: read them with \
             `scope_claims(ScopeClaims::default().permissions(true))`, as `Validator::auth0` \
             does"
                .to_owned()
        })
    }

    /// HS256 configured for an RS256 API, or the reverse.
    fn alg_hint(&self) -> Option<String> {
        // `none` and names this crate does not know get no hint: no setting accepts them.
        let alg = self.seen.header("alg")?.parse::<Algorithm>().ok()?;
        let configured_hmac = self.configured_algorithms().all(Algorithm::is_symmetric);
        Some(match (alg.is_symmetric(), configured_hmac) {
            (false, true) => format!(
                "the token is signed with {alg}, by the issuer's key pair, but this validator \
                 has `hs256_secret(...)`: remove it and verify with the issuer's key set \
                 (`jwks_uri(...)`, or found by discovery from `issuer(...)`, as \
                 `Validator::auth0` does)"
            ),
            (true, false) => format!(
                "the token is MACed with {alg} (a shared secret) but this validator verifies \
                 with a key set: configure `hs256_secret(...)`, or have the issuer sign this \
                 API's tokens with RS256"
            ),
            _ => {
                format!("if the issuer really signs with {alg}, allow it with `algorithms([...])`")
            }
        })
    }

    /// The algorithms the validator accepts.
    fn configured_algorithms(&self) -> impl Iterator<Item = Algorithm> + '_ {
        Algorithm::ALL
            .into_iter()
            .filter(|alg| self.rules.algorithms.contains(&alg.to_jwt()))
    }

    /// An `iss` that differs from the configured one, often by its trailing slash.
    fn issuer_hint(&self) -> Option<String> {
        let found = self.seen.claim("iss")?;
        let shown = super::shown(&found);
        let expected = &self.rules.issuer;
        if self.resolved {
            return Some(format!(
                "the token comes from `{shown}`, which the issuer resolver does not admit: if \
                 you serve that tenant, add it to the resolver's list (or callback)"
            ));
        }
        if found.trim_end_matches('/') == expected.trim_end_matches('/') {
            Some(format!(
                "the token's issuer is `{shown}`: set `issuer(\"{shown}\")`, with its trailing \
                 slash exactly as the token has it (Auth0's issuer ends with `/`)"
            ))
        } else {
            Some(format!(
                "the token comes from `{shown}`: if you trust that issuer, set \
                 `issuer(\"{shown}\")`"
            ))
        }
    }
}

/// Items joined by `, `.
fn join<T: std::fmt::Display>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|item| item.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
