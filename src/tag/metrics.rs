//! Stage `tag` (PURE), metrics model: the entry ee-outliers 0.2.17 writes for an outlier
//! (aggregator, target value) pair on one event, and the `_update_by_query` requests that
//! write it, by document id (`mode: ids`), chunked.
//!
//! Why by id: a pair is a flattened `_source` value (a list joined with ` - `, a number as
//! Python prints it, a keyword longer than `ignore_above`) that no query term selects
//! exactly, and the check after tagging needs the requests to select exactly the outlier
//! events. The pipeline fetches those events anyway (ids and the fields the summary needs),
//! so each event's entries come ready, summary filled.
//!
//! Fields, as 0.2.17 writes them (tests/parity/README.md): `type` / `reason` filled and
//! split on commas, `summary` filled and wrapped at 150 columns, `assets`,
//! `elasticsearch_filter`, the copied keys, `model_name`, `model_type`,
//! `aggregator` (values joined with ` - `), `target` (the flattened value), `metric`
//! (integer or float as Python computed it), `decision_frontier` and `confidence` (floats),
//! `non_outlier_values_sample` (one string, or `[]`: with `params.extend` it adds nothing)
//! and the metric's observations (present only when the metric found something).
//! Not finite numbers (NaN, ±inf from `numerical_value` of `nan` / `inf`) are written as
//! null: Elasticsearch refuses them in JSON (0.2.17's update of such an event fails).
//!
//! Must not: decide outliers or do I/O.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::simplequery::split_list;
use super::{UpdateByQuery, SCRIPT};
use crate::config::UseCase;
use crate::evaluate::metric::{python_json, Measure};
use crate::evaluate::placeholder::{self, Info};
use crate::evaluate::pystr;

/// Events per request: every event carries its own entries in `params.by_id`.
const IDS_PER_REQUEST: usize = 2_000;

/// One outlier (aggregator, target value) pair: every event carrying it is an outlier.
#[derive(Debug, Clone, PartialEq)]
pub struct PairOutlier {
    /// The aggregator values, one per aggregator field.
    pub aggregator: Vec<String>,
    /// The target value flattened as ee-outliers does (`plan::metrics::flatten`).
    pub target: String,
    pub measure: Measure,
    /// Events of the pair (whitelisted ones taken out).
    pub doc_count: u64,
    pub decision_frontier: f64,
    /// |decision_frontier - metric|.
    pub confidence: f64,
    /// The aggregator's non-outlier sample (`weighted::Evaluation::non_outlier_values_sample`).
    pub sample: Vec<String>,
}

/// The keys [`model_keys`] may hold (what placeholders can name besides event fields),
/// all of them written by the script when an entry has them.
pub const MODEL_KEYS: [&str; 14] = [
    "model_name",
    "model_type",
    "aggregator",
    "target",
    "metric",
    "decision_frontier",
    "confidence",
    "non_outlier_values_sample",
    "max_hex_encoded_length",
    "max_hex_encoded_word",
    "max_base64_decoded_length",
    "max_base64_decoded_word",
    "extracted_urls_length",
    "extracted_urls",
];

/// A float key: `python_json`, null when not finite.
fn float(x: f64) -> Value {
    python_json(x, false).unwrap_or(Value::Null)
}

/// The model keys of a pair (what `{placeholders}` may name besides event fields).
pub fn model_keys(uc: &UseCase, o: &PairOutlier) -> Info {
    let mut e = Map::new();
    e.insert("model_name".into(), json!(uc.model_name));
    e.insert("model_type".into(), json!("metrics"));
    e.insert("aggregator".into(), json!(o.aggregator.join(" - ")));
    e.insert("target".into(), json!(o.target));
    e.insert("metric".into(), o.measure.json().unwrap_or(Value::Null));
    e.insert("decision_frontier".into(), float(o.decision_frontier));
    e.insert("confidence".into(), float(o.confidence));
    e.insert(
        "non_outlier_values_sample".into(),
        if o.sample.is_empty() {
            json!([])
        } else {
            json!(o.sample.join(","))
        },
    );
    for (k, v) in &o.measure.observations {
        e.insert((*k).to_string(), v.clone());
    }
    e
}

