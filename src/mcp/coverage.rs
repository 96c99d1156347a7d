//! The start-up checks of [`McpScopes`]: its requirements compared with the tools, prompts
//! and resources the server really has, and what they report.

use std::fmt;

use super::McpScopes;

/// What [`McpScopes::check_tools`], [`McpScopes::check_prompts`] or
/// [`McpScopes::check_resources`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoverageError {
    /// What was checked: `"tools"`, `"prompts"` or `"resources"`.
    pub kind: &'static str,
    /// Tools, prompts, resource URIs or templates of the server without any requirement.
    pub unguarded: Vec<String>,
    /// Requirements for what the server does not have (a typo, a renamed tool).
    pub unknown: Vec<String>,
    /// Declared resource templates that are not RFC 6570 level 1 (they would match nothing).
    pub invalid: Vec<String>,
}

/// The name this error had when only tools were checked.
pub type ToolCoverageError = CoverageError;

impl fmt::Display for CoverageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = self.kind;
        let mut parts = Vec::new();
        if !self.unguarded.is_empty() {
            let list = self.unguarded.join(", ");
            parts.push(format!("{kind} without a scope requirement: {list}"));
        }
        if !self.unknown.is_empty() {
            let list = self.unknown.join(", ");
            parts.push(format!(
                "scope requirements for {kind} the server does not have: {list}"
            ));
        }
        if !self.invalid.is_empty() {
            let list = self.invalid.join(", ");
            parts.push(format!(
                "URI templates that are not RFC 6570 level 1: {list}"
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for CoverageError {}

/// Sorts the findings into an error, or `Ok` when there are none.
fn report(
    kind: &'static str,
    mut unguarded: Vec<String>,
    mut unknown: Vec<String>,
    mut invalid: Vec<String>,
) -> Result<(), CoverageError> {
    unguarded.sort();
    unknown.sort();
    invalid.sort();
    if unguarded.is_empty() && unknown.is_empty() && invalid.is_empty() {
        return Ok(());
    }
    Err(CoverageError {
        kind,
        unguarded,
        unknown,
        invalid,
    })
}

fn owned<I: IntoIterator<Item = S>, S: AsRef<str>>(items: I) -> Vec<String> {
    items
        .into_iter()
        .map(|item| item.as_ref().to_owned())
        .collect()
}

impl McpScopes {
    /// Compares the requirements with the tools the server has: every tool must have a
    /// requirement (its own, [`ToolScope::public`](super::ToolScope::public) included, or
    /// [`unlisted_tools`](Self::unlisted_tools)), and every tool with a requirement must
    /// exist. Call it at start-up with the server's tool names (rmcp:
    /// `Server::tool_router().list_all()`, each `tool.name`).
    ///
    /// # Errors
    /// The tools without a requirement and the requirements of unknown tools.
    pub fn check_tools<I, S>(&self, tools: I) -> Result<(), CoverageError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let tools = owned(tools);
        let declared = &self.table.tools;
        let mut unguarded = Vec::new();
        if self.table.unlisted_tools.is_none() {
            unguarded = tools
                .iter()
                .filter(|t| !declared.contains_key(*t))
                .cloned()
                .collect();
        }
        let unknown = declared
            .keys()
            .filter(|d| !tools.contains(d))
            .cloned()
            .collect();
        report("tools", unguarded, unknown, Vec::new())
    }

    /// The same for prompts: every prompt of the server must have a requirement
    /// ([`PromptScope::public`](super::PromptScope::public) included), and every requirement
    /// a prompt. rmcp: `Server::prompt_router().list_all()`, each `prompt.name`.
    ///
    /// # Errors
    /// The prompts without a requirement and the requirements of unknown prompts.
    pub fn check_prompts<I, S>(&self, prompts: I) -> Result<(), CoverageError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let prompts = owned(prompts);
        let declared = &self.table.prompts;
        let unguarded = prompts
            .iter()
            .filter(|p| !declared.contains_key(*p))
            .cloned()
            .collect();
        let unknown = declared
            .keys()
            .filter(|d| !prompts.contains(d))
            .cloned()
            .collect();
        report("prompts", unguarded, unknown, Vec::new())
    }

    /// The same for resources, with the URIs the server lists (`resources/list`) and its
    /// templates (`resources/templates/list`; rmcp: what the server's `list_resources` and
    /// `list_resource_templates` answer). A listed URI is guarded when it is declared itself
    /// or matches a declared template; a listed template when the same template is declared.
    /// A declared URI is known when the server lists it or it matches one of the server's
    /// templates; a declared template when the server lists it.
    ///
    /// # Errors
    /// The URIs and templates without a requirement, the requirements of unknown ones, and
    /// declared templates that are not level 1.
    pub fn check_resources<U, T, S1, S2>(&self, uris: U, templates: T) -> Result<(), CoverageError>
    where
        U: IntoIterator<Item = S1>,
        S1: AsRef<str>,
        T: IntoIterator<Item = S2>,
        S2: AsRef<str>,
    {
        let (uris, templates) = (owned(uris), owned(templates));
        let table = &*self.table;
        let declared_template = |text: &String| table.templates.iter().any(|(t, _, _)| t == text);
        let covered = |uri: &String| {
            table.resources.contains_key(uri)
                || table
                    .templates
                    .iter()
                    .any(|(_, t, _)| t.as_ref().is_some_and(|t| t.matches(uri)))
        };
        let mut unguarded: Vec<String> = uris.iter().filter(|u| !covered(u)).cloned().collect();
        unguarded.extend(templates.iter().filter(|t| !declared_template(t)).cloned());
        let served: Vec<_> = templates
            .iter()
            .filter_map(|t| super::UriTemplate::parse(t))
            .collect();
        let mut unknown: Vec<String> = table
            .resources
            .keys()
            .filter(|uri| !uris.contains(uri) && !served.iter().any(|t| t.matches(uri)))
            .cloned()
            .collect();
        unknown.extend(
            table
                .templates
                .iter()
                .map(|(text, _, _)| text)
                .filter(|t| !templates.contains(t))
                .cloned(),
        );
        let invalid = table
            .templates
            .iter()
            .filter(|(_, parsed, _)| parsed.is_none())
            .map(|(text, _, _)| text.clone())
            .collect();
        report("resources", unguarded, unknown, invalid)
    }
}
