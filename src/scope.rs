//! Scopes: reading them out of the claims, and the policies routes require.

mod hierarchy;

use serde_json::Value;

use crate::error::{AuthError, Claim, TokenProblem};
use crate::json_members::ClaimLookup;
pub use hierarchy::ScopeHierarchy;
pub(crate) use hierarchy::is_scope_token;

/// Which claims carry the token's scopes.
///
/// `scope` (RFC 8693 / RFC 9068: a space-delimited string) and `scp` (Okta, Entra ID) are read
/// by default; Auth0's RBAC `permissions` array on request (the [`auth0`](crate::Validator::auth0)
/// preset turns it on). A claim of the wrong type makes the token invalid rather than
/// silently scope-less.
///
/// ```
/// use bearer_guard::scope::ScopeClaims;
///
/// // Auth0 RBAC: `permissions` as well as `scope`.
/// let rbac = ScopeClaims::default().permissions(true);
/// assert!(rbac.permissions && rbac.scope);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScopeClaims {
    /// Read `scope`.
    pub scope: bool,
    /// Read `scp`.
    pub scp: bool,
    /// Read `permissions`.
    pub permissions: bool,
}

impl ScopeClaims {
    /// Whether to read `scope`.
    pub fn scope(mut self, read: bool) -> Self {
        self.scope = read;
        self
    }

    /// Whether to read `scp`.
    pub fn scp(mut self, read: bool) -> Self {
        self.scp = read;
        self
    }

    /// Whether to read `permissions` (Auth0 RBAC).
    pub fn permissions(mut self, read: bool) -> Self {
        self.permissions = read;
        self
    }
}

impl Default for ScopeClaims {
    fn default() -> Self {
        ScopeClaims {
            scope: true,
            scp: true,
            permissions: false,
        }
    }
}

/// The scopes a verified token carries, and those they grant through the validator's
/// [`ScopeHierarchy`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scopes {
    /// The token's own scopes, sorted.
    listed: Vec<Box<str>>,
    /// The scopes the listed ones imply beyond themselves, sorted (empty without a
    /// hierarchy: nothing is stored twice).
    implied: Vec<Box<str>>,
    /// A listed scope implies every scope ([`ScopeHierarchy::implies_all`]).
    everything: bool,
}

impl Scopes {
    /// Reads the scopes from the configured claims: a string is split on spaces, an array is
    /// taken element by element (each element itself split on spaces, as some issuers do).
    /// Expanded once here, through `hierarchy`, so that each check is a lookup.
    pub(crate) fn from_claims(
        claims: &impl ClaimLookup,
        sources: ScopeClaims,
        hierarchy: &ScopeHierarchy,
    ) -> Result<Scopes, TokenProblem> {
        let mut scopes = Vec::new();
        let names = [
            (sources.scope, "scope"),
            (sources.scp, "scp"),
            (sources.permissions, "permissions"),
        ];
        for (enabled, name) in names {
            if !enabled {
                continue;
            }
            match claims.claim(name) {
                None | Some(Value::Null) => {}
                Some(Value::String(text)) => push_words(&mut scopes, text),
                Some(Value::Array(items)) => {
                    for item in items {
                        let Value::String(text) = item else {
                            return Err(TokenProblem::InvalidClaim(Claim::Scope));
                        };
                        push_words(&mut scopes, text);
                    }
                }
                Some(_) => return Err(TokenProblem::InvalidClaim(Claim::Scope)),
            }
        }
        scopes.sort_unstable();
        scopes.dedup();
        let (implied, everything) = hierarchy.expand(&scopes);
        Ok(Scopes {
            listed: scopes,
            implied,
            everything,
        })
    }

    /// Whether the token lists exactly this scope (no prefix or pattern matching, no
    /// hierarchy: see [`grants`](Self::grants)).
    pub fn contains(&self, scope: &str) -> bool {
        self.listed.binary_search_by(|s| (**s).cmp(scope)).is_ok()
    }

    /// Whether the token grants this scope: it lists it, or lists a scope that implies it in
    /// the validator's [`ScopeHierarchy`]. Still exact names, never a prefix.
    /// [`ScopePolicy`] decides with this.
    pub fn grants(&self, scope: &str) -> bool {
        self.everything
            || self.contains(scope)
            || self.implied.binary_search_by(|s| (**s).cmp(scope)).is_ok()
    }

    /// The scopes the token lists, sorted (not those they imply).
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.listed.iter().map(|s| &**s)
    }

    /// How many distinct scopes the token lists.
    pub fn len(&self) -> usize {
        self.listed.len()
    }

    /// Whether the token lists no scope at all.
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }
}

fn push_words(scopes: &mut Vec<Box<str>>, text: &str) {
    scopes.extend(text.split(' ').filter(|s| !s.is_empty()).map(Box::from));
}

/// What a route requires of the token's scopes.
///
/// One representation serves every policy: a list of alternatives, each a set of scopes that
/// must all be present. [`all`](ScopePolicy::all) is one alternative,
/// [`any`](ScopePolicy::any) is one alternative per scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopePolicy {
    alternatives: Vec<Vec<Box<str>>>,
}

