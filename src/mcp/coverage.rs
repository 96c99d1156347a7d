//! What [`McpScopes::check_tools`](super::McpScopes::check_tools) reports: tools and
//! requirements that do not match.

use std::fmt;

/// What [`McpScopes::check_tools`](super::McpScopes::check_tools) found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCoverageError {
    /// Tools of the server without any requirement.
    pub unguarded: Vec<String>,
    /// Tools with a requirement that the server does not have (a typo, a renamed tool).
    pub unknown: Vec<String>,
}

impl fmt::Display for ToolCoverageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.unguarded.is_empty() {
            parts.push(format!(
                "tools without a scope requirement: {}",
                self.unguarded.join(", ")
            ));
        }
        if !self.unknown.is_empty() {
            parts.push(format!(
                "scope requirements for tools the server does not have: {}",
                self.unknown.join(", ")
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ToolCoverageError {}
