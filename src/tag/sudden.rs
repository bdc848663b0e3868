//! Stage `tag` (PURE), sudden_appearance model: the `_update_by_query` requests that
//! write ee-outliers 0.2.17's sudden_appearance entry on exactly the first events the
//! pipeline found (`mode: ids`, `params.by_id`: document id -> entry).
//!
//! Must not: fill anything from data inside the script. Each entry is complete here
//! (its summary filled from the event in Rust, wrapped at 150 columns as 0.2.17 wraps
//! it), so the script only appends it; every value travels in `params`, the source
//! never changes.
//!
//! Entry shape (tests/parity/README.md): `type` and `reason` split on `,` and
//! `aggregator` / `target` the FIELD NAMES, each spliced one element per item
//! (`params.extend`); `summary`, `elasticsearch_filter` (only with a filter, as 0.2.17),
//! copied keys,
//! `size_time_window`, `start_time_window`, `end_time_window`, `aggregator_value`,
//! `target_value`, `num_target_value_in_window`, `model_name`, `model_type` one element
//! each.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::simplequery::split_list;
use super::{UpdateByQuery, SCRIPT};
use crate::config::{Filter, UseCase};
use crate::evaluate::sudden::COMPUTED_KEYS;

/// Entries per request.
const IDS_PER_REQUEST: usize = 10_000;

/// `outliers.model_type` of this model.
pub const MODEL_TYPE: &str = "sudden_appearance";

/// The keys whose list values add one element per item.
const EXTEND: [&str; 4] = ["type", "reason", "aggregator", "target"];

/// The entry of one event: the common keys, the use case's copied keys, then `extras`
/// (`evaluate::sudden::SuddenFinding::extra_information`, in its order) and the model.
/// `summary` is the filled, wrapped summary.
pub fn entry(uc: &UseCase, summary: &str, extras: &[(&str, Value)]) -> Map<String, Value> {
    let mut e = Map::new();
    e.insert("type".into(), json!(split_list(&uc.outlier_type)));
    e.insert("reason".into(), json!(split_list(&uc.outlier_reason)));
    e.insert("summary".into(), json!(summary));
    if has_filter(uc) {
        e.insert(
            "elasticsearch_filter".into(),
            json!(uc.elasticsearch_filter),
        );
    }
    for (k, v) in &uc.copied {
        e.insert(k.clone(), json!(v));
    }
    for (k, v) in extras {
        e.insert(k.to_string(), v.clone());
    }
    e.insert("model_name".into(), json!(uc.model_name));
    e.insert("model_type".into(), json!(MODEL_TYPE));
    e
}

/// 0.2.17 writes `elasticsearch_filter` only when the section has `es_query_filter` or
/// `es_dsl_filter` (`_extract_arbitrary_config`).
fn has_filter(uc: &UseCase) -> bool {
    !matches!(uc.filter, Filter::None)
}

/// The keys written, in the order of [`entry`] (the script appends in this order).
fn keys(uc: &UseCase, extras: &[String]) -> Vec<String> {
    let mut k: Vec<String> = ["type", "reason", "summary"].map(String::from).to_vec();
    if has_filter(uc) {
        k.push("elasticsearch_filter".into());
    }
    k.extend(uc.copied.iter().map(|(key, _)| key.clone()));
    k.extend(extras.iter().cloned());
    k.extend(["model_name", "model_type"].map(String::from));
    k
}