impl ScopePolicy {
    /// The token must have every one of these scopes.
    pub fn all<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ScopePolicy {
            alternatives: vec![scopes.into_iter().map(|s| s.into().into()).collect()],
        }
    }

    /// The token must have at least one of these scopes.
    pub fn any<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ScopePolicy {
            alternatives: scopes
                .into_iter()
                .map(|s| vec![s.into().into_boxed_str()])
                .collect(),
        }
    }

    /// Any one of these sets of scopes, each required whole: `admin` OR (`read:messages`
    /// AND `write:messages`) is `any_of_all([vec!["admin"], vec!["read:messages",
    /// "write:messages"]])`.
    pub fn any_of_all<I, J, S>(sets: I) -> Self
    where
        I: IntoIterator<Item = J>,
        J: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ScopePolicy {
            alternatives: sets
                .into_iter()
                .map(|set| set.into_iter().map(|s| s.into().into_boxed_str()).collect())
                .collect(),
        }
    }

    /// Whether `scopes` satisfy the policy: each scope is [granted](Scopes::grants), listed
    /// or implied through the validator's [`ScopeHierarchy`].
    pub fn is_satisfied_by(&self, scopes: &Scopes) -> bool {
        self.alternatives
            .iter()
            .any(|set| set.iter().all(|scope| scopes.grants(scope)))
    }

    /// `Ok` when satisfied, else the 403 `insufficient_scope` naming what the route requires.
    pub fn check(&self, scopes: &Scopes) -> Result<(), AuthError> {
        if self.is_satisfied_by(scopes) {
            Ok(())
        } else {
            Err(AuthError::InsufficientScope {
                required: self.required(),
            })
        }
    }

    /// The scopes named by the policy, space-delimited, for the `scope` challenge parameter.
    fn required(&self) -> String {
        let mut names: Vec<&str> = Vec::new();
        for name in self.names() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names.join(" ")
    }

    /// Every scope the policy names, in order, repeats included.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.alternatives.iter().flatten().map(|name| &**name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn scopes(claims: Value, sources: ScopeClaims) -> Result<Scopes, TokenProblem> {
        Scopes::from_claims(claims.as_object().unwrap(), sources, &ScopeHierarchy::new())
    }

    #[test]
    fn reads_scope_string_scp_array_and_permissions() {
        let all = ScopeClaims::default().permissions(true);
        let found = scopes(
            json!({"scope": "a  b", "scp": ["c", "d e"], "permissions": ["f"]}),
            all,
        )
        .unwrap();
        assert_eq!(
            found.iter().collect::<Vec<_>>(),
            ["a", "b", "c", "d", "e", "f"]
        );
    }

    #[test]
    fn permissions_are_ignored_unless_enabled() {
        let found = scopes(json!({"permissions": ["f"]}), ScopeClaims::default()).unwrap();
        assert!(found.is_empty());
    }

    #[test]
    fn wrongly_typed_scope_claims_make_the_token_invalid() {
        for bad in [
            json!({"scope": 1}),
            json!({"scp": [1]}),
            json!({"scope": {"a": 1}}),
        ] {
            assert_eq!(
                scopes(bad, ScopeClaims::default()),
                Err(TokenProblem::InvalidClaim(Claim::Scope))
            );
        }
    }

    #[test]
    fn matching_is_exact() {
        let found = scopes(
            json!({"scope": "read:messages2 read"}),
            ScopeClaims::default(),
        )
        .unwrap();
        assert!(!found.contains("read:messages"));
        assert!(!ScopePolicy::all(["read:messages"]).is_satisfied_by(&found));
    }

    #[test]
    fn any_of_all_of_sets() {
        let policy = ScopePolicy::any_of_all([vec!["admin"], vec!["read", "write"]]);
        let has = |text: &str| {
            let found = scopes(json!({ "scope": text }), ScopeClaims::default()).unwrap();
            policy.is_satisfied_by(&found)
        };
        assert!(has("admin"));
        assert!(has("read write"));
        assert!(!has("read"));
        assert!(!has("write other"));
        assert_eq!(
            policy.check(&Scopes::default()),
            Err(AuthError::InsufficientScope {
                required: "admin read write".into()
            })
        );
    }

    #[test]
    fn all_of_and_any_of() {
        let found = scopes(json!({"scope": "a b"}), ScopeClaims::default()).unwrap();
        assert!(ScopePolicy::all(["a", "b"]).is_satisfied_by(&found));
        assert!(!ScopePolicy::all(["a", "c"]).is_satisfied_by(&found));
        assert!(ScopePolicy::any(["c", "b"]).is_satisfied_by(&found));
        assert!(!ScopePolicy::any(["c", "d"]).is_satisfied_by(&found));
        assert_eq!(
            ScopePolicy::any(["c", "d"]).check(&found),
            Err(AuthError::InsufficientScope {
                required: "c d".into()
            })
        );
    }
}