/// The whole entry of one pair on one event whose `_source` is `event`, as 0.2.17 builds
/// it: `type` and `reason` with placeholders filled and split on commas; `summary` filled
/// and hard-wrapped at 150 columns; `assets` when the event has some; `elasticsearch_filter`
/// when the use case has a filter; the copied keys; then the model keys (`info`). A
/// placeholder names a model key or an event field ([`placeholder::fill`]: the outlier's
/// keys win, case-insensitively).
pub fn entry(uc: &UseCase, info: &Info, event: &Value) -> Map<String, Value> {
    let fill = |t: &str| placeholder::fill(t, event, info);
    let mut e = Map::new();
    e.insert("type".into(), json!(split_list(&fill(&uc.outlier_type))));
    e.insert(
        "reason".into(),
        json!(split_list(&fill(&uc.outlier_reason))),
    );
    e.insert(
        "summary".into(),
        json!(pystr::textwrap_fill(
            &fill(&uc.outlier_summary.raw),
            super::SUMMARY_WIDTH
        )),
    );
    let assets = placeholder::assets(event, &uc.assets);
    if !assets.is_empty() {
        e.insert("assets".into(), json!(assets));
    }
    if !uc.elasticsearch_filter.is_empty() {
        e.insert(
            "elasticsearch_filter".into(),
            json!(uc.elasticsearch_filter),
        );
    }
    for (k, v) in &uc.copied {
        e.insert(k.clone(), json!(v));
    }
    for (k, v) in info {
        e.insert(k.clone(), v.clone());
    }
    e
}

/// The keys the script writes: the common ones, the copied ones, the model keys and every
/// metric's observation keys (an entry without one does not write it).
fn keys(uc: &UseCase) -> Vec<String> {
    let mut k: Vec<String> = [
        "type",
        "reason",
        "summary",
        "assets",
        "elasticsearch_filter",
    ]
    .map(String::from)
    .to_vec();
    k.extend(uc.copied.iter().map(|(key, _)| key.clone()));
    k.extend(MODEL_KEYS.map(String::from));
    k
}