/// Requests that add `by_id`'s entry (document id -> [`entry`]) to each of those
/// documents, restricted to `query` (the counting filter). One request per
/// 10,000 documents. Empty when `by_id` is. The script finds an entry by `_id` alone:
/// two indices of the pattern holding the same `_id`, both selected, get the same entry.
pub fn requests(
    uc: &UseCase,
    query: &Value,
    by_id: &BTreeMap<String, Map<String, Value>>,
) -> Vec<UpdateByQuery> {
    let Some(first) = by_id.values().next() else {
        return Vec::new();
    };
    // Every entry has the same keys; the extras in their own order (a `Map` sorts keys).
    let common = keys(uc, &[]);
    let extras: Vec<String> = COMPUTED_KEYS
        .iter()
        .map(|k| k.to_string())
        .filter(|k| first.contains_key(k) && !common.contains(k))
        .collect();
    let keys = keys(uc, &extras);
    let all: Vec<(&String, &Map<String, Value>)> = by_id.iter().collect();
    all.chunks(IDS_PER_REQUEST)
        .map(|chunk| {
            let ids: Vec<&String> = chunk.iter().map(|(id, _)| *id).collect();
            let entries: Map<String, Value> = chunk
                .iter()
                .map(|(id, e)| ((*id).clone(), Value::Object((*e).clone())))
                .collect();
            let q = json!({ "bool": { "filter": [ query, { "ids": { "values": ids } } ] } });
            let body = json!({
                "query": q,
                "script": { "lang": "painless", "source": SCRIPT, "params": {
                    "mode": "ids",
                    "by_id": entries,
                    "keys": keys,
                    "extend": EXTEND,
                } }
            });
            // Each event must carry its own entry's summary.
            let check = super::EntryCheck::ById(
                chunk
                    .iter()
                    .map(|(id, e)| {
                        let summary = e.get("summary").and_then(Value::as_str).unwrap_or_default();
                        ((*id).clone(), vec![summary.to_string()])
                    })
                    .collect(),
            );
            UpdateByQuery {
                index: uc.index_pattern.clone(),
                query: q,
                body,
                pairs: chunk.len(),
                check,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn use_case() -> UseCase {
        let text = "[general]\nes_index_pattern=logs\nhistory_window_days=2\n\
            [sudden_appearance_new]\nes_query_filter=event.dataset:x\naggregator=host.name, user.name\n\
            target=process.name\nsliding_window_size=00:12:00\nsliding_window_step_size=00:06:00\n\
            outlier_type=first observation, rare\noutlier_reason=r\noutlier_summary=s {process.name}\n\
            mitre_technique=T1059\nrun_model=1\ntest_model=0\n";
        let cfg = crate::config::parse(std::path::Path::new("t.conf"), text)
            .unwrap_or_else(|e| panic!("{e}"));
        cfg.use_cases[0].clone()
    }

    fn extras() -> Vec<(&'static str, Value)> {
        vec![
            ("size_time_window", json!("12:00:00")),
            ("aggregator", json!(["host.name", "user.name"])),
            ("aggregator_value", json!("ws-1 - bob")),
            ("num_target_value_in_window", json!(2)),
        ]
    }

    #[test]
    fn entry_holds_common_copied_extra_and_model_keys() {
        let uc = use_case();
        let e = entry(&uc, "s cmd.exe", &extras());
        assert_eq!(
            Value::Object(e),
            json!({
                "type": ["first observation", "rare"],
                "reason": ["r"],
                "summary": "s cmd.exe",
                "elasticsearch_filter": "event.dataset:x",
                "mitre_technique": "T1059",
                "size_time_window": "12:00:00",
                "aggregator": ["host.name", "user.name"],
                "aggregator_value": "ws-1 - bob",
                "num_target_value_in_window": 2,
                "model_name": "new",
                "model_type": "sudden_appearance"
            })
        );
    }

    #[test]
    fn requests_go_by_id_with_list_keys_extended_and_every_value_in_params() {
        let uc = use_case();
        let q = json!({ "match_all": {} });
        let by_id: BTreeMap<String, Map<String, Value>> = [
            ("e2".to_string(), entry(&uc, "s b", &extras())),
            ("e1".to_string(), entry(&uc, "s a", &extras())),
        ]
        .into_iter()
        .collect();
        let r = requests(&uc, &q, &by_id);
        assert_eq!(r.len(), 1);
        assert_eq!(
            r[0].query,
            json!({ "bool": { "filter": [ q, { "ids": { "values": ["e1", "e2"] } } ] } })
        );
        let p = &r[0].body["script"]["params"];
        assert_eq!(p["mode"], "ids");
        assert_eq!(p["by_id"]["e1"]["summary"], "s a");
        assert_eq!(
            p["extend"],
            json!(["type", "reason", "aggregator", "target"])
        );
        assert_eq!(
            p["keys"],
            json!([
                "type",
                "reason",
                "summary",
                "elasticsearch_filter",
                "mitre_technique",
                "size_time_window",
                "aggregator",
                "aggregator_value",
                "num_target_value_in_window",
                "model_name",
                "model_type"
            ])
        );
        assert_eq!(r[0].body["script"]["source"], json!(SCRIPT));
        assert!(requests(&uc, &q, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn without_a_filter_there_is_no_elasticsearch_filter_key() {
        let mut uc = use_case();
        uc.filter = Filter::None;
        uc.elasticsearch_filter = String::new();
        let e = entry(&uc, "s", &extras());
        assert!(!e.contains_key("elasticsearch_filter"));
        assert!(!keys(&uc, &[]).contains(&"elasticsearch_filter".to_string()));
    }
}
