//! Unit tests of the terms entry (`outliers.*` of one outlier, 0.2.17's shapes) and of
//! the requests by document id.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};

use super::{entry, entry_keys, missing_entry, needs_event, requests_by_id, EntryCheck};
use crate::config::{self, UseCase};
use crate::evaluate::{Finding, Stats};

/// A within use case; `extra` adds keys (`outlier_summary` among them), and may replace
/// the reason with `reason=...`.
fn use_case(extra: &str) -> UseCase {
    let (reason, extra) = match extra.split_once("\nreason=") {
        Some((e, r)) => (r.to_string(), e.to_string()),
        None => ("rare child".to_string(), extra.to_string()),
    };
    let text = format!(
        "[general]\nes_index_pattern=logs\nhistory_window_days=1\n\n\
         [terms_rare]\naggregator=parent\ntarget=child\ntarget_count_method=within_aggregator\n\
         trigger_on=low\ntrigger_method=pct_of_avg_value\ntrigger_sensitivity=50\n\
         outlier_type=process execution, rare\noutlier_reason={reason}\n{extra}\n"
    );
    let cfg = config::parse(Path::new("entry.conf"), &text).unwrap_or_else(|e| panic!("{e}"));
    cfg.use_cases.into_iter().next().expect("one use case")
}

fn finding(sample: &[&str]) -> Finding {
    Finding {
        aggregator: vec!["explorer.exe".into()],
        target: Some(vec!["cmd.exe".into()]),
        term_count: 1,
        decision_frontier: 1.25,
        stats: Stats {
            n: 3,
            mean: 2.5,
            median: 2.0,
            max: 4.0,
            stdev: 1.0,
            coeff_of_variation: Some(0.4),
        },
        non_outlier_values_sample: sample.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn an_entry_has_0_2_17s_keys_and_shapes() {
    let uc = use_case(
        "es_query_filter=_exists_:parent\noutlier_summary=rare {term} under {aggregator}\nmitre_technique=T1059",
    );
    let e = entry(
        &uc,
        &finding(&["a.exe", "b.exe"]),
        Some("cmd.exe"),
        &json!({}),
    );
    assert_eq!(
        Value::Object(e.clone()),
        json!({
            "type": ["process execution", "rare"], "reason": ["rare child"],
            "summary": "rare cmd.exe under explorer.exe",
            "elasticsearch_filter": "_exists_:parent", "mitre_technique": "T1059",
            "model_name": "rare", "model_type": "terms",
            "aggregator": "explorer.exe", "term": "cmd.exe", "term_count": 1,
            "decision_frontier": 1.25, "trigger_method": "pct_of_avg_value",
            "non_outlier_values_sample": "a.exe,b.exe"
        })
    );
    let mut keys = entry_keys(&uc);
    let mut have: Vec<String> = e.keys().cloned().collect();
    keys.sort();
    have.sort();
    assert_eq!(keys, have, "the script writes exactly the entry's keys");
}

#[test]
fn an_empty_sample_is_an_empty_list_and_no_filter_no_key() {
    let uc = use_case("outlier_summary=rare");
    let e = entry(&uc, &finding(&[]), Some("cmd.exe"), &json!({}));
    assert_eq!(e["non_outlier_values_sample"], json!([]));
    assert!(!e.contains_key("elasticsearch_filter"));
    assert!(!entry_keys(&uc).contains(&"elasticsearch_filter".to_string()));
}

#[test]
fn the_summary_is_filled_from_the_event_and_wrapped_at_150_columns() {
    let uc = use_case("outlier_summary=rare {child} for {Parent}: {cmd}");
    let ev =
        json!({ "parent": "explorer.exe", "child": ["cmd.exe", "x.exe"], "cmd": "w ".repeat(80) });
    let e = entry(&uc, &finding(&[]), Some("cmd.exe"), &ev);
    let s = e["summary"].as_str().unwrap();
    assert!(
        s.starts_with("rare cmd.exe, x.exe for explorer.exe: w w"),
        "{s}"
    );
    let lines: Vec<&str> = s.split('\n').collect();
    assert_eq!(lines.len(), 2, "{s}");
    assert!(lines
        .iter()
        .all(|l| l.chars().count() <= 150 && !l.ends_with(' ')));
}

#[test]
fn entries_need_the_event_unless_placeholders_name_only_the_outliers_information() {
    assert!(!needs_event(&use_case(
        "outlier_summary=rare {term} for {aggregator} ({term_count} < {decision_frontier})"
    )));
    assert!(needs_event(&use_case("outlier_summary=rare {child}")));
    assert!(needs_event(&use_case(
        "outlier_summary=rare\nreason=on {host.name}"
    )));
    // across_aggregators: {term} is each event's own target.
    let mut across = use_case("outlier_summary={term}");
    across.count_method = config::CountMethod::AcrossAggregators;
    assert!(needs_event(&across));
}

#[test]
fn requests_by_id_select_their_ids_and_the_check_expects_each_events_summaries() {
    let uc = use_case("outlier_summary=rare {child}");
    let f = finding(&[]);
    let mut by_id = BTreeMap::new();
    for i in 0..10_001 {
        let e = entry(
            &uc,
            &f,
            Some("cmd.exe"),
            &json!({ "child": format!("c{i}") }),
        );
        by_id.insert(format!("id{i:05}"), vec![e]);
    }
    let reqs = requests_by_id(&uc, &json!({ "match_all": {} }), &by_id);
    assert_eq!(reqs.len(), 2, "10,000 ids per request");
    assert_eq!(reqs[0].pairs, 10_000);
    assert_eq!(reqs[0].body["script"]["params"]["mode"], "ids");
    let ids = &reqs[1].query["bool"]["filter"][1]["ids"]["values"];
    assert_eq!(ids, &json!(["id10000"]));
    let EntryCheck::ById(check) = &reqs[1].check else {
        panic!("{:?}", reqs[1].check)
    };
    assert_eq!(check["id10000"], vec!["rare c10000".to_string()]);
    let tagged = json!({ "outliers": { "summary": ["rare c10000"] } });
    assert_eq!(missing_entry(&tagged, "id10000", &reqs[1].check), None);
    let other = json!({ "outliers": { "summary": ["rare c1"] } });
    assert!(missing_entry(&other, "id10000", &reqs[1].check).is_some());
}
