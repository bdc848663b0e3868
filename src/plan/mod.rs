//! Stage `plan` (PURE): a validated [`UseCase`] and a [`TimeWindow`] become the exact
//! request bodies esoutliers sends. No I/O and no clock: the window is an argument, so
//! every body is deterministic and snapshot-tested (`snapshots/`).
//!
//! Invariant: values that come from data (field values of outlier pairs, whitelisted ids)
//! only ever appear as structured JSON (`term`, `terms`, `ids` queries), never inside a
//! query string or a script source.

pub mod metrics;
pub mod partition;
pub mod review;
pub mod simplequery;

use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

use crate::config::{Filter, UseCase};
use crate::es::{AfterKey, CompositeBucket, PAIRS_AGG};
use crate::evaluate::{Finding, Observation};

pub mod sudden;

/// Default composite page size when the cluster's `search.max_buckets` is not known
/// (the limit on Elasticsearch 7.0-7.8); `run` raises it to the cluster's own limit.
pub const DEFAULT_PAGE_SIZE: u32 = 10_000;

/// The detection window `[start, end]` (closed, as ee-outliers' range), computed once per
/// run in `app`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeWindow {
    pub start: OffsetDateTime,
    pub end: OffsetDateTime,
}

impl TimeWindow {
    /// The window of `hours` hours that ends at `end`.
    pub fn ending_at(end: OffsetDateTime, hours: u64) -> TimeWindow {
        TimeWindow {
            start: end - Duration::hours(hours as i64),
            end,
        }
    }

