//! Stage `execute`: the pure reading of a refused or failed connection, for messages a
//! person can act on: a TLS certificate that is not trusted or names another host, a
//! privilege the user lacks (and on which index), an answer that is not Elasticsearch.
//!
//! Must not: do I/O, or put a credential into a message (nothing here sees one: only
//! transport error texts, cluster `reason`s and the first bytes of an answer to `GET /`).
//! Tested on the texts rustls (through reqwest), OpenSearch 2.19.1's security plugin and
//! Elasticsearch 8 give.

/// Why a TLS handshake failed, when the transport error says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// The certificate chain does not end in a trusted CA (rustls `UnknownIssuer`, or a
    /// self-signed certificate).
    Untrusted,
    /// The certificate is valid but for other names (rustls `NotValidForName`); the
    /// names it is valid for, as rustls lists them, when it does.
    OtherHost { valid_for: Option<String> },
    /// Expired or not yet valid.
    Expired,
}

/// Reads a transport error's text (the whole `source` chain joined by `: `).
pub fn tls_problem(reason: &str) -> Option<TlsProblem> {
    let r = reason;
    if r.contains("UnknownIssuer")
        || r.contains("unknown issuer")
        || r.contains("self-signed certificate")
        || r.contains("self signed certificate")
        || r.contains("unable to get local issuer certificate")
    {
        return Some(TlsProblem::Untrusted);
    }
    if r.contains("NotValidForName") || r.contains("certificate not valid for name") {
        let valid_for = r
            .split_once("certificate is only valid for ")
            .map(|(_, names)| names.split(':').next().unwrap_or(names).trim().to_string());
        return Some(TlsProblem::OtherHost { valid_for });
    }
    if r.contains("certificate expired") || r.contains("Expired") || r.contains("NotValidYet") {
        return Some(TlsProblem::Expired);
    }
    None
}

/// The one-line message for a TLS failure at `url` (already without credentials).
pub fn tls_message(problem: &TlsProblem, url: &str, ca_given: bool) -> String {
    match problem {
        TlsProblem::Untrusted if ca_given => format!(
            "the TLS certificate of {url} is not trusted: it is not signed by the CA in ES_CA_CERT; set ES_CA_CERT to the PEM file of the CA that signed the cluster's certificate"
        ),
        TlsProblem::Untrusted => format!(
            "the TLS certificate of {url} is not trusted (signed by a CA this machine does not know); pass that CA as a PEM file with ES_CA_CERT=/path/to/ca.pem (or --insecure to skip the check, not for production)"
        ),
        TlsProblem::OtherHost { valid_for } => format!(
            "the TLS certificate of {url} is not valid for that host name{}; connect with a name the certificate holds (ES_URL), or have a certificate issued for this one",
            valid_for
                .as_ref()
                .map(|v| format!(" (it is only valid for {v})"))
                .unwrap_or_default()
        ),
        TlsProblem::Expired => format!(
            "the TLS certificate of {url} has expired or is not valid yet; renew it on the cluster"
        ),
    }
}

/// The action a 403 names. OpenSearch's security plugin: `no permissions for [ACTION]
/// and User [...]`; Elasticsearch: `action [ACTION] is unauthorized for user [...]`.
pub fn denied_action(reason: &str) -> Option<&str> {
    for start in ["no permissions for [", "action ["] {
        if let Some((_, rest)) = reason.split_once(start) {
            if let Some((action, _)) = rest.split_once(']') {
                return Some(action);
            }
        }
    }
    None
}

