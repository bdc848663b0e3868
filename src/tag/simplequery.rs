//! Stage `tag` (PURE), simplequery model: the `_update_by_query` requests that write
//! ee-outliers 0.2.17's simplequery entry (`type`, `reason` split on commas,
//! `summary` filled per event, `elasticsearch_filter`, the copied keys, `model_name`,
//! `model_type`, and with `highlight_match` `matched_fields` / `matched_values`).
//!
//! Without highlights every selected event gets the same entry: one request over the
//! use case's query (`mode: all`), whitelisted ids left out. With highlights each event
//! has its own `matched_*`: entries by document id (`mode: ids`), chunked.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::{UpdateByQuery, SCRIPT};
use crate::config::UseCase;

/// Entries per request when entries go by document id.
const IDS_PER_REQUEST: usize = 10_000;

/// `outlier_type` / `outlier_reason` as ee-outliers writes them: split on `,`, each part
/// stripped (`helpers/analyzer.py` `_prepare_outlier_parameters`).
pub fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(|p| p.trim().to_string()).collect()
}

/// The entry shared by every event of the use case (summary filled per event).
pub fn entry(uc: &UseCase) -> Map<String, Value> {
    let mut e = Map::new();
    e.insert("type".into(), json!(split_list(&uc.outlier_type)));
    e.insert("reason".into(), json!(split_list(&uc.outlier_reason)));
    e.insert("summary".into(), Value::Null);
    e.insert(
        "elasticsearch_filter".into(),
        json!(uc.elasticsearch_filter),
    );
    for (k, v) in &uc.copied {
        e.insert(k.clone(), json!(v));
    }
    e.insert("model_name".into(), json!(uc.model_name));
    e.insert("model_type".into(), json!("simplequery"));
    e
}

/// The keys written, in ee-outliers' order.
fn keys(uc: &UseCase, highlight: bool) -> Vec<String> {
    let mut k: Vec<String> = ["type", "reason", "summary", "elasticsearch_filter"]
        .map(String::from)
        .to_vec();
    k.extend(uc.copied.iter().map(|(key, _)| key.clone()));
    if highlight {
        k.extend(["matched_fields", "matched_values"].map(String::from));
    }
    k.extend(["model_name", "model_type"].map(String::from));
    k
}

fn params(uc: &UseCase, highlight: bool) -> Map<String, Value> {
    let summary_parts = super::summary_parts(uc, |f| f.to_string());
    let mut p = Map::new();
    p.insert("summary_parts".into(), json!(summary_parts));
    p.insert("keys".into(), json!(keys(uc, highlight)));
    p.insert("extend".into(), json!(["type", "reason"]));
    p.insert("missing_prefix".into(), json!("{field "));
    p
}

fn request(uc: &UseCase, query: Value, params: Map<String, Value>, n: usize) -> UpdateByQuery {
    let body = json!({
        "query": query,
        "script": { "lang": "painless", "source": SCRIPT, "params": params }
    });
    UpdateByQuery {
        index: uc.index_pattern.clone(),
        query,
        body,
        pairs: n,
        check: super::EntryCheck::ModelName(uc.model_name.clone()),
    }
}

/// One request that tags every event of `query` except `whitelisted_ids`.
pub fn request_all(uc: &UseCase, query: &Value, whitelisted_ids: &[String]) -> UpdateByQuery {
    let mut p = params(uc, false);
    p.insert("mode".into(), json!("all"));
    p.insert("entry".into(), Value::Object(entry(uc)));
    request(uc, crate::plan::excluding(query, whitelisted_ids), p, 1)
}

/// Requests that tag exactly the events of `by_id` (document id -> `matched_fields`,
/// `matched_values`), each with its own highlight.
pub fn requests_by_id(
    uc: &UseCase,
    query: &Value,
    by_id: &BTreeMap<String, (Value, String)>,
) -> Vec<UpdateByQuery> {
    let all: Vec<(&String, &(Value, String))> = by_id.iter().collect();
    all.chunks(IDS_PER_REQUEST)
        .map(|chunk| {
            let mut entries = Map::new();
            for (id, (fields, values)) in chunk {
                let mut e = entry(uc);
                e.insert("matched_fields".into(), fields.clone());
                e.insert("matched_values".into(), json!(values));
                entries.insert((*id).clone(), Value::Object(e));
            }
            let ids: Vec<&String> = chunk.iter().map(|(id, _)| *id).collect();
            let q = json!({ "bool": { "filter": [ query, { "ids": { "values": ids } } ] } });
            let mut p = params(uc, true);
            p.insert("mode".into(), json!("ids"));
            p.insert("by_id".into(), Value::Object(entries));
            request(uc, q, p, chunk.len())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_and_reason_split_on_commas_and_strip() {
        assert_eq!(
            split_list("malware,  powershell "),
            vec!["malware", "powershell"]
        );
        assert_eq!(split_list("one"), vec!["one"]);
        assert_eq!(split_list("a,,b"), vec!["a", "", "b"]);
    }
}