    /// Absolute RFC 3339 timestamps (UTC, milliseconds): absolute, so requests are cacheable.
    pub fn bounds(&self) -> (String, String) {
        (rfc3339(self.start), rfc3339(self.end))
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// The first request of a scroll over the events of `query`, in `_doc` order, `size` per
/// page; `source`: the `_source` fields to return (`None`: whole events).
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/paginate-search-results.html#scroll-search-results>
pub fn scan_body(query: &Value, size: u32, source: Option<&[String]>) -> Value {
    let mut body = json!({ "size": size, "query": query, "sort": ["_doc"] });
    if let Some(fields) = source {
        body["_source"] = json!(fields);
    }
    body
}

/// URL parameters of `_field_caps` for `fields` (indices that are missing or closed are
/// skipped, a pattern matching nothing is not an error: the caller reports it).
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-field-caps.html>
pub fn field_caps_params(fields: &[String]) -> Vec<(&'static str, String)> {
    vec![
        ("fields", fields.join(",")),
        ("ignore_unavailable", "true".into()),
        ("allow_no_indices", "true".into()),
    ]
}

/// URL parameters of the cluster-state request that lists the indices of a pattern with
/// their state (`open`, `close`), hidden indices left out; a pattern that matches nothing
/// is an empty answer, not an error.
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/cluster-state.html>
pub fn index_states_params() -> Vec<(&'static str, String)> {
    vec![
        ("expand_wildcards", "open,closed".into()),
        ("ignore_unavailable", "true".into()),
        ("allow_no_indices", "true".into()),
        ("filter_path", "metadata.indices.*.state".into()),
    ]
}

/// The fields of the index check's `_field_caps`: `_id` (in every index, so the answer's
/// `indices` are all the indices the user can read) and the timestamp field.
pub fn index_check_fields(timestamp_field: &str) -> Vec<String> {
    vec!["_id".to_string(), timestamp_field.to_string()]
}

/// URL parameters of the first request of a scroll: the context lives 2 minutes between
/// pages; partial results are refused.
pub fn scan_params() -> Vec<(&'static str, String)> {
    vec![
        ("scroll", "2m".into()),
        ("allow_partial_search_results", "false".into()),
    ]
}

/// One request as `plan` prints it: what it is for, method, path, URL parameters, body.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Printed {
    pub request: String,
    pub method: &'static str,
    pub path: String,
    pub params: std::collections::BTreeMap<String, String>,
    pub body: Value,
}

impl Printed {
    pub fn new(
        request: impl Into<String>,
        method: &'static str,
        path: String,
        params: Vec<(&'static str, String)>,
        body: Value,
    ) -> Printed {
        Printed {
            request: request.into(),
            method,
            path,
            params: params
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            body,
        }
    }
}

/// One source of the composite aggregation: `a0..` for aggregator fields, `t0..` for target fields.
#[derive(Debug, Clone, PartialEq)]
pub struct Source {
    pub name: String,
    pub field: String,
    /// `None`: a `terms` source on `field`'s doc values. Some: a `terms` source over this
    /// script (a whole `script` object) instead, which reads `field` its own way (metrics:
    /// from `_source`, see `plan::metrics`).
    pub script: Option<Value>,
}

/// Everything needed to page through the counts of one use case.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPlan {
    pub use_case: String,
    /// The index pattern, as configured.
    pub index: String,
    /// The filter shared by counting, event fetching and tagging.
    pub query: Value,
    pub sources: Vec<Source>,
    pub aggregator_len: usize,
    pub page_size: u32,
    /// A fixed `preference`, so pages hit the same shard copies (and their caches).
    pub preference: String,
}

/// A composite aggregation paged with `after_key`: what `pipeline::count::pages` and
/// `Cluster::composite_page` need of a counting plan, whatever the model ([`SearchPlan`]
/// for terms, [`sudden::SuddenPlan`] for sudden_appearance). Every page answers with the
/// composite aggregation [`PAIRS_AGG`].
pub trait PageRequest {
    /// The use case's name, for messages.
    fn use_case(&self) -> &str;
    /// The index pattern the pages are read from.
    fn index(&self) -> &str;
    /// Buckets per page.
    fn page_size(&self) -> u32;
    /// Changes the buckets per page (halved when the cluster refuses a page).
    fn set_page_size(&mut self, size: u32);
    /// The query every page filters on.
    fn query(&self) -> &Value;
    /// Replaces it (a partition narrows it to a range of the lead field).
    fn set_query(&mut self, query: Value);
    /// The name and field of each composite source in order; no field for a source that
    /// is not a `terms` source on a field (a script, a date histogram).
    fn source_fields(&self) -> Vec<(String, Option<String>)>;
    /// At most how many buckets a source without a field (a date histogram) gives per
    /// combination of the others; `None` when unknown (a script).
    fn time_buckets(&self) -> Option<u64> {
        None
    }
    /// Body of the page after `after` (`None`: the first page).
    fn page_body(&self, after: Option<&AfterKey>) -> Value;
    /// URL parameters of every page.
    fn page_params(&self) -> Vec<(&'static str, String)>;
}

impl PageRequest for SearchPlan {
    fn use_case(&self) -> &str {
        &self.use_case
    }
    fn index(&self) -> &str {
        &self.index
    }
    fn page_size(&self) -> u32 {
        self.page_size
    }
    fn set_page_size(&mut self, size: u32) {
        self.page_size = size;
    }
    fn query(&self) -> &Value {
        &self.query
    }
    fn set_query(&mut self, query: Value) {
        self.query = query;
    }
    fn source_fields(&self) -> Vec<(String, Option<String>)> {
        self.sources
            .iter()
            .map(|s| (s.name.clone(), s.script.is_none().then(|| s.field.clone())))
            .collect()
    }
    fn page_body(&self, after: Option<&AfterKey>) -> Value {
        SearchPlan::page_body(self, after)
    }
    fn page_params(&self) -> Vec<(&'static str, String)> {
        SearchPlan::page_params(self)
    }
}

/// The use case's filter: its own query, the time range, and `exists` on every field.
/// The range is closed (`gte`/`lte`), as ee-outliers 0.2.17's (`es.py` `get_time_filter`):
/// an event stamped exactly at the run's end is in the window.
pub fn filter_query(uc: &UseCase, window: TimeWindow) -> Value {
    filter_query_on(uc, window, uc.fields())
}

/// The use case's filter with `exists` on the `exists` fields only (metrics leaves out its
/// target: a keyword value longer than `ignore_above` is not indexed, so `exists` is false
/// for it, yet the event counts).
pub fn filter_query_on<'a>(
    uc: &UseCase,
    window: TimeWindow,
    exists: impl Iterator<Item = &'a String>,
) -> Value {
    let (gte, lte) = window.bounds();
    let mut filters = vec![json!({
        "range": { uc.timestamp_field.as_str(): { "gte": gte, "lte": lte, "format": "strict_date_optional_time" } }
    })];
    filters.extend(use_case_clauses_on(uc, exists));
    json!({ "bool": { "filter": filters } })
}

/// The filter clauses every model shares besides its time range: `exists` on every
/// aggregator and target field, then the use case's own query.
fn use_case_clauses(uc: &UseCase) -> Vec<Value> {
    use_case_clauses_on(uc, uc.fields())
}

/// [`use_case_clauses`] with `exists` on the `exists` fields only.
fn use_case_clauses_on<'a>(uc: &UseCase, exists: impl Iterator<Item = &'a String>) -> Vec<Value> {
    let mut filters = Vec::new();
    for f in exists {
        filters.push(json!({ "exists": { "field": f } }));
    }
    match &uc.filter {
        Filter::None => {}
        // https://www.elastic.co/guide/en/elasticsearch/reference/7.10/query-dsl-query-string-query.html
        Filter::QueryString(q) => filters.push(json!({ "query_string": { "query": q } })),
        Filter::Dsl(v) => filters.push(v.clone()),
    }
    filters
}

