//! RFC 6570 level 1 URI templates (`messages://{id}`), matched against the `params.uri` of a
//! `resources/read`.
//!
//! The rule: literal text matches itself, byte for byte; a `{var}` matches **one or more**
//! characters among `A-Z a-z 0-9 - . _ ~ %`, what a level 1 (simple string) expansion
//! produces: the unreserved characters and percent-encoded octets. So a variable never spans
//! a `/`, `?`, `#` or `:`: it matches within one path segment, never an empty value, never
//! several segments.

/// One part of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Variable,
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UriTemplate {
    parts: Vec<Part>,
}

/// A character a level 1 expansion can produce.
fn expanded(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~' | b'%')
}

impl UriTemplate {
    /// `template` as level 1 parts, or `None` when it is not one: an unclosed or nested brace,
    /// an empty name, an operator (`{+path}`, `{#frag}`, ...), a list or a modifier.
    pub(super) fn parse(template: &str) -> Option<Self> {
        let mut parts = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            if let Some(inner) = rest.strip_prefix('{') {
                let end = inner.find('}')?;
                let name = &inner[..end];
                let simple = !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                if !simple {
                    return None;
                }
                parts.push(Part::Variable);
                rest = &inner[end + 1..];
            } else {
                let end = rest.find(['{', '}']).unwrap_or(rest.len());
                if end == 0 {
                    return None; // a `}` without its `{`
                }
                parts.push(Part::Literal(rest[..end].to_owned()));
                rest = &rest[end..];
            }
        }
        Some(UriTemplate { parts })
    }

    /// Whether `uri` is an expansion of the template. Linear in the URI per part: the set of
    /// positions reachable so far, never a backtracking search.
    pub(super) fn matches(&self, uri: &str) -> bool {
        let uri = uri.as_bytes();
        let mut reachable = vec![false; uri.len() + 1];
        reachable[0] = true;
        for part in &self.parts {
            let mut next = vec![false; uri.len() + 1];
            match part {
                Part::Literal(literal) => {
                    let literal = literal.as_bytes();
                    for (at, _) in reachable.iter().enumerate().filter(|(_, r)| **r) {
                        if uri[at..].starts_with(literal) {
                            next[at + literal.len()] = true;
                        }
                    }
                }
                Part::Variable => {
                    // `open`: a variable started at a reachable position and has run on
                    // through expanded characters only.
                    let mut open = false;
                    for at in 0..uri.len() {
                        open = (open || reachable[at]) && expanded(uri[at]);
                        next[at + 1] = open;
                    }
                }
            }
            reachable = next;
        }
        reachable[uri.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_variable_matches_one_segment_never_empty_never_two() {
        let template = UriTemplate::parse("messages://{id}").unwrap();
        assert!(template.matches("messages://42"));
        assert!(template.matches("messages://a-b.c_d~e%20f"));
        assert!(!template.matches("messages://"));
        assert!(!template.matches("messages://42/x"));
        assert!(!template.matches("messages://42?x"));
        assert!(!template.matches("messages://4#2"));
        assert!(!template.matches("messages:/42"));
        assert!(!template.matches("xmessages://42"));
        let inner = UriTemplate::parse("file:///{dir}/{name}.json").unwrap();
        assert!(inner.matches("file:///etc/app.json"));
        assert!(inner.matches("file:///etc/app.v2.json"));
        assert!(!inner.matches("file:///etc/sub/app.json"));
        assert!(!inner.matches("file:///etc/.json"));
        let adjacent = UriTemplate::parse("x://{a}{b}").unwrap();
        assert!(adjacent.matches("x://ab"));
        assert!(!adjacent.matches("x://a"));
        let literal = UriTemplate::parse("status://health").unwrap();
        assert!(literal.matches("status://health"));
        assert!(!literal.matches("status://healthy"));
    }

    #[test]
    fn templates_beyond_level_1_are_not_read() {
        for template in [
            "x://{",
            "x://{}",
            "x://{+path}",
            "x://{a,b}",
            "x://{a*}",
            "x://}",
            "x://{a{b}}",
        ] {
            assert_eq!(UriTemplate::parse(template), None, "{template}");
        }
    }
}
