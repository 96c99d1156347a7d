//! Scopes: reading them out of the claims, and the policies routes require.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::error::{AuthError, Claim, TokenProblem};

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
    /// The listed scopes and every scope they imply, sorted.
    granted: Vec<Box<str>>,
    /// A listed scope implies every scope ([`ScopeHierarchy::implies_all`]).
    everything: bool,
}

impl Scopes {
    /// Reads the scopes from the configured claims: a string is split on spaces, an array is
    /// taken element by element (each element itself split on spaces, as some issuers do).
    /// Expanded once here, through `hierarchy`, so that each check is a lookup.
    pub(crate) fn from_claims(
        claims: &Map<String, Value>,
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
            match claims.get(name) {
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
        let (granted, everything) = hierarchy.expand(&scopes);
        Ok(Scopes {
            listed: scopes,
            granted,
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
        self.everything || self.granted.binary_search_by(|s| (**s).cmp(scope)).is_ok()
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

/// Which scopes imply which: a broader scope grants narrower ones (`messages` grants
/// `messages:read`; `admin` grants everything), as the MCP authorization specification asks
/// servers to account for.
///
/// An explicit table, never string-prefix guessing: `messages` grants `messages:read` only
/// when declared, and never `messagesx`. Expansion is transitive (`admin` → `messages` →
/// `messages:read`) and bounded: each scope is visited once, so a cycle (`a` implies `b`,
/// `b` implies `a`) or a scope implying itself is harmless (`a` and `b` then grant each
/// other, nothing more).
///
/// Given to the validator ([`ValidatorBuilder::scope_hierarchy`]), so that
/// [`RequireScopes`](crate::RequireScopes), the axum scope guards and `McpScopes` all decide
/// with the same one: the token's [`Scopes`] are expanded once, when it is verified. A 403
/// still names the scopes an operation requires as declared, not their expansion.
/// [`ValidatorBuilder::build`] refuses a name that is not an RFC 6749 scope-token.
///
/// ```
/// use bearer_guard::scope::ScopeHierarchy;
///
/// let hierarchy = ScopeHierarchy::new()
///     .implies("messages", ["messages:read", "messages:write"])
///     .implies("admin", ["messages"]);
/// assert!(hierarchy.grants("admin", "messages:read"));
/// assert!(!hierarchy.grants("messages", "messagesx"));
/// assert!(ScopeHierarchy::new().implies_all("root").grants("root", "anything"));
/// ```
///
/// [`ValidatorBuilder::scope_hierarchy`]: crate::ValidatorBuilder::scope_hierarchy
/// [`ValidatorBuilder::build`]: crate::ValidatorBuilder::build
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeHierarchy {
    /// Shared: every validator clone and issuer holds it.
    table: Arc<Table>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Table {
    implies: BTreeMap<Box<str>, BTreeSet<Box<str>>>,
    implies_all: BTreeSet<Box<str>>,
}

impl ScopeHierarchy {
    /// No scope implies another.
    pub fn new() -> Self {
        Self::default()
    }

    /// `broader` grants each of `narrower` (added to what it already implies).
    pub fn implies<I, S>(mut self, broader: impl Into<String>, narrower: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let entry = Arc::make_mut(&mut self.table)
            .implies
            .entry(broader.into().into())
            .or_default();
        entry.extend(narrower.into_iter().map(|s| s.into().into_boxed_str()));
        self
    }

    /// `scope` grants every scope (an administrator's).
    pub fn implies_all(mut self, scope: impl Into<String>) -> Self {
        Arc::make_mut(&mut self.table)
            .implies_all
            .insert(scope.into().into());
        self
    }

    /// Whether holding `held` grants `wanted` (itself included).
    pub fn grants(&self, held: &str, wanted: &str) -> bool {
        let (granted, everything) = self.expand(&[held.into()]);
        everything || granted.iter().any(|s| &**s == wanted)
    }

    /// Every scope named, for the configuration check.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        let table = &*self.table;
        table
            .implies
            .iter()
            .flat_map(|(broader, narrower)| std::iter::once(broader).chain(narrower))
            .chain(&table.implies_all)
            .map(|name| &**name)
    }

    /// `held` and every scope it implies, transitively (sorted), and whether one of them
    /// implies every scope. Each scope is expanded once, so cycles end.
    fn expand(&self, held: &[Box<str>]) -> (Vec<Box<str>>, bool) {
        let table = &*self.table;
        let mut granted: BTreeSet<Box<str>> = held.iter().cloned().collect();
        let mut pending: Vec<Box<str>> = held.to_vec();
        while let Some(scope) = pending.pop() {
            for narrower in table.implies.get(&scope).into_iter().flatten() {
                if granted.insert(narrower.clone()) {
                    pending.push(narrower.clone());
                }
            }
        }
        let everything = granted.iter().any(|s| table.implies_all.contains(s));
        (granted.into_iter().collect(), everything)
    }
}

/// Whether `name` is an RFC 6749 §3.3 scope-token: one or more of `%x21 / %x23-5B / %x5D-7E`.
pub(crate) fn is_scope_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
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
    fn a_hierarchy_grants_declared_narrower_scopes_transitively_and_nothing_else() {
        let hierarchy = ScopeHierarchy::new()
            .implies("admin", ["messages"])
            .implies("messages", ["messages:read", "messages:write"])
            .implies("a", ["b"])
            .implies("b", ["a", "b"])
            .implies_all("root");
        let expanded = |text: &str| {
            let claims = json!({ "scope": text });
            Scopes::from_claims(
                claims.as_object().unwrap(),
                ScopeClaims::default(),
                &hierarchy,
            )
            .unwrap()
        };
        let admin = expanded("admin");
        assert!(admin.grants("messages:read") && admin.grants("messages"));
        assert!(!admin.grants("messagesx") && !admin.grants("other"));
        assert!(admin.contains("admin") && !admin.contains("messages"));
        assert_eq!(admin.iter().collect::<Vec<_>>(), ["admin"]);
        let narrow = expanded("messages:read");
        assert!(!narrow.grants("messages") && !narrow.grants("admin"));
        // A cycle ends, and grants only its members.
        let cycle = expanded("a");
        assert!(cycle.grants("b") && !cycle.grants("c"));
        assert!(expanded("root").grants("anything:at:all"));
        assert!(!expanded("rootx").grants("anything"));
        // The 403 still names the requirement as declared.
        assert_eq!(
            ScopePolicy::all(["messages:write"]).check(&narrow),
            Err(AuthError::InsufficientScope {
                required: "messages:write".into()
            })
        );
    }

    #[test]
    fn scope_tokens_are_checked() {
        assert!(is_scope_token("messages:read") && is_scope_token("a!#[]~"));
        for bad in ["", "a b", "a\"b", "a\\b", "caf\u{e9}"] {
            assert!(!is_scope_token(bad), "{bad:?}");
        }
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
