//! Issuer templates with a `{tenantid}` placeholder, and what a tenant id may be.

/// The placeholder a template carries exactly once.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// The longest tenant id accepted: an Entra ID GUID has 36 characters, an Auth0 or Okta
/// tenant name fewer; anything much longer is not a tenant.
pub const MAX_TENANT_ID_BYTES: usize = 64;

/// An issuer template split around its placeholder: `iss` matches when it is the prefix, a
/// tenant id, and the suffix, byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template {
    prefix: String,
    suffix: String,
}

impl Template {
    /// The template, when it carries the placeholder exactly once.
    pub(crate) fn parse(raw: &str) -> Option<Template> {
        let (prefix, suffix) = raw.split_once(TENANT_PLACEHOLDER)?;
        if suffix.contains(TENANT_PLACEHOLDER) {
            return None;
        }
        Some(Template {
            prefix: prefix.to_owned(),
            suffix: suffix.to_owned(),
        })
    }

    /// The tenant id `iss` carries, when it fits the template and the id is well-formed.
    pub(crate) fn tenant_of<'a>(&self, iss: &'a str) -> Option<&'a str> {
        let tenant = iss
            .strip_prefix(self.prefix.as_str())?
            .strip_suffix(self.suffix.as_str())?;
        is_tenant_id(tenant).then_some(tenant)
    }

    /// The issuer of `tenant`.
    pub(crate) fn fill(&self, tenant: &str) -> String {
        [self.prefix.as_str(), tenant, self.suffix.as_str()].concat()
    }
}

/// Whether `id` may be a tenant id: 1 to [`MAX_TENANT_ID_BYTES`] ASCII letters, digits,
/// `-`, `_` and `.`, neither starting with a dot nor holding `..`. So it stays one path
/// segment (or one label run of a host): no `/`, `?`, `#`, `@`, `:`, no percent-escape
/// that a server might decode into one, no dot-segment that would climb out of it.
pub(crate) fn is_tenant_id(id: &str) -> bool {
    (1..=MAX_TENANT_ID_BYTES).contains(&id.len())
        && !id.starts_with('.')
        && !id.contains("..")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRA: &str = "https://login.microsoftonline.com/{tenantid}/v2.0";
    const TENANT: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

    #[test]
    fn a_template_carries_the_placeholder_exactly_once() {
        assert!(Template::parse(ENTRA).is_some());
        assert!(Template::parse("https://login.example.com/").is_none());
        assert!(Template::parse("https://{tenantid}.example.com/{tenantid}").is_none());
    }

    #[test]
    fn the_tenant_is_read_from_an_issuer_that_fits() {
        let template = Template::parse(ENTRA).unwrap();
        let iss = template.fill(TENANT);
        assert_eq!(
            iss,
            format!("https://login.microsoftonline.com/{TENANT}/v2.0")
        );
        assert_eq!(template.tenant_of(&iss), Some(TENANT));
        for other in [
            "https://login.microsoftonline.com/v2.0",
            "https://login.microsoftonline.com//v2.0",
            "https://login.microsoftonline.com/a/v2.0/",
            "https://login.microsoftonline.com/a/v2.1",
            "https://login.example.com/a/v2.0",
        ] {
            assert_eq!(template.tenant_of(other), None, "{other}");
        }
    }

    #[test]
    fn a_tenant_id_stays_one_segment() {
        for good in [TENANT, "contoso", "a.b-c_d", "A1"] {
            assert!(is_tenant_id(good), "{good}");
        }
        let long = "a".repeat(MAX_TENANT_ID_BYTES + 1);
        for bad in [
            "", ".", "..", "a..b", ".hidden", "a/b", "a?b", "a#b", "a%2Fb", "a@b", "a:b", "a b",
            "é", &long,
        ] {
            assert!(!is_tenant_id(bad), "{bad:?}");
        }
    }
}
