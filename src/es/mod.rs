//! Elasticsearch vocabulary: the response bodies esoutliers reads, as serde types.
//!
//! No I/O and no logic beyond (de)serialisation: `execute` sends requests and hands the
//! bodies here; `plan` and `tag` build request bodies as `serde_json::Value`.
//! Maps are `BTreeMap` so anything re-serialised is byte-stable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The name of the composite aggregation in every counting request.
pub const PAIRS_AGG: &str = "pairs";

/// `GET /`: product and version.
/// <https://www.elastic.co/guide/en/elasticsearch/reference/current/rest-api-root.html>
#[derive(Debug, Clone, Deserialize)]
pub struct RootInfo {
    #[serde(default)]
    pub cluster_name: String,
    pub version: RootVersion,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RootVersion {
    pub number: String,
    /// `"opensearch"` on OpenSearch; `None` on Elasticsearch.
    #[serde(default)]
    pub distribution: Option<String>,
}

impl RootInfo {
    /// "Elasticsearch 7.10.2" or "OpenSearch 2.19.1".
    pub fn product(&self) -> String {
        match self.version.distribution.as_deref() {
            Some("opensearch") => format!("OpenSearch {}", self.version.number),
            _ => format!("Elasticsearch {}", self.version.number),
        }
    }
}

/// `_shards` of a search response.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Shards {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub successful: u64,
    #[serde(default)]
    pub failed: u64,
}

/// The `after_key` of a composite aggregation: source name -> value.
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-aggregations-bucket-composite-aggregation.html#_pagination>
pub type AfterKey = BTreeMap<String, Value>;