/// The counting plan of one use case.
pub fn search(uc: &UseCase, window: TimeWindow, page_size: u32) -> SearchPlan {
    let mut sources = Vec::new();
    for (i, f) in uc.aggregator.iter().enumerate() {
        sources.push(Source {
            name: format!("a{i}"),
            field: f.clone(),
            script: None,
        });
    }
    for (i, f) in uc.target.iter().enumerate() {
        sources.push(Source {
            name: format!("t{i}"),
            field: f.clone(),
            script: None,
        });
    }
    SearchPlan {
        use_case: uc.name.clone(),
        index: uc.index_pattern.clone(),
        query: filter_query(uc, window),
        sources,
        aggregator_len: uc.aggregator.len(),
        page_size,
        preference: format!("esoutliers-{}", uc.name),
    }
}

impl SearchPlan {
    /// Body of one composite page. The first page (`after = None`) also counts the events
    /// in the window (`track_total_hits`), later pages do not.
    /// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-aggregations-bucket-composite-aggregation.html>
    pub fn page_body(&self, after: Option<&AfterKey>) -> Value {
        let sources: Vec<Value> = self
            .sources
            .iter()
            .map(|s| match &s.script {
                None => json!({ s.name.as_str(): { "terms": { "field": s.field } } }),
                Some(script) => json!({ s.name.as_str(): { "terms": { "script": script } } }),
            })
            .collect();
        let mut composite = json!({ "size": self.page_size, "sources": sources });
        if let Some(a) = after {
            composite["after"] = json!(a);
        }
        json!({
            "size": 0,
            "track_total_hits": after.is_none(),
            "query": self.query,
            "aggs": { PAIRS_AGG: { "composite": composite } }
        })
    }

    /// URL parameters of every page: never accept partial results, return only what is read.
    pub fn page_params(&self) -> Vec<(&'static str, String)> {
        composite_params(&self.preference)
    }

    /// A bucket's key as an [`Observation`] (values rendered as strings).
    pub fn observation(&self, bucket: &CompositeBucket) -> Observation {
        let value = |name: &str| bucket.key.get(name).map(render).unwrap_or_default();
        let (agg, tgt) = self.sources.split_at(self.aggregator_len);
        Observation {
            aggregator: agg.iter().map(|s| value(&s.name)).collect(),
            target: tgt.iter().map(|s| value(&s.name)).collect(),
            doc_count: bucket.doc_count,
        }
    }
}

