//! Stage `tag` (PURE): findings become `_update_by_query` requests that add ee-outliers'
//! `outliers.*` fields and the `outlier` tag to exactly the events of the outlier pairs.
//!
//! Invariants:
//! - one fixed painless source ([`SCRIPT`]); every value travels in `params`;
//! - requests are grouped by aggregator value and chunked under the cluster's limits
//!   ([`Limits`]); the union of the requests' queries selects exactly the findings' events
//!   minus the whitelisted ids;
//! - nothing here does I/O; `execute` sends the requests and polls their tasks.

pub mod simplequery;
pub mod sudden;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::config::{CountMethod, SummaryPart, UseCase};
use crate::evaluate::{join, Finding};
use crate::plan;

/// The painless script. Its source is fixed; see the file for the params it takes.
pub const SCRIPT: &str = include_str!("outliers.painless");

/// The `outliers.*` keys, in the order ee-outliers writes them.
pub const OUTLIER_KEYS: [&str; 11] = [
    "type",
    "reason",
    "summary",
    "model_name",
    "model_type",
    "aggregator",
    "term",
    "term_count",
    "decision_frontier",
    "trigger_method",
    "non_outlier_values_sample",
];

/// Cluster limits that bound one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Boolean clauses per request (`indices.query.bool.max_clause_count`, 1,024 on 7.x
    /// and OpenSearch). A margin is kept for the use case's own filter.
    pub max_clauses: usize,
    /// Values in one `terms` query (`index.max_terms_count`, 65,536 by default).
    pub max_terms: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_clauses: 1024,
            max_terms: 65_536,
        }
    }
}

/// How the summary is written: the same for a whole pair (placeholders name only
/// aggregator and target fields), or filled from each event.
pub fn summary_is_per_pair(uc: &UseCase) -> bool {
    uc.outlier_summary
        .fields()
        .iter()
        .all(|f| uc.aggregator.iter().chain(uc.target.iter()).any(|g| g == f))
}

/// The summary of a finding when its placeholders name only aggregator and target
/// fields; `None` when it must be filled from each event (or for across_aggregators,
/// where target placeholders differ per event).
pub fn pair_summary(uc: &UseCase, f: &Finding) -> Option<String> {
    if !summary_is_per_pair(uc) {
        return None;
    }
    let mut missing = false;
    let s = uc.outlier_summary.fill(|field| {
        if let Some(i) = uc.aggregator.iter().position(|g| g == field) {
            return Some(f.aggregator[i].clone());
        }
        if let Some(i) = uc.target.iter().position(|g| g == field) {
            return match &f.target {
                Some(t) => Some(t[i].clone()),
                None => {
                    missing = true;
                    None
                }
            };
        }
        None
    });
    (!missing).then_some(s)
}

/// The `outliers.*` values of one finding (`summary`/`term` null when filled per event).
pub fn entry(uc: &UseCase, f: &Finding) -> Map<String, Value> {
    let mut e = Map::new();
    e.insert("type".into(), json!(uc.outlier_type));
    e.insert("reason".into(), json!(uc.outlier_reason));
    e.insert("summary".into(), json!(pair_summary(uc, f)));
    e.insert("model_name".into(), json!(uc.model_name));
    e.insert("model_type".into(), json!("terms"));
    e.insert("aggregator".into(), json!(f.aggregator_joined()));
    e.insert("term".into(), json!(f.target_joined()));
    e.insert("term_count".into(), json!(f.term_count));
    e.insert("decision_frontier".into(), json!(f.decision_frontier));
    e.insert("trigger_method".into(), json!(uc.trigger.method.as_str()));
    e.insert(
        "non_outlier_values_sample".into(),
        json!(f.non_outlier_values_sample),
    );
    e
}

/// One `_update_by_query` request: the index pattern, its body, and how many outlier
/// pairs (or aggregators, for across_aggregators) it covers.
#[derive(Debug, Clone, PartialEq)]
pub struct UpdateByQuery {
    pub index: String,
    /// The query of the body: the events this request selects (read again by the check
    /// after tagging).
    pub query: Value,
    pub body: Value,
    pub pairs: usize,
}