/// One page of the counting request (trimmed by `filter_path`).
#[derive(Debug, Clone, Deserialize)]
pub struct CompositePage {
    #[serde(default)]
    pub took: u64,
    #[serde(default)]
    pub timed_out: bool,
    #[serde(rename = "_shards", default)]
    pub shards: Shards,
    #[serde(default)]
    pub hits: Option<Hits>,
    /// Absent when no document matched (filter_path drops empty objects).
    #[serde(default)]
    pub aggregations: Option<BTreeMap<String, CompositeAgg>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Hits {
    #[serde(default)]
    pub total: Option<TotalHits>,
    #[serde(default)]
    pub hits: Vec<Hit>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TotalHits {
    pub value: u64,
    #[serde(default)]
    pub relation: String,
}

/// A search hit.
#[derive(Debug, Clone, Deserialize)]
pub struct Hit {
    #[serde(rename = "_index")]
    pub index: String,
    #[serde(rename = "_id")]
    pub id: String,
    #[serde(rename = "_source", default)]
    pub source: Value,
    #[serde(default)]
    pub sort: Option<Vec<Value>>,
    /// Highlighted fragments per field, in the order Elasticsearch returned the fields
    /// (ee-outliers renders them in that order). `None` when no highlight was asked.
    #[serde(default)]
    pub highlight: Option<Highlight>,
}

/// A hit's `highlight` object: field -> fragments, keeping the response's field order.
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/highlighting.html>
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Highlight(pub Vec<(String, Vec<String>)>);

impl<'de> Deserialize<'de> for Highlight {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct InOrder;
        impl<'de> serde::de::Visitor<'de> for InOrder {
            type Value = Highlight;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a highlight object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut m: A,
            ) -> Result<Highlight, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = m.next_entry::<String, Vec<String>>()? {
                    out.push((k, v));
                }
                Ok(Highlight(out))
            }
        }
        d.deserialize_map(InOrder)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct CompositeAgg {
    #[serde(default)]
    pub after_key: Option<AfterKey>,
    #[serde(default)]
    pub buckets: Vec<CompositeBucket>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CompositeBucket {
    pub key: AfterKey,
    pub doc_count: u64,
    /// The `first` sub-aggregation (`min` of the timestamp) of sudden_appearance pages;
    /// `None` on terms pages, which have none.
    #[serde(default)]
    pub first: Option<MetricValue>,
    /// The `cardinality` sub-aggregations `c0`..`c3` of a count's lead request
    /// (`plan::partition::LeadPlan`); `None` elsewhere.
    #[serde(default)]
    pub c0: Option<MetricValue>,
    #[serde(default)]
    pub c1: Option<MetricValue>,
    #[serde(default)]
    pub c2: Option<MetricValue>,
    #[serde(default)]
    pub c3: Option<MetricValue>,
}

impl CompositeBucket {
    /// The `cardinality` sub-aggregation `c<i>` (i below [`MAX_CARDINALITIES`]).
    pub fn cardinality(&self, i: usize) -> Option<u64> {
        let c = match i {
            0 => self.c0,
            1 => self.c1,
            2 => self.c2,
            3 => self.c3,
            _ => None,
        };
        c.and_then(|m| m.value).map(|v| v as u64)
    }
}

/// The most `cardinality` sub-aggregations a bucket carries ([`CompositeBucket::cardinality`]).
pub const MAX_CARDINALITIES: usize = 4;

/// A single-value metric aggregation (`min`, `max`, ...): `value` is `None` (JSON
/// `null`) when the bucket has no value. Dates come as epoch milliseconds.
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-aggregations-metrics-min-aggregation.html>
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct MetricValue {
    #[serde(default)]
    pub value: Option<f64>,
}

impl CompositePage {
    /// The `pairs` aggregation; `None` when the response has none (nothing matched).
    pub fn pairs(&self) -> Option<&CompositeAgg> {
        self.aggregations.as_ref().and_then(|a| a.get(PAIRS_AGG))
    }

    /// The `pairs` aggregation, taken out of the page (its buckets move, not copied).
    pub fn into_pairs(self) -> Option<CompositeAgg> {
        self.aggregations.and_then(|mut a| a.remove(PAIRS_AGG))
    }
}

/// The first-events request of sudden_appearance (see
/// `plan::sudden::SuddenPlan::first_events_body`), trimmed by `filter_path`.
#[derive(Debug, Clone, Deserialize)]
pub struct FirstEventsResponse {
    #[serde(default)]
    pub took: u64,
    #[serde(default)]
    pub timed_out: bool,
    #[serde(rename = "_shards", default)]
    pub shards: Shards,
    /// Absent when no document matched the query.
    #[serde(default)]
    pub aggregations: Option<FirstEventsAggs>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FirstEventsAggs {
    /// Bucket `"i"`: finding `i`'s pair in its window.
    pub window: KeyedBuckets<DocCount>,
    /// Bucket `"i"`: finding `i`'s pair at its earliest millisecond, with hits.
    pub first: KeyedBuckets<TiedEvents>,
}

/// The buckets of a keyed `filters` aggregation.
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-aggregations-bucket-filters-aggregation.html>
#[derive(Debug, Clone, Deserialize)]
pub struct KeyedBuckets<B> {
    #[serde(default = "BTreeMap::new")]
    pub buckets: BTreeMap<String, B>,
}

/// A bucket read for its count only.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct DocCount {
    #[serde(default)]
    pub doc_count: u64,
}

/// Events at the earliest timestamp of a finding, some of them as hits.
#[derive(Debug, Clone, Deserialize)]
pub struct TiedEvents {
    #[serde(default)]
    pub doc_count: u64,
    /// Absent when `filter_path` dropped it (no event left at that timestamp).
    #[serde(default)]
    pub event: Option<TopHits>,
}

/// A `top_hits` aggregation.
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-aggregations-metrics-top-hits-aggregation.html>
#[derive(Debug, Clone, Deserialize)]
pub struct TopHits {
    pub hits: Hits,
}

/// A search response used for fetching events (`hits.hits`).
#[derive(Debug, Clone, Deserialize)]
pub struct SearchResponse {
    #[serde(default)]
    pub timed_out: bool,
    #[serde(rename = "_shards", default)]
    pub shards: Shards,
    #[serde(rename = "_scroll_id", default)]
    pub scroll_id: Option<String>,
    pub hits: Hits,
}

/// Elasticsearch's error body: `{"error": {"type", "reason", "root_cause", "caused_by"}, "status"}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorCause,
    #[serde(default)]
    pub status: u16,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ErrorCause {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub root_cause: Vec<ErrorCause>,
    #[serde(default)]
    pub caused_by: Option<Box<ErrorCause>>,
}

impl ErrorCause {
    /// The innermost cause, which usually says what is really wrong.
    pub fn innermost(&self) -> &ErrorCause {
        let mut c = self;
        while let Some(next) = c.caused_by.as_deref() {
            c = next;
        }
        c
    }

    /// `type: reason` of the most telling cause (a root cause when present).
    pub fn summary(&self) -> String {
        let c = self.root_cause.first().unwrap_or(self).innermost();
        let top = self.innermost();
        // The root cause is often generic ("query_shard_exception"); prefer the deepest
        // caused_by when it has a reason.
        let pick = if top.reason.is_some() { top } else { c };
        format!(
            "{}: {}",
            pick.kind,
            pick.reason.as_deref().unwrap_or("(no reason given)")
        )
    }

    /// True when the cause says nothing about the request or the document, only that a
    /// shard or node was away for a moment (see [`TRANSIENT_FAILURES`]).
    pub fn is_transient(&self) -> bool {
        TRANSIENT_FAILURES.iter().any(|t| self.has_type(t)) || self.names_a_departed_node()
    }

    /// A scroll whose node left ends with a bare `illegal_argument_exception` (OpenSearch
    /// 3: "scroll_id references node [..] which was not found in the cluster") or
    /// `illegal_state_exception` (Elasticsearch 7.10: "node [..] is not available"); only
    /// the reason tells them from a bad request.
    fn names_a_departed_node(&self) -> bool {
        let reason = self.reason.as_deref().unwrap_or("");
        let own = matches!(
            self.kind.as_str(),
            "illegal_argument_exception" | "illegal_state_exception"
        ) && ((reason.starts_with("scroll_id references node [")
            && reason.ends_with("] which was not found in the cluster"))
            || (reason.starts_with("node [") && reason.ends_with("] is not available")));
        own || self
            .root_cause
            .iter()
            .any(ErrorCause::names_a_departed_node)
            || self
                .caused_by
                .as_deref()
                .is_some_and(ErrorCause::names_a_departed_node)
    }

    /// True when any cause in the chain has this type.
    pub fn has_type(&self, kind: &str) -> bool {
        self.kind == kind
            || self.root_cause.iter().any(|c| c.has_type(kind))
            || self.caused_by.as_deref().is_some_and(|c| c.has_type(kind))
    }
}

/// Error types of a failure that says nothing about the document, only that a shard or
/// node was away for a moment (a node left or restarted, a scroll context went with it, a
/// queue was full). Sending the same tagging request again is safe (the script makes
/// tagging idempotent; `tag` and `execute` rely on that) and is expected to succeed once
/// the cluster has recovered. `search_phase_execution_exception` is a search that failed
/// on every shard ("all shards failed"): in a tagging task that is its scroll, e.g. when
/// the node holding it left (seen on OpenSearch 2.19); a search that fails for a reason
/// of its own fails again and is reported after the last attempt.
const TRANSIENT_FAILURES: [&str; 15] = [
    "search_phase_execution_exception",
    "search_context_missing_exception",
    "node_disconnected_exception",
    "node_not_connected_exception",
    "node_closed_exception",
    "connect_transport_exception",
    "send_request_transport_exception",
    "receive_timeout_transport_exception",
    "no_shard_available_action_exception",
    "shard_not_found_exception",
    "unavailable_shards_exception",
    "primary_missing_action_exception",
    "illegal_index_shard_state_exception",
    "es_rejected_execution_exception",
    "circuit_breaking_exception",
];

/// `_update_by_query` result (synchronous response, or a task's `response`).
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/docs-update-by-query.html#docs-update-by-query-api-response-body>
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct UpdateByQueryResponse {
    #[serde(default)]
    pub took: u64,
    #[serde(default)]
    pub timed_out: bool,
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub updated: u64,
    #[serde(default)]
    pub noops: u64,
    #[serde(default)]
    pub version_conflicts: u64,
    #[serde(default)]
    pub batches: u64,
    #[serde(default)]
    pub failures: Vec<Value>,
    /// Times `execute` submitted the request again after its task was lost or ended with
    /// a transient error (not part of Elasticsearch's answer).
    #[serde(skip)]
    pub resubmits: u64,
}

/// `GET _tasks/<id>`.
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/tasks.html>
#[derive(Debug, Clone, Deserialize)]
pub struct TaskResponse {
    #[serde(default)]
    pub completed: bool,
    #[serde(default)]
    pub task: Option<TaskInfo>,
    #[serde(default)]
    pub response: Option<UpdateByQueryResponse>,
    #[serde(default)]
    pub error: Option<ErrorCause>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TaskInfo {
    #[serde(default)]
    pub status: Option<TaskStatus>,
}

/// Progress of a running `_update_by_query` task.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TaskStatus {
    #[serde(default)]
    pub total: u64,
    #[serde(default)]
    pub updated: u64,
    #[serde(default)]
    pub noops: u64,
    #[serde(default)]
    pub version_conflicts: u64,
}

/// `_update_by_query?wait_for_completion=false` answer.
#[derive(Debug, Clone, Deserialize)]
pub struct TaskStarted {
    pub task: String,
}

/// One field of a `_field_caps` answer: type name -> capabilities.
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-field-caps.html>
#[derive(Debug, Clone, Deserialize)]
pub struct FieldCapsResponse {
    #[serde(default)]
    pub indices: Vec<String>,
    #[serde(default)]
    pub fields: BTreeMap<String, BTreeMap<String, FieldCap>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct FieldCap {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub aggregatable: bool,
    /// Indices with this type when the type differs between indices.
    #[serde(default)]
    pub indices: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_summary_prefers_the_deepest_cause() {
        let body: ErrorBody = serde_json::from_str(
            r#"{"error":{"root_cause":[{"type":"illegal_argument_exception","reason":"Text fields are not optimised"}],
               "type":"search_phase_execution_exception","reason":"all shards failed",
               "caused_by":{"type":"illegal_argument_exception","reason":"Text fields are not optimised"}},"status":400}"#,
        )
        .unwrap();
        assert_eq!(
            body.error.summary(),
            "illegal_argument_exception: Text fields are not optimised"
        );
        assert!(body.error.has_type("illegal_argument_exception"));
        assert!(!body.error.has_type("too_many_buckets_exception"));
    }

    #[test]
    fn opensearch_is_named_from_distribution() {
        let i: RootInfo =
            serde_json::from_str(r#"{"version":{"number":"2.19.1","distribution":"opensearch"}}"#)
                .unwrap();
        assert_eq!(i.product(), "OpenSearch 2.19.1");
        let e: RootInfo = serde_json::from_str(r#"{"version":{"number":"7.10.2"}}"#).unwrap();
        assert_eq!(e.product(), "Elasticsearch 7.10.2");
    }
}