/// Requests that write `by_id` (document id -> its entries, one per outlier pair the event
/// is in) on exactly those events of `query`.
pub fn requests(
    uc: &UseCase,
    query: &Value,
    by_id: &BTreeMap<String, Vec<Map<String, Value>>>,
) -> Vec<UpdateByQuery> {
    let all: Vec<(&String, &Vec<Map<String, Value>>)> = by_id.iter().collect();
    all.chunks(IDS_PER_REQUEST)
        .map(|chunk| {
            let ids: Vec<&String> = chunk.iter().map(|(id, _)| *id).collect();
            let entries: Map<String, Value> = chunk
                .iter()
                .map(|(id, es)| {
                    let list = es.iter().cloned().map(Value::Object).collect();
                    ((*id).clone(), Value::Array(list))
                })
                .collect();
            let q = json!({ "bool": { "filter": [ query, { "ids": { "values": ids } } ] } });
            let body = json!({
                "query": q,
                "script": { "lang": "painless", "source": SCRIPT, "params": {
                    "mode": "ids",
                    "by_id": entries,
                    "keys": keys(uc),
                    "extend": super::EXTEND,
                    "summary_parts": [],
                } }
            });
            let check = super::EntryCheck::ById(
                chunk
                    .iter()
                    .map(|(id, es)| {
                        let summaries = es
                            .iter()
                            .filter_map(|e| e["summary"].as_str().map(String::from))
                            .collect();
                        ((*id).clone(), summaries)
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
    use crate::config::Metric;
    use crate::evaluate::metric;

    fn use_case(summary: &str) -> UseCase {
        let text = format!(
            "[general]\nes_index_pattern=ix\nhistory_window_days=1\n\n[metrics_b64]\nes_query_filter=event.dataset:x\naggregator=host.name\ntarget=cmd\nmetric=base64_encoded_length\ntrigger_on=high\ntrigger_method=float\ntrigger_sensitivity=0\noutlier_type=encoding, powershell\noutlier_reason=r\noutlier_summary={summary}\nmitre=T1\nrun_model=1\ntest_model=0\n"
        );
        let cfg = crate::config::parse(std::path::Path::new("t.conf"), &text)
            .unwrap_or_else(|e| panic!("{e}"));
        cfg.use_cases.into_iter().next().unwrap()
    }

    fn outlier(target: &str, sample: &[&str]) -> PairOutlier {
        let m = metric::measure(Metric::Base64EncodedLength, target).unwrap();
        PairOutlier {
            aggregator: vec!["h1".into()],
            target: target.into(),
            confidence: m.value,
            measure: m,
            doc_count: 1,
            decision_frontier: 0.0,
            sample: sample.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn integral_metric_is_an_integer_and_frontier_a_float() {
        let o = outlier("x aGVsbG8gd29ybGQ=", &["0"]);
        let k = model_keys(&use_case("s"), &o);
        assert_eq!(k["metric"], json!(11));
        assert!(k["metric"].is_i64());
        assert!(k["decision_frontier"].is_f64());
        assert_eq!(k["confidence"], json!(11.0));
        assert_eq!(k["non_outlier_values_sample"], json!("0"));
        assert_eq!(k["max_base64_decoded_word"], json!("hello world"));
    }

    #[test]
    fn empty_sample_is_an_empty_list_and_no_observation_without_a_find() {
        let o = outlier("nothing here", &[]);
        let k = model_keys(&use_case("s"), &o);
        assert_eq!(k["non_outlier_values_sample"], json!([]));
        assert!(!k.contains_key("max_base64_decoded_length"));
    }

    #[test]
    fn not_finite_numbers_are_written_as_null() {
        let mut o = outlier("x", &[]);
        o.measure = metric::measure(Metric::NumericalValue, "inf").unwrap();
        o.confidence = f64::INFINITY;
        let k = model_keys(&use_case("s"), &o);
        assert_eq!(
            (&k["metric"], &k["confidence"]),
            (&Value::Null, &Value::Null)
        );
    }

    #[test]
    fn summary_fills_model_keys_as_python_and_event_fields_from_source() {
        let uc = use_case("{metric} in {cmd} on {host.name} ({Decision_Frontier}) {user.name}");
        let o = outlier("x aGVsbG8gd29ybGQ=", &["0"]);
        let k = model_keys(&uc, &o);
        let src = json!({"cmd": "x aGVsbG8gd29ybGQ=", "host": {"name": ["h1", "h2"]}});
        assert_eq!(
            entry(&uc, &k, &src)["summary"],
            json!("11 in x aGVsbG8gd29ybGQ= on h1, h2 (0.0) {field user.name not found in event}")
        );
    }

    #[test]
    fn one_request_per_chunk_selects_exactly_its_ids() {
        let uc = use_case("s");
        let o = outlier("x aGVsbG8gd29ybGQ=", &[]);
        let k = model_keys(&uc, &o);
        let by_id: BTreeMap<String, Vec<Map<String, Value>>> = (0..IDS_PER_REQUEST + 1)
            .map(|i| (format!("id{i:05}"), vec![entry(&uc, &k, &json!({}))]))
            .collect();
        let r = requests(&uc, &json!({"match_all": {}}), &by_id);
        assert_eq!(r.len(), 2);
        assert_eq!(r[1].pairs, 1);
        assert_eq!(
            r[1].query["bool"]["filter"][1]["ids"]["values"],
            json!(["id02000"])
        );
        let e = &r[0].body["script"]["params"]["by_id"]["id00000"][0];
        assert_eq!(e["type"], json!(["encoding", "powershell"]));
        assert_eq!(e["mitre"], json!("T1"));
        assert_eq!(e["elasticsearch_filter"], json!("event.dataset:x"));
    }
}
