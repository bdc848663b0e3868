//! Stage `tag` (PURE): findings become `_update_by_query` requests that add ee-outliers
//! 0.2.17's `outliers.*` fields and the `outlier` tag to exactly the events of the outlier
//! pairs.
//!
//! Invariants:
//! - one fixed painless source ([`SCRIPT`]); every value travels in `params`;
//! - every entry is built here ([`entry`]: placeholders, `str()`, `textwrap`, splits),
//!   never in the script: per outlier pair when the placeholders name only the outlier's
//!   own information ([`requests`], grouped by aggregator value and chunked under the
//!   cluster's limits, [`Limits`]), else per event ([`requests_by_id`]); the union of
//!   the requests' queries selects exactly the findings' events minus the whitelisted ids;
//! - each request says what the check after tagging must find ([`EntryCheck`]);
//! - nothing here does I/O; `execute` sends the requests and polls their tasks.

pub mod simplequery;
pub mod sudden;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::config::{CountMethod, SummaryPart, UseCase};
use crate::evaluate::placeholder::{self, Info};
use crate::evaluate::pystr::textwrap_fill;
use crate::evaluate::{join, Finding};
use crate::plan;

/// The painless script. Its source is fixed; see the file for the params it takes.
pub const SCRIPT: &str = include_str!("outliers.painless");

/// The `outliers.*` keys of a terms entry that every use case writes, in the order
/// ee-outliers writes them (`elasticsearch_filter` and copied keys come after `summary`
/// when the use case has them; see [`entry_keys`]). Also the keys housekeeping reads.
pub const OUTLIER_KEYS: [&str; 12] = [
    "type",
    "reason",
    "summary",
    "elasticsearch_filter",
    "model_name",
    "model_type",
    "aggregator",
    "term",
    "term_count",
    "decision_frontier",
    "trigger_method",
    "non_outlier_values_sample",
];

/// The outlier's own information a terms placeholder can name (ee-outliers'
/// `extra_outlier_information` plus `model_name` / `model_type`).
pub const INFO_KEYS: [&str; 8] = [
    "non_outlier_values_sample",
    "term_count",
    "aggregator",
    "term",
    "decision_frontier",
    "trigger_method",
    "model_name",
    "model_type",
];

/// Keys whose value is a list that ee-outliers splices into the key's array (one element
/// per item; an empty list adds nothing) instead of adding it as one element.
pub const EXTEND: [&str; 4] = ["type", "reason", "non_outlier_values_sample", "assets"];

/// Width ee-outliers hard-wraps summaries at (`helpers/outlier.py`, `textwrap.fill`).
pub const SUMMARY_WIDTH: usize = 150;

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

/// `non_outlier_values_sample` as ee-outliers writes it: one `","`-joined string, or an
/// empty list (which adds nothing to the key's array) when there is none.
pub fn sample_value(f: &Finding) -> Value {
    if f.non_outlier_values_sample.is_empty() {
        json!([])
    } else {
        json!(f.non_outlier_values_sample.join(","))
    }
}

/// The outlier's own information of finding `f` for an event whose target is `term`
/// (`None`: not known without the event, across_aggregators), in ee-outliers' order.
pub fn info(uc: &UseCase, f: &Finding, term: Option<&str>) -> Info {
    let mut i = Info::new();
    i.insert("non_outlier_values_sample".into(), sample_value(f));
    i.insert("term_count".into(), json!(f.term_count));
    i.insert("aggregator".into(), json!(f.aggregator_joined()));
    i.insert("term".into(), json!(term));
    i.insert("decision_frontier".into(), json!(f.decision_frontier));
    i.insert("trigger_method".into(), json!(uc.trigger.method.as_str()));
    i.insert("model_name".into(), json!(uc.model_name));
    i.insert("model_type".into(), json!("terms"));
    i
}

/// The texts whose placeholders are filled: summary, type, reason.
fn templates(uc: &UseCase) -> [&str; 3] {
    [
        uc.outlier_summary.raw.as_str(),
        uc.outlier_type.as_str(),
        uc.outlier_reason.as_str(),
    ]
}

/// True when filling the use case's texts needs each event: a placeholder names an event
/// field (aggregator and target fields included: a list-valued field is written whole,
/// which the pair's value is not), or `{term}` under across_aggregators (each event's own
/// target). Otherwise every event of a finding gets the same entry.
pub fn needs_event(uc: &UseCase) -> bool {
    let across = uc.count_method == CountMethod::AcrossAggregators;
    templates(uc)
        .iter()
        .flat_map(|t| placeholder::names(t))
        .any(|n| {
            !placeholder::is_info(&n, &INFO_KEYS) || (across && n.eq_ignore_ascii_case("term"))
        })
}

