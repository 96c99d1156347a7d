//! What a server declares next to what it protects: the `const` tables of [`ToolScope`]s,
//! [`ResourceScope`]s and [`PromptScope`]s that [`McpScopes`](super::McpScopes) takes.

use crate::scope::ScopePolicy;

/// The scopes of one declaration: every one of them, or at least one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Scopes {
    names: &'static [&'static str],
    any: bool,
}

impl Scopes {
    /// The requirement as a [`ScopePolicy`]; no scope at all is a public entry.
    fn policy(&self) -> ScopePolicy {
        if self.any && !self.names.is_empty() {
            ScopePolicy::any(self.names.iter().copied())
        } else {
            ScopePolicy::all(self.names.iter().copied())
        }
    }
}

/// A tool's scope requirement, declared next to the tool as a `const`.
///
/// ```
/// use bearer_guard::mcp::ToolScope;
///
/// pub const TOOL_SCOPES: &[ToolScope] = &[
///     ToolScope::public("whoami"),                               // any valid token
///     ToolScope::all("send_message", &["read:messages", "write:messages"]),
///     ToolScope::any("search", &["read:messages", "admin"]),     // one of them
/// ];
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolScope {
    tool: &'static str,
    scopes: Scopes,
}

impl ToolScope {
    /// The tool `tool` needs every one of `scopes`.
    pub const fn all(tool: &'static str, scopes: &'static [&'static str]) -> Self {
        let scopes = Scopes {
            names: scopes,
            any: false,
        };
        ToolScope { tool, scopes }
    }

    /// The tool `tool` needs at least one of `scopes`.
    pub const fn any(tool: &'static str, scopes: &'static [&'static str]) -> Self {
        let scopes = Scopes {
            names: scopes,
            any: true,
        };
        ToolScope { tool, scopes }
    }

    /// The tool `tool` needs no scope: any valid token may call it. Declaring it keeps
    /// [`McpScopes::check_tools`](super::McpScopes::check_tools) content.
    pub const fn public(tool: &'static str) -> Self {
        Self::all(tool, &[])
    }

    /// The tool's name, as in `tools/list` and `tools/call`.
    pub fn tool(&self) -> &'static str {
        self.tool
    }

    /// The requirement as a [`ScopePolicy`].
    pub fn policy(&self) -> ScopePolicy {
        self.scopes.policy()
    }
}

/// A prompt's scope requirement (`prompts/get` by `params.name`), declared next to the
/// prompt as a `const`.
///
/// ```
/// use bearer_guard::mcp::PromptScope;
///
/// pub const PROMPT_SCOPES: &[PromptScope] = &[
///     PromptScope::public("greeting"),
///     PromptScope::all("summarize_inbox", &["read:messages"]),
/// ];
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PromptScope {
    prompt: &'static str,
    scopes: Scopes,
}

impl PromptScope {
    /// The prompt `prompt` needs every one of `scopes`.
    pub const fn all(prompt: &'static str, scopes: &'static [&'static str]) -> Self {
        let scopes = Scopes {
            names: scopes,
            any: false,
        };
        PromptScope { prompt, scopes }
    }

    /// The prompt `prompt` needs at least one of `scopes`.
    pub const fn any(prompt: &'static str, scopes: &'static [&'static str]) -> Self {
        let scopes = Scopes {
            names: scopes,
            any: true,
        };
        PromptScope { prompt, scopes }
    }

    /// The prompt `prompt` needs no scope. Declaring it keeps
    /// [`McpScopes::check_prompts`](super::McpScopes::check_prompts) content.
    pub const fn public(prompt: &'static str) -> Self {
        Self::all(prompt, &[])
    }

    /// The prompt's name, as in `prompts/list` and `prompts/get`.
    pub fn prompt(&self) -> &'static str {
        self.prompt
    }

    /// The requirement as a [`ScopePolicy`].
    pub fn policy(&self) -> ScopePolicy {
        self.scopes.policy()
    }
}

/// A resource's scope requirement (`resources/read` by `params.uri`): one URI, or every URI
/// of an RFC 6570 level 1 template (see [`McpScopes::resources`](super::McpScopes::resources)
/// for how a template matches). Declared next to the resources as a `const`.
///
/// ```
/// use bearer_guard::mcp::ResourceScope;
///
/// pub const RESOURCE_SCOPES: &[ResourceScope] = &[
///     ResourceScope::uri("messages://inbox", &["read:messages"]),
///     ResourceScope::template("messages://{id}", &["read:messages"]),
///     ResourceScope::uri("status://health", &[]),                      // public
///     ResourceScope::template("admin://{key}", &["admin", "ops"]).any(), // one of them
/// ];
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceScope {
    target: &'static str,
    template: bool,
    scopes: Scopes,
}

impl ResourceScope {
    /// The resource `uri` needs every one of `scopes` (none: any valid token).
    pub const fn uri(uri: &'static str, scopes: &'static [&'static str]) -> Self {
        let scopes = Scopes {
            names: scopes,
            any: false,
        };
        ResourceScope {
            target: uri,
            template: false,
            scopes,
        }
    }

    /// Every resource whose URI matches `template` (`messages://{id}`) needs every one of
    /// `scopes` (none: any valid token).
    pub const fn template(template: &'static str, scopes: &'static [&'static str]) -> Self {
        let scopes = Scopes {
            names: scopes,
            any: false,
        };
        ResourceScope {
            target: template,
            template: true,
            scopes,
        }
    }

    /// The same declaration, satisfied by at least one of its scopes instead of all.
    pub const fn any(self) -> Self {
        let scopes = Scopes {
            names: self.scopes.names,
            any: true,
        };
        ResourceScope { scopes, ..self }
    }

    /// The URI, or the template, as in `resources/list` or `resources/templates/list`.
    pub fn target(&self) -> &'static str {
        self.target
    }

    /// Whether [`target`](Self::target) is a URI template.
    pub fn is_template(&self) -> bool {
        self.template
    }

    /// The requirement as a [`ScopePolicy`].
    pub fn policy(&self) -> ScopePolicy {
        self.scopes.policy()
    }
}
