//! `/openapi`: the OpenAPI 3 document of the API, with the key path already
//! rendered under the configured base URI.
//!
//! A spec is built into the binary. `openapi_spec` may name a file to serve
//! instead; its only placeholder, the reference's `{{- .BaseURI -}}`, is
//! replaced by the base URI and nothing else is substituted — the reference
//! rendered the whole config into its template, password included.

use std::path::Path;

use bytes::Bytes;

/// The placeholder of the reference's template.
pub const PLACEHOLDER: &str = "{{- .BaseURI -}}";

const BUILT_IN: &str = include_str!("openapi.yaml");

/// The document for `base_uri`, and a warning if the configured file could
/// not be used.
pub fn load(spec: Option<&Path>, base_uri: &str) -> (Bytes, Option<String>) {
    if let Some(path) = spec {
        match std::fs::read_to_string(path) {
            Ok(template) => return (render(&template, base_uri), None),
            Err(e) => {
                let warning = format!(
                    "openapi_spec: cannot read {} ({e}); serving the built-in OpenAPI spec instead",
                    path.display()
                );
                return (render(BUILT_IN, base_uri), Some(warning));
            }
        }
    }
    (render(BUILT_IN, base_uri), None)
}

pub fn render(template: &str, base_uri: &str) -> Bytes {
    Bytes::from(template.replace(PLACEHOLDER, base_uri))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_spec_renders_the_base_uri_and_carries_the_monitoring_examples() {
        let doc = String::from_utf8(render(BUILT_IN, "/sessions/v1/").to_vec()).unwrap();
        assert!(doc.contains("\n  /sessions/v1/{key}:\n"), "{doc}");
        assert!(!doc.contains(PLACEHOLDER));
        assert!(doc.contains("KASK:K:INTEGRATION_TEST_KEY"));
        assert!(doc.contains("KASK:V:INTEGRATION_TEST_VALUE"));
        assert_eq!(doc.matches("x-monitor: true").count(), 2);
    }

    #[test]
    fn missing_file_falls_back_with_a_warning() {
        let (doc, warning) = load(Some(Path::new("/nonexistent/openapi.yaml")), "/v1/");
        assert!(warning.unwrap().contains("/nonexistent/openapi.yaml"));
        assert!(String::from_utf8_lossy(&doc).contains("/v1/{key}"));
    }

    #[test]
    fn only_the_placeholder_is_replaced() {
        let out = render(
            "a: {{- .BaseURI -}}\nb: {{ .Cassandra.Authentication.Password }}\n",
            "/x/",
        );
        assert_eq!(
            &out[..],
            b"a: /x/\nb: {{ .Cassandra.Authentication.Password }}\n"
        );
    }
}