/// The placeholder names of the use case's texts that name event fields.
pub fn event_placeholders(uc: &UseCase) -> Vec<String> {
    let mut out: Vec<String> = templates(uc)
        .iter()
        .flat_map(|t| placeholder::names(t))
        .filter(|n| !placeholder::is_info(n, &INFO_KEYS))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The keys of a terms entry, in ee-outliers' order (see [`entry`]).
pub fn entry_keys(uc: &UseCase) -> Vec<String> {
    let mut k: Vec<String> = vec!["type".into(), "reason".into(), "summary".into()];
    if !uc.elasticsearch_filter.is_empty() {
        k.push("elasticsearch_filter".into());
    }
    k.extend(uc.copied.iter().map(|(key, _)| key.clone()));
    k.extend(INFO_KEYS.iter().rev().take(2).rev().map(|s| s.to_string()));
    k.extend(INFO_KEYS[..6].iter().map(|s| s.to_string()));
    k
}

/// The `outliers.*` values of finding `f` on an event whose `_source` is `event` (`{}`
/// when no placeholder names an event field, see [`needs_event`]) and whose target is
/// `term` (`None`: filled by the script from the event, across_aggregators):
/// - `type`, `reason`: placeholders filled, split on `,`, each part stripped;
/// - `summary`: placeholders filled ([`placeholder::fill`]), hard-wrapped at 150 columns
///   ([`textwrap_fill`]);
/// - `elasticsearch_filter` (when the use case has a filter) and the copied keys;
/// - `model_name`, `model_type`, `aggregator`, `term`, `term_count`, `decision_frontier`,
///   `trigger_method`, `non_outlier_values_sample` ([`sample_value`]).
pub fn entry(uc: &UseCase, f: &Finding, term: Option<&str>, event: &Value) -> Map<String, Value> {
    let info = info(uc, f, term);
    let fill = |t: &str| placeholder::fill(t, event, &info);
    let mut e = Map::new();
    e.insert(
        "type".into(),
        json!(simplequery::split_list(&fill(&uc.outlier_type))),
    );
    e.insert(
        "reason".into(),
        json!(simplequery::split_list(&fill(&uc.outlier_reason))),
    );
    e.insert(
        "summary".into(),
        json!(textwrap_fill(&fill(&uc.outlier_summary.raw), SUMMARY_WIDTH)),
    );
    if !uc.elasticsearch_filter.is_empty() {
        e.insert(
            "elasticsearch_filter".into(),
            json!(uc.elasticsearch_filter),
        );
    }
    for (k, v) in &uc.copied {
        e.insert(k.clone(), json!(v));
    }
    for k in ["model_name", "model_type"] {
        e.insert(k.into(), info[k].clone());
    }
    for k in &INFO_KEYS[..6] {
        e.insert((*k).into(), info[*k].clone());
    }
    e
}

/// What the check after tagging looks for on each event a request selects.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryCheck {
    /// An entry of this model name (the summary is filled by the script, unknown here).
    ModelName(String),
    /// One of these summaries (the request's entries: every selected event belongs to
    /// one of its findings).
    AnySummary(BTreeSet<String>),
    /// Document id -> the summaries that event must carry.
    ById(BTreeMap<String, Vec<String>>),
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
    /// What the check after tagging expects on the selected events.
    pub check: EntryCheck,
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

/// The tagging requests of a use case whose entries are the same for every event of an
/// outlier pair (see [`needs_event`]; the others are tagged by [`requests_by_id`], and
/// here only shown as an example with each event placeholder as `<name>`).
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
    // For a use case whose entries need each event (`needs_event`), `run` tags with
    // `requests_by_id`; here such an entry is only an example (for `plan`), each event
    // placeholder shown as `<name>`.
    let no_event: Value = Value::Object(
        event_placeholders(uc)
            .into_iter()
            .map(|n| (n.clone(), json!(format!("<{n}>"))))
            .collect(),
    );

    chunks
        .into_iter()
        .map(|chunk| {
            let clauses = plan::pair_clauses(uc, &chunk);
            let mut entries: BTreeMap<String, BTreeMap<String, Value>> = BTreeMap::new();
            let mut summaries = BTreeSet::new();
            for f in &chunk {
                let key = f.target.as_deref().map(join).unwrap_or_default();
                let e = entry(uc, f, f.target_joined().as_deref(), &no_event);
                if let Some(s) = e["summary"].as_str() {
                    summaries.insert(s.to_string());
                }
                entries
                    .entry(f.aggregator_joined())
                    .or_default()
                    .insert(key, Value::Object(e));
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
                        "keys": entry_keys(uc),
                        "extend": EXTEND,
                    }
                }
            });
            UpdateByQuery {
                index: uc.index_pattern.clone(),
                query: selected,
                body,
                pairs: chunk.len(),
                check: EntryCheck::AnySummary(summaries),
            }
        })
        .collect()
}

/// Document ids per request when entries go by id.
pub const IDS_PER_REQUEST: usize = 10_000;