/// The indices a 403 names: Elasticsearch says `on indices [a,b]`; OpenSearch names
/// none (the caller then asks index by index).
pub fn denied_indices_named(reason: &str) -> Vec<String> {
    reason
        .split_once("on indices [")
        .and_then(|(_, rest)| rest.split_once(']'))
        .map(|(list, _)| {
            list.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Why an answer to `GET /` is not an Elasticsearch or OpenSearch root document:
/// `None` when it is one (JSON with `version.number`).
pub fn not_elasticsearch(status: u16, content_type: Option<&str>, body: &[u8]) -> Option<String> {
    let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    if json
        .as_ref()
        .and_then(|v| v.get("version"))
        .and_then(|v| v.get("number"))
        .is_some_and(|n| n.is_string())
    {
        return None;
    }
    Some(format!(
        "HTTP {status}, content type {}, first bytes: {}",
        content_type.unwrap_or("(none)"),
        first_bytes(body, 80)
    ))
}

/// Up to `n` bytes of `body` as one line of text, with `...` when cut, `(empty)` when
/// there are none.
pub fn first_bytes(body: &[u8], n: usize) -> String {
    if body.is_empty() {
        return "(empty)".into();
    }
    let cut = &body[..body.len().min(n)];
    let text: String = String::from_utf8_lossy(cut)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let more = if body.len() > n { "..." } else { "" };
    format!("{:?}{more}", text)
}

#[cfg(test)]
mod tests {
    use super::*;

    // As reqwest 0.12 with rustls prints them (captured against the secured node).
    const UNKNOWN_ISSUER: &str = "error sending request for url (https://127.0.0.1:9201/): client error (Connect): invalid peer certificate: UnknownIssuer";
    const OTHER_NAME: &str = "error sending request for url (https://localhost:9201/): client error (Connect): invalid peer certificate: certificate not valid for name \"localhost\"; certificate is only valid for IpAddress(127.0.0.1) or DnsName(\"esnode-secure.test\")";

    #[test]
    fn an_unknown_issuer_is_an_untrusted_certificate() {
        assert_eq!(tls_problem(UNKNOWN_ISSUER), Some(TlsProblem::Untrusted));
    }

    #[test]
    fn another_host_name_keeps_the_names_the_certificate_holds() {
        assert_eq!(
            tls_problem(OTHER_NAME),
            Some(TlsProblem::OtherHost {
                valid_for: Some("IpAddress(127.0.0.1) or DnsName(\"esnode-secure.test\")".into())
            })
        );
    }

    #[test]
    fn a_refused_connection_is_not_a_tls_problem() {
        assert_eq!(
            tls_problem("error sending request: client error (Connect): tcp connect error: Connection refused (os error 111)"),
            None
        );
    }

    #[test]
    fn the_untrusted_message_says_how_to_pass_the_ca_in_one_line() {
        let m = tls_message(&TlsProblem::Untrusted, "https://h:9200", false);
        assert!(m.contains("not trusted") && m.contains("ES_CA_CERT"), "{m}");
        assert!(!m.contains('\n'));
        let m = tls_message(&TlsProblem::Untrusted, "https://h:9200", true);
        assert!(m.contains("not signed by the CA in ES_CA_CERT"), "{m}");
    }

    #[test]
    fn opensearch_and_elasticsearch_denials_name_the_action() {
        let os = "no permissions for [indices:data/write/update/byquery] and User [name=reader, backend_roles=[], requestedTenant=null]";
        assert_eq!(denied_action(os), Some("indices:data/write/update/byquery"));
        let es = "action [indices:data/write/update/byquery] is unauthorized for user [reader] with effective roles [r] on indices [logs-1,logs-2], this action is granted by the index privileges [index,write,all]";
        assert_eq!(denied_action(es), Some("indices:data/write/update/byquery"));
        assert_eq!(denied_indices_named(es), vec!["logs-1", "logs-2"]);
        assert!(denied_indices_named(os).is_empty());
        assert_eq!(denied_action("something else"), None);
    }

    #[test]
    fn a_root_document_with_a_version_number_is_elasticsearch() {
        let b = br#"{"name":"n","version":{"number":"7.10.2"},"tagline":"You Know, for Search"}"#;
        assert_eq!(not_elasticsearch(200, Some("application/json"), b), None);
    }

    #[test]
    fn a_web_page_is_not_elasticsearch_and_the_message_shows_its_first_bytes() {
        let m = not_elasticsearch(
            200,
            Some("text/html"),
            b"<!DOCTYPE html>\n<html><body>hello</body></html>",
        )
        .unwrap();
        assert!(m.contains("HTTP 200") && m.contains("text/html"), "{m}");
        assert!(m.contains("<!DOCTYPE html> <html>"), "{m}");
        let m = not_elasticsearch(404, None, b"").unwrap();
        assert!(m.contains("(none)") && m.contains("(empty)"), "{m}");
        // JSON that is not a root document (another API) is refused too.
        assert!(not_elasticsearch(200, Some("application/json"), br#"{"ok":true}"#).is_some());
    }

    #[test]
    fn first_bytes_are_cut_with_an_ellipsis() {
        assert_eq!(first_bytes(b"abcdef", 3), "\"abc\"...");
        assert_eq!(first_bytes(b"abc", 3), "\"abc\"");
    }
}
