//! Stage `execute`: the pure decision whether a response is a success, worth retrying,
//! or fatal. Tested on response bodies captured from a real node.

use crate::es::ErrorBody;

/// What to do with one HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Success,
    /// Transient: back off and send the same request again.
    Retry,
    /// The page asked for more buckets than `search.max_buckets`: halve the page, never
    /// resend as it is (HTTP 503 on OpenSearch and older Elasticsearch, 400 on newer).
    TooManyBuckets,
    /// Anything else: report `type: reason` and stop this request.
    Fatal,
}

/// Decides from the status and the body alone.
pub fn classify(status: u16, body: &[u8]) -> Verdict {
    if (200..300).contains(&status) {
        return Verdict::Success;
    }
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(body) {
        if e.error.has_type("too_many_buckets_exception") {
            return Verdict::TooManyBuckets;
        }
        // A circuit breaker trips under memory pressure and clears by itself.
        if e.error.has_type("circuit_breaking_exception")
            || e.error.has_type("es_rejected_execution_exception")
        {
            return Verdict::Retry;
        }
    }
    match status {
        429 | 502 | 503 | 504 => Verdict::Retry,
        _ => Verdict::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_hundreds_are_success() {
        assert_eq!(classify(200, b"{}"), Verdict::Success);
        assert_eq!(classify(201, b""), Verdict::Success);
    }

    #[test]
    fn rate_limits_and_gateway_errors_are_retried() {
        for s in [429, 502, 503, 504] {
            assert_eq!(classify(s, b""), Verdict::Retry, "status {s}");
        }
    }

    #[test]
    fn too_many_buckets_is_not_retried_blindly_even_as_503() {
        // Body as Elasticsearch 7.10.2 returns it for a composite page above search.max_buckets.
        let body = br#"{"error":{"root_cause":[],"type":"search_phase_execution_exception","reason":"","phase":"fetch","grouped":true,"failed_shards":[],"caused_by":{"type":"too_many_buckets_exception","reason":"Trying to create too many buckets. Must be less than or equal to: [65535] but was [65536]. This limit can be set by changing the [search.max_buckets] cluster level setting.","max_buckets":65535}},"status":503}"#;
        assert_eq!(classify(503, body), Verdict::TooManyBuckets);
        assert_eq!(classify(400, body), Verdict::TooManyBuckets);
    }

    #[test]
    fn client_errors_are_fatal() {
        let body = br#"{"error":{"root_cause":[{"type":"index_not_found_exception","reason":"no such index [x]"}],"type":"index_not_found_exception","reason":"no such index [x]"},"status":404}"#;
        assert_eq!(classify(404, body), Verdict::Fatal);
        assert_eq!(classify(400, b"not json"), Verdict::Fatal);
        assert_eq!(classify(401, b""), Verdict::Fatal);
    }

    #[test]
    fn circuit_breaker_is_retried() {
        let body = br#"{"error":{"type":"circuit_breaking_exception","reason":"[parent] Data too large"},"status":429}"#;
        assert_eq!(classify(429, body), Verdict::Retry);
        assert_eq!(classify(500, body), Verdict::Retry);
    }
}