/// The tagging requests when each event has its own entries (placeholders name event
/// fields, see [`needs_event`]): `by_id` maps a document id to its entries, in the order
/// they are added; the script adds an entry unless the event already carries its
/// summary. Each request selects `query` restricted to its ids.
pub fn requests_by_id(
    uc: &UseCase,
    query: &Value,
    by_id: &BTreeMap<String, Vec<Map<String, Value>>>,
) -> Vec<UpdateByQuery> {
    let all: Vec<(&String, &Vec<Map<String, Value>>)> = by_id.iter().collect();
    all.chunks(IDS_PER_REQUEST)
        .map(|chunk| {
            let ids: Vec<&String> = chunk.iter().map(|(id, _)| *id).collect();
            let selected = json!({ "bool": { "filter": [ query, { "ids": { "values": ids } } ] } });
            let check: BTreeMap<String, Vec<String>> = chunk
                .iter()
                .map(|(id, es)| {
                    let s = es
                        .iter()
                        .filter_map(|e| e.get("summary").and_then(Value::as_str))
                        .map(str::to_string)
                        .collect();
                    ((*id).clone(), s)
                })
                .collect();
            let entries: Map<String, Value> = chunk
                .iter()
                .map(|(id, es)| ((*id).clone(), json!(es)))
                .collect();
            let body = json!({
                "query": selected,
                "script": {
                    "lang": "painless",
                    "source": SCRIPT,
                    "params": {
                        "mode": "ids",
                        "by_id": entries,
                        "keys": entry_keys(uc),
                        "extend": EXTEND,
                    }
                }
            });
            UpdateByQuery {
                index: uc.index_pattern.clone(),
                query: selected,
                body,
                pairs: chunk.len(),
                check: EntryCheck::ById(check),
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
        check: EntryCheck::AnySummary(BTreeSet::new()),
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

/// Why the event `id` that a tagging request selected does not carry the entry `check`
/// expects after tagging (`source` holds at least its `outliers` field), or `None` when
/// it does. An entry is recognised by its summary where the summary is known (an event
/// that another use case, or ee-outliers, tagged with the same summary carries it: the
/// script left it unchanged), else by `model_name`.
pub fn missing_entry(source: &Value, id: &str, check: &EntryCheck) -> Option<&'static str> {
    let Some(outliers) = source.get("outliers") else {
        return Some("not tagged");
    };
    let Some(map) = outliers.as_object() else {
        return Some("its outliers field is not an object; left unchanged");
    };
    let has_string = |key: &str, wanted: &dyn Fn(&str) -> bool| match map.get(key) {
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).any(wanted),
        Some(Value::String(s)) => wanted(s),
        _ => false,
    };
    let has = match check {
        EntryCheck::ModelName(name) => has_string("model_name", &|n| n == name),
        EntryCheck::AnySummary(set) => has_string("summary", &|s| set.contains(s)),
        EntryCheck::ById(by_id) => match by_id.get(id) {
            Some(wanted) => wanted
                .iter()
                .all(|w| has_string("summary", &|s| s == w.as_str())),
            None => true,
        },
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
mod tests_entry;

#[cfg(test)]
mod failure_tests {
    use super::{missing_entry, EntryCheck, TaskFailure};
    use serde_json::json;

    #[test]
    fn missing_entry_says_why_an_event_lacks_the_use_cases_entry() {
        let by_name = |n: &str| EntryCheck::ModelName(n.to_string());
        let tagged = json!({ "outliers": { "model_name": ["other", "terms_rare"] } });
        assert_eq!(missing_entry(&tagged, "e", &by_name("terms_rare")), None);
        assert_eq!(
            missing_entry(
                &json!({ "outliers": { "model_name": "terms_rare" } }),
                "e",
                &by_name("terms_rare")
            ),
            None
        );
        assert_eq!(
            missing_entry(&tagged, "e", &by_name("terms_new")),
            Some("does not carry this use case's entry")
        );
        assert_eq!(
            missing_entry(&json!({}), "e", &by_name("terms_rare")),
            Some("not tagged")
        );
        assert_eq!(
            missing_entry(
                &json!({ "outliers": { "summary": "old" } }),
                "e",
                &by_name("terms_rare")
            ),
            Some("its outliers.summary is not a list; left unchanged")
        );
        assert_eq!(
            missing_entry(
                &json!({ "outliers": "legacy" }),
                "e",
                &by_name("terms_rare")
            ),
            Some("its outliers field is not an object; left unchanged")
        );
        assert_eq!(
            missing_entry(
                &json!({ "outliers": { "model_name": 7 } }),
                "e",
                &by_name("terms_rare")
            ),
            Some("its outliers.model_name is neither a list nor a string; left unchanged")
        );
    }

    #[test]
    fn an_entry_is_recognised_by_its_summary_whoever_wrote_it() {
        // Another use case (or ee-outliers) wrote the same summary first: the script left
        // the event unchanged, and the check must accept it (issue 17, item 12).
        let ev = json!({ "outliers": { "model_name": ["first_use_case"], "summary": ["rare x for y"] } });
        let any = EntryCheck::AnySummary(["rare x for y".to_string()].into());
        assert_eq!(missing_entry(&ev, "e1", &any), None);
        let by_id = EntryCheck::ById([("e1".to_string(), vec!["rare x for y".to_string()])].into());
        assert_eq!(missing_entry(&ev, "e1", &by_id), None);
        let other = EntryCheck::ById([("e1".to_string(), vec!["other".to_string()])].into());
        assert_eq!(
            missing_entry(&ev, "e1", &other),
            Some("does not carry this use case's entry")
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
