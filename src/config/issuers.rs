//! `Validator::for_issuers`: several validators combined into one, each issuer keeping its
//! own rules, keys, caches and binding rules, and the settings that must be one for the API
//! (how refusals are written) checked to agree.

use crate::respond::{DpopChallenge, Responder};
use crate::validator::{Route, Validator};

use super::{ConfigError, ConfigProblem};

impl Validator {
    /// One validator for several issuers (multi-tenant APIs, Auth0 custom domains, moving
    /// between tenants). Each keeps its own audiences, algorithms, rules and key set (fetched
    /// lazily, one cache each). A token's unverified `iss` only selects the configuration;
    /// the signature and every claim are then verified against it. A token from an issuer
    /// not on the list is refused without any network request; keys of one issuer never
    /// verify another's tokens.
    ///
    /// Opaque tokens carry no `iss`: when exactly one of the validators introspects, they
    /// go to it; otherwise they are refused as malformed.
    ///
    /// Each issuer keeps its own DPoP and mTLS settings: a token is read under the schemes
    /// of all of them, then its own issuer decides (one that requires DPoP refuses its
    /// tokens as `Bearer`; one that checks no proofs refuses the `DPoP` scheme). Refusals are
    /// written one way for the whole API: validators whose realm, `resource_metadata`,
    /// error body hook, or DPoP proof algorithms differ are a
    /// [`ConfigProblem::UnequalIssuerSetting`]; build them from clones of one builder to
    /// share these (the hook included).
    ///
    /// Encrypted tokens need a validator of their one issuer: a validator with decryption
    /// keys among several is a [`ConfigProblem::DecryptionWithSeveralIssuers`].
    ///
    /// ```
    /// use bearer_guard::Validator;
    ///
    /// let tenant_a = Validator::auth0("tenant-a.eu.auth0.com", "https://api.example.com").build()?;
    /// let tenant_b = Validator::auth0("login.example.com", "https://api.example.com").build()?;
    /// let both = Validator::for_issuers([tenant_a, tenant_b])?;
    /// # Ok::<(), bearer_guard::ConfigError>(())
    /// ```
    pub fn for_issuers(
        validators: impl IntoIterator<Item = Validator>,
    ) -> Result<Self, ConfigError> {
        let mut routes: Vec<Route> = Vec::new();
        let mut problems = Vec::new();
        let mut first_responder: Option<Responder> = None;
        for validator in validators {
            if validator.resolves_per_request() {
                problems.push(ConfigProblem::ResolvedIssuersCombined);
                continue;
            }
            let responder = validator.responder();
            match &first_responder {
                None => first_responder = Some(responder.clone()),
                Some(first) => {
                    for setting in first.differences(responder) {
                        let problem = ConfigProblem::UnequalIssuerSetting(setting);
                        if !problems.contains(&problem) {
                            problems.push(problem);
                        }
                    }
                }
            }
            for route in validator.routes() {
                let name = route.issuer.name();
                if routes.iter().any(|known| known.issuer.name() == name) {
                    problems.push(ConfigProblem::DuplicateIssuer(name.to_owned()));
                } else {
                    routes.push(route.clone());
                }
            }
        }
        if routes.is_empty() {
            problems.push(ConfigProblem::MissingIssuer);
        }
        if routes.len() > 1 && routes.iter().any(|route| route.issuer.decrypts()) {
            problems.push(ConfigProblem::DecryptionWithSeveralIssuers);
        }
        let dpop = combined_dpop_challenge(&routes).unwrap_or_else(|problem| {
            problems.push(problem);
            None
        });
        if !problems.is_empty() {
            return Err(ConfigError::new(problems));
        }
        let responder = first_responder.unwrap_or_default().with_dpop(dpop);
        Ok(Validator::many(routes, responder))
    }
}

/// The DPoP challenge of several issuers: the proof algorithms of those that check proofs
/// (they must agree: one challenge names them), with a `Bearer` challenge beside it when
/// some issuer takes bearer tokens.
fn combined_dpop_challenge(routes: &[Route]) -> Result<Option<DpopChallenge>, ConfigProblem> {
    let mut algs = routes
        .iter()
        .filter_map(|route| route.binder.advertised_algs());
    let Some(first) = algs.next() else {
        return Ok(None);
    };
    if algs.any(|other| other != first) {
        return Err(ConfigProblem::UnequalIssuerSetting("dpop algorithms"));
    }
    Ok(Some(DpopChallenge {
        algs: first.into(),
        bearer: routes.iter().any(|route| route.binder.accepts_bearer()),
    }))
}