/// Source paths of fields: a `.keyword`/`.raw` multi-field is read from its parent in
/// `_source`. `source_paths` maps a field to its `_source` path where they differ.
fn source_path(field: &str, source_paths: &BTreeMap<String, String>) -> String {
    source_paths
        .get(field)
        .cloned()
        .unwrap_or_else(|| field.to_string())
}

/// The summary template as the script's `params.summary_parts`: `{"text": s}` or
/// `{"field": path}`, each field read from `_source` at `path(field)`.
pub fn summary_parts(uc: &UseCase, path: impl Fn(&str) -> String) -> Vec<Value> {
    uc.outlier_summary
        .parts
        .iter()
        .map(|p| match p {
            SummaryPart::Text(t) => json!({ "text": t }),
            SummaryPart::Field(f) => json!({ "field": path(f) }),
        })
        .collect()
}

/// The tagging requests of a use case's findings (sorted by aggregator, as `evaluate`
/// returns them), excluding `whitelisted_ids`.
pub fn requests(
    uc: &UseCase,
    query: &Value,
    findings: &[Finding],
    whitelisted_ids: &[String],
    source_paths: &BTreeMap<String, String>,
    limits: Limits,
) -> Vec<UpdateByQuery> {
    if findings.is_empty() {
        return Vec::new();
    }
    // Clause budget per request, counted as Lucene 9 counts clauses (every query of the
    // tree; Lucene 8's per-bool count is then bounded too): a quarter of the limit is kept
    // for the use case's own filter and the whitelisted ids.
    let budget = limits.max_clauses * 3 / 4;
    let max_terms = limits.max_terms.clamp(1, 65_536);
    // The clauses of one aggregator group's clause holding `piece` (see
    // `plan::pair_clauses`): a `term` per aggregator field, plus one `terms` over the
    // targets (one target field) or a `term` per target field of each finding (several
    // target fields), or nothing (across_aggregators: no target).
    let cost = |piece: &[Finding]| {
        uc.aggregator.len()
            + match (&piece[0].target, uc.target.len()) {
                (None, _) => 0,
                (Some(_), 1) => 1,
                (Some(_), n) => piece.len() * n,
            }
    };
    // The most findings of one group that one request holds: the terms limit for one
    // target field, else as many as the clause budget takes (at least one).
    let piece_len = match uc.target.len() {
        1 => max_terms,
        n => (budget.saturating_sub(uc.aggregator.len()) / n).clamp(1, max_terms),
    };

    // Chunk findings: whole aggregator groups while they fit, splitting a group that alone
    // exceeds the terms or clause budget. A piece that fits no request (a limit below one
    // finding's clauses) goes alone.
    let mut chunks: Vec<Vec<Finding>> = Vec::new();
    let mut cur: Vec<Finding> = Vec::new();
    let mut cur_clauses = 0usize;
    for group in findings.chunk_by(|a, b| a.aggregator == b.aggregator) {
        for piece in group.chunks(piece_len) {
            let clauses = cost(piece);
            if !cur.is_empty()
                && (cur_clauses + clauses > budget || cur.len() + piece.len() > max_terms)
            {
                chunks.push(std::mem::take(&mut cur));
                cur_clauses = 0;
            }
            cur.extend_from_slice(piece);
            cur_clauses += clauses;
        }
    }
    if !cur.is_empty() {
        chunks.push(cur);
    }

    let any_target = uc.count_method == CountMethod::AcrossAggregators;
    let summary_parts = summary_parts(uc, |f| source_path(f, source_paths));
    let agg_fields: Vec<String> = uc
        .aggregator
        .iter()
        .map(|f| source_path(f, source_paths))
        .collect();
    let target_fields: Vec<String> = uc
        .target
        .iter()
        .map(|f| source_path(f, source_paths))
        .collect();

    chunks
        .into_iter()
        .map(|chunk| {
            let clauses = plan::pair_clauses(uc, &chunk);
            let mut entries: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
            for f in &chunk {
                let key = f.target.as_deref().map(join).unwrap_or_default();
                entries
                    .entry(f.aggregator_joined())
                    .or_default()
                    .insert(key, Value::Object(entry(uc, f)));
            }
            let selected = plan::restrict(query, &clauses, whitelisted_ids);
            let body = json!({
                "query": selected,
                "script": {
                    "lang": "painless",
                    "source": SCRIPT,
                    "params": {
                        "agg_fields": agg_fields,
                        "target_fields": target_fields,
                        "any_target": any_target,
                        "entries": entries,
                        "summary_parts": summary_parts,
                        "keys": OUTLIER_KEYS,
                    }
                }
            });
            UpdateByQuery {
                index: uc.index_pattern.clone(),
                query: selected,
                body,
                pairs: chunk.len(),
            }
        })
        .collect()
}

