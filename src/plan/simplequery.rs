//! Stage `plan` (PURE), simplequery model: the query of a simplequery use case and the
//! search that fetches its events when a whitelist or `highlight_match` needs them.
//!
//! ee-outliers 0.2.17 selects events with `gte`/`lte` on the timestamp (`es.py`
//! `get_time_filter`): the window is closed at `now`, so an event stamped exactly at the
//! run's `now` is included; this model does the same.

use serde_json::{json, Value};

use crate::config::{Filter, UseCase};
use crate::plan::TimeWindow;

/// `outliers.model_name` / `outliers.model_type` as mapped (keyword, or their `.keyword`
/// sub-fields), used to leave out events that already carry this model's entry. `None`
/// when the index has no such fields (nothing is tagged yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryFields {
    pub model_name: String,
    pub model_type: String,
}

/// The events of the window that match the use case's filter, minus those that already
/// carry an entry of this model.
pub fn query(uc: &UseCase, window: TimeWindow, entry: Option<&EntryFields>) -> Value {
    let (gte, lte) = window.bounds();
    let mut filter = vec![json!({
        "range": { uc.timestamp_field.as_str(): { "gte": gte, "lte": lte, "format": "strict_date_optional_time" } }
    })];
    match &uc.filter {
        Filter::None => {}
        // https://www.elastic.co/guide/en/elasticsearch/reference/7.10/query-dsl-query-string-query.html
        Filter::QueryString(q) => filter.push(json!({ "query_string": { "query": q } })),
        Filter::Dsl(v) => filter.push(v.clone()),
    }
    let mut q = json!({ "bool": { "filter": filter } });
    if let Some(f) = entry {
        q["bool"]["must_not"] = json!([{ "bool": { "filter": [
            { "term": { f.model_name.as_str(): uc.model_name } },
            { "term": { f.model_type.as_str(): "simplequery" } }
        ] } }]);
    }
    q
}

/// How many events `query` selects (the report's "events matched"); returns no hits.
pub fn count_body(query: &Value) -> Value {
    json!({ "size": 0, "track_total_hits": true, "query": query })
}

/// The search that fetches the matching events: whole events when a whitelist needs
/// them, else only the `[assets]` fields and the highlight; highlights with `<value>`/`</value>` tags over every
/// field when `highlight_match` is set (ee-outliers' `_get_highlight_settings`).
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/highlighting.html>
pub fn events_body(uc: &UseCase, query: &Value, highlight: bool, page: u32) -> Value {
    let mut body = json!({ "size": page, "query": query, "sort": ["_doc"] });
    if uc.whitelist.is_empty() {
        // Only the `[assets]` fields, or nothing.
        let assets: Vec<&String> = uc.assets.iter().map(|(f, _)| f).collect();
        body["_source"] = if assets.is_empty() {
            json!(false)
        } else {
            json!(assets)
        };
    }
    if highlight {
        body["highlight"] = json!({
            "pre_tags": ["<value>"], "post_tags": ["</value>"], "fields": { "*": {} }
        });
    }
    body
}
