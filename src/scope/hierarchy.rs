//! [`ScopeHierarchy`]: which scopes imply which, declared and validated, never guessed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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
/// [`RequireScopes`](crate::RequireScopes), [`ScopePolicy`](super::ScopePolicy) checks in
/// handlers and `McpScopes` all decide with the same one: the token's
/// [`Scopes`](super::Scopes) are expanded once, when it is verified. A 403 still names the
/// scopes an operation requires as declared, not their expansion.
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
        let (implied, everything) = self.expand(&[held.into()]);
        everything || held == wanted || implied.iter().any(|s| &**s == wanted)
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

    /// The scopes `held` implies beyond itself, transitively (sorted), and whether one of
    /// them implies every scope. Each scope is expanded once, so cycles end. Without a
    /// hierarchy (the usual case) nothing is allocated: every verified token goes through here.
    pub(super) fn expand(&self, held: &[Box<str>]) -> (Vec<Box<str>>, bool) {
        let table = &*self.table;
        if table.implies.is_empty() && table.implies_all.is_empty() {
            return (Vec::new(), false);
        }
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
        let implied = granted.into_iter().filter(|s| !held.contains(s)).collect();
        (implied, everything)
    }
}

/// Whether `name` is an RFC 6749 §3.3 scope-token: one or more of `%x21 / %x23-5B / %x5D-7E`.
pub(crate) fn is_scope_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AuthError;
    use crate::scope::{ScopeClaims, ScopePolicy, Scopes};
    use serde_json::json;

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
}