/// The painless script that removes entries. Its source is fixed; see the file.
pub const UNTAG_SCRIPT: &str = include_str!("untag.painless");

/// Which entries an untag request removes.
#[derive(Debug, Clone, PartialEq)]
pub enum Removal {
    /// Every entry of these model names (`outliers.model_name`).
    Models(Vec<String>),
    /// Every entry, whatever its model.
    All,
    /// Exactly these entries: document id -> summaries (entries a whitelist now covers).
    Entries(BTreeMap<String, Vec<String>>),
}

/// An `_update_by_query` that removes entries from the events matching `query` (which
/// should select events carrying `outliers`).
pub fn untag_request(index: &str, query: &Value, removal: &Removal) -> UpdateByQuery {
    let (model_names, by_id, query) = match removal {
        Removal::Models(names) => (json!(names), Value::Null, query.clone()),
        Removal::All => (Value::Null, Value::Null, query.clone()),
        Removal::Entries(map) => {
            let ids: Vec<&String> = map.keys().collect();
            (
                Value::Null,
                json!(map),
                json!({ "bool": { "filter": [ query, { "ids": { "values": ids } } ] } }),
            )
        }
    };
    let body = json!({
        "query": query,
        "script": {
            "lang": "painless",
            "source": UNTAG_SCRIPT,
            "params": { "model_names": model_names, "summaries_by_id": by_id }
        }
    });
    UpdateByQuery {
        index: index.to_string(),
        query,
        body,
        pairs: 0,
    }
}

/// Selects events that carry outlier entries, optionally only inside a time range
/// `(timestamp_field, gte, lt)`.
pub fn tagged_events_query(range: Option<(&str, &str, &str)>) -> Value {
    let mut filter = vec![json!({ "exists": { "field": "outliers.summary" } })];
    if let Some((field, gte, lt)) = range {
        filter.push(json!({ "range": { field: { "gte": gte, "lt": lt, "format": "strict_date_optional_time" } } }));
    }
    json!({ "bool": { "filter": filter } })
}

/// Why an event that a tagging request selected does not carry the entry of the use case
/// `model_name` after tagging (`source` holds at least its `outliers` field), or `None`
/// when it does.
pub fn missing_entry(source: &Value, model_name: &str) -> Option<&'static str> {
    let Some(outliers) = source.get("outliers") else {
        return Some("not tagged");
    };
    let Some(map) = outliers.as_object() else {
        return Some("its outliers field is not an object; left unchanged");
    };
    let has = match map.get("model_name") {
        Some(Value::Array(names)) => names.iter().any(|n| n.as_str() == Some(model_name)),
        Some(Value::String(name)) => name == model_name,
        _ => false,
    };
    if has {
        None
    } else if map.get("summary").is_some_and(|m| !m.is_array()) {
        Some("its outliers.summary is not a list; left unchanged")
    } else if map
        .get("model_name")
        .is_some_and(|m| !m.is_array() && !m.is_string())
    {
        Some("its outliers.model_name is neither a list nor a string; left unchanged")
    } else {
        Some("does not carry this use case's entry")
    }
}

