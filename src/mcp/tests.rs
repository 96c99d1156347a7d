//! The requirements a body adds up to: method, tool, prompt, resource.

use super::*;

/// The scope names a body requires under `scopes`, in order.
fn required_names(scopes: &McpScopes, body: &[u8]) -> Vec<String> {
    let required = scopes.requirements(&http::HeaderMap::new(), body).unwrap();
    required
        .iter()
        .flat_map(|p| p.names())
        .map(str::to_owned)
        .collect()
}

#[test]
fn requirements_combine_method_and_tool() {
    let scopes = McpScopes::new()
        .tools(&[
            ToolScope::all("send", &["write"]),
            ToolScope::any("find", &["a", "b"]),
        ])
        .method(TOOLS_CALL, ScopePolicy::all(["tools"]));
    let names = |body: &[u8]| required_names(&scopes, body);
    assert_eq!(
        names(br#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"send"}}"#),
        ["tools", "write"]
    );
    assert_eq!(
        names(
            br#"[{"jsonrpc":"2.0","method":"tools/call","params":{"name":"send"}},
            {"jsonrpc":"2.0","method":"tools/call","params":{"name":"find"}}]"#
        ),
        ["tools", "write", "a", "b"]
    );
    assert!(names(br#"{"jsonrpc":"2.0","method":"tools/list"}"#).is_empty());
    assert_eq!(
        ToolScope::public("x").policy(),
        ScopePolicy::all(Vec::<String>::new())
    );
}

#[test]
fn a_declared_uri_wins_over_templates_and_every_matching_template_applies() {
    let scopes = McpScopes::new()
        .resources(&[
            ResourceScope::uri("m://inbox", &["inbox"]),
            ResourceScope::template("m://{id}", &["one"]),
            ResourceScope::template("{scheme}://{id}", &["any"]),
        ])
        .prompts(&[PromptScope::any("p", &["a", "b"])]);
    let names = |body: &[u8]| required_names(&scopes, body);
    let read = |uri: &str| {
        format!(r#"{{"jsonrpc":"2.0","method":"resources/read","params":{{"uri":"{uri}"}}}}"#)
    };
    assert_eq!(names(read("m://inbox").as_bytes()), ["inbox"]);
    assert_eq!(names(read("m://7").as_bytes()), ["one", "any"]);
    assert_eq!(names(read("x://7").as_bytes()), ["any"]);
    assert!(names(read("m://7/8").as_bytes()).is_empty());
    assert_eq!(
        names(br#"{"jsonrpc":"2.0","method":"prompts/get","params":{"name":"p"}}"#),
        ["a", "b"]
    );
    assert!(names(br#"{"jsonrpc":"2.0","method":"prompts/get","params":{"name":"q"}}"#).is_empty());
}

#[test]
fn a_resource_declaration_can_ask_for_one_of_its_scopes() {
    let declared = ResourceScope::template("admin://{key}", &["admin", "ops"]);
    assert_eq!(declared.policy(), ScopePolicy::all(["admin", "ops"]));
    assert_eq!(declared.any().policy(), ScopePolicy::any(["admin", "ops"]));
    assert!(declared.any().is_template());
    assert_eq!(declared.any().target(), "admin://{key}");
    assert_eq!(
        ResourceScope::uri("status://health", &[]).any().policy(),
        ScopePolicy::all(Vec::<String>::new())
    );
}