/// A field value as ee-outliers joins and compares it: strings as they are, numbers and
/// booleans in their JSON spelling.
pub fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// URL parameters of a composite page (counting pages, the lead request): never accept
/// partial results, a fixed `preference` (the same shard copies and their caches), and
/// return only what is read (whole buckets, with their sub-aggregations).
pub fn composite_params(preference: &str) -> Vec<(&'static str, String)> {
    vec![
        ("allow_partial_search_results", "false".into()),
        ("preference", preference.to_string()),
        (
            "filter_path",
            "took,timed_out,_shards,hits.total,aggregations.pairs.after_key,aggregations.pairs.buckets".into(),
        ),
    ]
}

/// One `term` filter per field, each with its value.
fn term_filters(fields: &[String], values: &[String]) -> Vec<Value> {
    fields
        .iter()
        .zip(values)
        .map(|(f, v)| json!({ "term": { f.as_str(): v } }))
        .collect()
}

/// Query clauses that select the events of a set of findings, grouped by aggregator
/// value: one clause per aggregator value, holding a `terms` over its outlier targets when
/// the target is one field. Callers chunk the clauses under the cluster's clause limit.
/// Findings must be sorted by aggregator (as `evaluate` returns them).
pub fn pair_clauses(uc: &UseCase, findings: &[Finding]) -> Vec<Value> {
    findings
        .chunk_by(|a, b| a.aggregator == b.aggregator)
        .map(|group| {
            let mut filter = term_filters(&uc.aggregator, &group[0].aggregator);
            let targets: Vec<&Vec<String>> =
                group.iter().filter_map(|f| f.target.as_ref()).collect();
            // across_aggregators findings have no target: every event of the aggregator.
            if targets.len() == group.len() {
                if uc.target.len() == 1 {
                    let values: Vec<&String> = targets.iter().map(|t| &t[0]).collect();
                    filter.push(json!({ "terms": { uc.target[0].as_str(): values } }));
                } else {
                    let should: Vec<Value> = targets
                        .iter()
                        .map(|t| json!({ "bool": { "filter": term_filters(&uc.target, t) } }))
                        .collect();
                    filter.push(json!({ "bool": { "should": should, "minimum_should_match": 1 } }));
                }
            }
            json!({ "bool": { "filter": filter } })
        })
        .collect()
}

/// `query` without the `excluded_ids` (whitelisted events); the query itself when none.
pub fn excluding(query: &Value, excluded_ids: &[String]) -> Value {
    if excluded_ids.is_empty() {
        return query.clone();
    }
    json!({ "bool": { "filter": [ query ], "must_not": [ { "ids": { "values": excluded_ids } } ] } })
}

/// `query` restricted to `clauses` (any of them) and without the `excluded_ids`.
pub fn restrict(query: &Value, clauses: &[Value], excluded_ids: &[String]) -> Value {
    let mut q = json!({
        "bool": {
            "filter": [ query, { "bool": { "should": clauses, "minimum_should_match": 1 } } ]
        }
    });
    if !excluded_ids.is_empty() {
        q["bool"]["must_not"] = json!([{ "ids": { "values": excluded_ids } }]);
    }
    q
}

/// The clause selecting the events of one finding: its aggregator values and, within an
/// aggregator, its target values.
pub fn finding_clause(uc: &UseCase, f: &Finding) -> Value {
    let mut filter = term_filters(&uc.aggregator, &f.aggregator);
    if let Some(t) = &f.target {
        filter.extend(term_filters(&uc.target, t));
    }
    json!({ "bool": { "filter": filter } })
}

/// How many events each finding has inside `query` (the detection window when counts
/// come from a baseline window): one `filters` aggregation, bucket `i` for finding `i`.
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-aggregations-bucket-filters-aggregation.html>
pub fn findings_count_body(uc: &UseCase, query: &Value, findings: &[Finding]) -> Value {
    let filters: serde_json::Map<String, Value> = findings
        .iter()
        .enumerate()
        .map(|(i, f)| (i.to_string(), finding_clause(uc, f)))
        .collect();
    json!({
        "size": 0,
        "track_total_hits": false,
        "query": query,
        "aggs": { "recent": { "filters": { "filters": filters } } }
    })
}