/// One entry of an `_update_by_query` task's `failures`: a search failure (the scroll over
/// a shard: `index`, `shard`, `node`, `reason`) or a bulk failure (one document: `index`,
/// `id`, `cause`, `status`).
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/docs-update-by-query.html#docs-update-by-query-api-response-body>
#[derive(Debug, Clone)]
pub struct TaskFailure {
    pub index: Option<String>,
    /// The document, for a bulk failure.
    pub id: Option<String>,
    /// The shard, for a search failure.
    pub shard: Option<i64>,
    pub node: Option<String>,
    pub status: Option<u64>,
    pub cause: Option<crate::es::ErrorCause>,
    pub raw: Value,
}

impl TaskFailure {
    pub fn parse(f: &Value) -> TaskFailure {
        let s = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_string);
        let cause = ["cause", "reason"]
            .iter()
            .filter_map(|k| f.get(*k))
            .find(|c| c.is_object())
            .and_then(|c| serde_json::from_value(c.clone()).ok());
        TaskFailure {
            index: s("index"),
            id: s("id"),
            shard: f.get("shard").and_then(Value::as_i64),
            node: s("node"),
            status: f.get("status").and_then(Value::as_u64),
            cause,
            raw: f.clone(),
        }
    }

    /// True when sending the same request again is expected to succeed (see
    /// [`crate::es::ErrorCause::is_transient`]); a failure of the document itself (4xx: a
    /// mapping conflict, a script error) is not, a document failure with 429 or 5xx (the
    /// primary away, a full queue) is.
    ///
    /// Every search failure (the task's scroll over a shard: no document named) counts as
    /// transient: the request is idempotent, so sending it again can only help, and the
    /// ways a departing node breaks a scroll differ between versions and are many. A
    /// search failure that is really deterministic comes back on every pass and is
    /// reported after the last one.
    pub fn is_transient(&self) -> bool {
        self.id.is_none()
            || matches!(self.status, Some(429 | 500..=599))
            || self
                .cause
                .as_ref()
                .is_some_and(crate::es::ErrorCause::is_transient)
    }

    /// `index (document id): type: reason` or `index (shard n on node x): type: reason`.
    pub fn describe(&self) -> String {
        let index = self.index.as_deref().unwrap_or("(index not given)");
        let what = match (&self.id, self.shard) {
            (Some(id), _) => format!("document {id}"),
            (None, Some(s)) if s >= 0 => match &self.node {
                Some(n) => format!("shard {s} on node {n}"),
                None => format!("shard {s}"),
            },
            _ => match &self.node {
                Some(n) => format!("search on node {n}"),
                None => "search".to_string(),
            },
        };
        let cause = self
            .cause
            .as_ref()
            .map(|c| c.summary())
            .unwrap_or_else(|| self.raw.to_string());
        format!("{index} ({what}): {cause}")
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod failure_tests {
    use super::{missing_entry, TaskFailure};
    use serde_json::json;

    #[test]
    fn missing_entry_says_why_an_event_lacks_the_use_cases_entry() {
        let tagged = json!({ "outliers": { "model_name": ["other", "terms_rare"] } });
        assert_eq!(missing_entry(&tagged, "terms_rare"), None);
        assert_eq!(
            missing_entry(
                &json!({ "outliers": { "model_name": "terms_rare" } }),
                "terms_rare"
            ),
            None
        );
        assert_eq!(
            missing_entry(&tagged, "terms_new"),
            Some("does not carry this use case's entry")
        );
        assert_eq!(missing_entry(&json!({}), "terms_rare"), Some("not tagged"));
        assert_eq!(
            missing_entry(&json!({ "outliers": { "summary": "old" } }), "terms_rare"),
            Some("its outliers.summary is not a list; left unchanged")
        );
        assert_eq!(
            missing_entry(&json!({ "outliers": "legacy" }), "terms_rare"),
            Some("its outliers field is not an object; left unchanged")
        );
        assert_eq!(
            missing_entry(&json!({ "outliers": { "model_name": 7 } }), "terms_rare"),
            Some("its outliers.model_name is neither a list nor a string; left unchanged")
        );
    }

    #[test]
    fn a_lost_scroll_context_is_transient_and_named_as_a_search_failure() {
        // As a 7.10.2 node reported it when a node holding shards was stopped mid-task.
        let f = TaskFailure::parse(&json!({
            "shard": -1, "status": 404,
            "reason": { "type": "search_context_missing_exception", "reason": "No search context found for id [4]" }
        }));
        assert!(f.is_transient());
        assert!(f.cause.as_ref().unwrap().is_transient(), "by its type too");
        assert_eq!(
            f.describe(),
            "(index not given) (search): search_context_missing_exception: No search context found for id [4]"
        );
    }

    #[test]
    fn a_script_error_on_a_document_is_not_transient() {
        let f = TaskFailure::parse(&json!({
            "index": "logs", "id": "e1", "status": 400,
            "cause": { "type": "script_exception", "reason": "runtime error",
                       "caused_by": { "type": "class_cast_exception", "reason": "String cannot be cast to Map" } }
        }));
        assert!(!f.is_transient());
        assert_eq!(
            f.describe(),
            "logs (document e1): class_cast_exception: String cannot be cast to Map"
        );
    }

    #[test]
    fn a_rejected_bulk_item_and_a_node_gone_under_a_cause_are_transient() {
        let rejected = TaskFailure::parse(&json!({
            "index": "logs", "id": "e2", "status": 429,
            "cause": { "type": "es_rejected_execution_exception", "reason": "queue full" }
        }));
        assert!(rejected.is_transient());
        let nested = TaskFailure::parse(&json!({
            "index": "logs", "shard": 2, "node": "n3",
            "reason": { "type": "transport_exception", "reason": "x",
                        "caused_by": { "type": "node_disconnected_exception", "reason": "disconnected" } }
        }));
        assert!(nested.is_transient());
        assert!(nested.describe().starts_with("logs (shard 2 on node n3): "));
        // As OpenSearch 3.8.0 ended a task whose scroll lived on a node that was stopped.
        let departed = TaskFailure::parse(&json!({
            "index": "logs", "shard": -1,
            "reason": { "type": "illegal_argument_exception",
                        "reason": "scroll_id references node [Cl6TEFbaRrW_rENMTAwycA] which was not found in the cluster" }
        }));
        assert!(departed.is_transient());
        // A search failure is transient whatever its cause; as the error of a whole task
        // only the departed-node message makes it so.
        assert!(
            departed.cause.as_ref().unwrap().is_transient(),
            "also as a task's error"
        );
        let bad_arg = TaskFailure::parse(&json!({
            "index": "logs", "shard": 0,
            "reason": { "type": "illegal_argument_exception", "reason": "no such field [x]" }
        }));
        assert!(bad_arg.is_transient(), "a search failure is sent again");
        assert!(
            !bad_arg.cause.as_ref().unwrap().is_transient(),
            "not as a task's error"
        );
        // As Elasticsearch 7.10.2 reported the scroll of a node that was stopped.
        let gone = TaskFailure::parse(&json!({
            "shard": -1,
            "reason": { "type": "illegal_state_exception", "reason": "node [eDo0gycKS3WBcJF1wJ9xYg] is not available" }
        }));
        assert!(gone.is_transient());
        assert!(
            gone.cause.as_ref().unwrap().is_transient(),
            "also as a task's error"
        );
        // As OpenSearch 2.19.1 ended a task whose scroll's node was stopped: the error
        // of the whole task, not an entry of `failures`.
        let all_shards: crate::es::ErrorCause = serde_json::from_value(json!({
            "type": "search_phase_execution_exception", "reason": "all shards failed"
        }))
        .unwrap();
        assert!(all_shards.is_transient(), "a task's error: submitted again");
        let primary_away = TaskFailure::parse(&json!({
            "index": "logs", "id": "e4", "status": 500,
            "cause": { "type": "transport_exception", "reason": "primary shard is not active" }
        }));
        assert!(primary_away.is_transient());
        let bad_doc = TaskFailure::parse(&json!({
            "index": "logs", "id": "e3", "status": 400,
            "cause": { "type": "illegal_state_exception", "reason": "something else" }
        }));
        assert!(!bad_doc.is_transient());
    }
}
