//! The reference scenario table (SPEC sections 3-5) on the real node. Each scenario is a
//! small event set, a use case, and the exact ids that must end up tagged. The expected
//! ids were worked out by hand from SPEC (the arithmetic is in each comment), not by
//! running esoutliers.

use serde_json::{json, Value};

use crate::harness::{esoutliers, hours_ago, path_str, TestIndex};

fn ev(host: &str, parent: &str, child: Value) -> Value {
    json!({
        "@timestamp": hours_ago(2.0),
        "event": { "category": "process" },
        "host": { "name": host },
        "process": { "name": child, "parent": { "name": parent } }
    })
}

/// `n` events with ids `<prefix>-0..n`.
fn many(
    out: &mut Vec<(String, Value)>,
    prefix: &str,
    n: usize,
    host: &str,
    parent: &str,
    child: &str,
) {
    for i in 0..n {
        out.push((format!("{prefix}-{i}"), ev(host, parent, json!(child))));
    }
}

fn ids(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Loads `events`, runs the use case of `tests/cases/<case>.conf` on them, returns
/// (sorted tagged ids, report, index). The case files are also snapshot-tested.
fn run_scenario(case: &str, events: &[(String, Value)]) -> (Vec<String>, Value, TestIndex) {
    let label = case.replace('_', "");
    let idx = TestIndex::new(&label);
    idx.load(events);
    let conf = idx.case(case);
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(
        run.code, 0,
        "scenario {label}: stdout {}\nstderr {}",
        run.stdout, run.stderr
    );
    let report = run.json();
    (idx.tagged_ids(), report, idx)
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn multi_field_aggregator_counts_per_host_and_parent() {
    // (h1, p): a x100, b x1 -> mean 50.5, 10% -> 5.05: b (1) flagged.
    // (h2, p): a x100, b x100 -> mean 100, frontier 10: nothing.
    let mut e = Vec::new();
    many(&mut e, "h1-a", 100, "h1", "p.exe", "a.exe");
    many(&mut e, "h1-b", 1, "h1", "p.exe", "b.exe");
    many(&mut e, "h2-a", 100, "h2", "p.exe", "a.exe");
    many(&mut e, "h2-b", 100, "h2", "p.exe", "b.exe");
    let (tagged, report, idx) = run_scenario("multi_field_aggregator", &e);
    assert_eq!(tagged, ids("h1-b", 1));
    assert_eq!(
        report["use_cases"][0]["outliers"][0]["aggregator"],
        "h1 - p.exe"
    );
    let src = &idx.snapshot()["h1-b-0"].1;
    assert_eq!(src["outliers"]["aggregator"], json!(["h1 - p.exe"]));
}

#[test]
fn across_aggregators_flags_every_event_of_an_aggregator_with_too_many_targets() {
    // Distinct targets per host: h1 2, h2 4, h3 3. float, high, s=3: only 4 > 3 (3 is not: strict).
    let mut e = Vec::new();
    many(&mut e, "h1-x", 3, "h1", "p.exe", "x.exe");
    many(&mut e, "h1-y", 1, "h1", "p.exe", "y.exe");
    for c in ["a", "b", "c", "d"] {
        many(
            &mut e,
            &format!("h2-{c}"),
            1,
            "h2",
            "p.exe",
            &format!("{c}.exe"),
        );
    }
    for c in ["a", "b", "c"] {
        many(
            &mut e,
            &format!("h3-{c}"),
            2,
            "h3",
            "p.exe",
            &format!("{c}.exe"),
        );
    }
    let (tagged, report, _idx) = run_scenario("across_aggregators", &e);
    let expected: Vec<String> = ["a", "b", "c", "d"]
        .iter()
        .map(|c| format!("h2-{c}-0"))
        .collect();
    assert_eq!(tagged, sorted(expected));
    let o = &report["use_cases"][0]["outliers"];
    assert_eq!(o.as_array().unwrap().len(), 1);
    assert_eq!(o[0]["aggregator"], "h2");
    assert_eq!(o[0]["term_count"], 4);
}

#[test]
fn list_field_counts_once_per_value() {
    // Parent p: 100 events with name "a.exe", one with ["a.exe", "z.exe"].
    // Counts: a 101, z 1 -> mean 51, 10% -> 5.1: z flagged; the list event is z's only event.
    let mut e = Vec::new();
    many(&mut e, "a", 100, "h1", "p.exe", "a.exe");
    e.push((
        "list-0".into(),
        ev("h1", "p.exe", json!(["a.exe", "z.exe"])),
    ));
    let (tagged, report, idx) = run_scenario("list_field", &e);
    assert_eq!(tagged, vec!["list-0".to_string()]);
    let o = &report["use_cases"][0]["outliers"][0];
    assert_eq!(o["target"], "z.exe");
    assert_eq!(o["term_count"], 1);
    let src = &idx.snapshot()["list-0"].1;
    assert_eq!(src["outliers"]["term"], json!(["z.exe"]));
}

#[test]
fn whitelisted_event_is_removed_and_the_frontier_moves() {
    // Parent p: a x100, b x2, c x1 (c's event on host trusted-host).
    // First pass: mean 103/3 = 34.33, 5% -> 1.717: c (1) flagged, b (2) not.
    // c's event is whitelisted (literal trusted-host) -> removed: a 100, b 2 -> mean 51,
    // 5% -> 2.55: now b (2) is flagged. Tagged: b's two events, never c's.
    let mut e = Vec::new();
    many(&mut e, "a", 100, "h1", "p.exe", "a.exe");
    many(&mut e, "b", 2, "h1", "p.exe", "b.exe");
    many(&mut e, "c", 1, "trusted-host", "p.exe", "c.exe");
    let (tagged, report, _idx) = run_scenario("whitelist_reevaluation", &e);
    assert_eq!(tagged, ids("b", 2));
    assert_eq!(report["use_cases"][0]["whitelisted_events"], 1);
    let o = &report["use_cases"][0]["outliers"][0];
    assert_eq!(o["target"], "b.exe");
    assert!((o["decision_frontier"].as_f64().unwrap() - 2.55).abs() < 1e-9);
}

#[test]
fn regexp_whitelist_needs_every_regex_to_match() {
    // Parent p: a x100, q x1 (host evilhost), r x1 (host goodhost). mean 34, 5% -> 1.7:
    // q and r flagged. Entry "^evil, ^q\.exe$": q's event matches both -> whitelisted;
    // r's matches only the second -> not; entry "^evil, ^r\.exe$" matches no event
    // (no event has both). Re-evaluation: a 100, r 1 -> mean 50.5, 5% ->
    // 2.525: r still flagged. Tagged: r only.
    let mut e = Vec::new();
    many(&mut e, "a", 100, "h1", "p.exe", "a.exe");
    many(&mut e, "q", 1, "evilhost", "p.exe", "q.exe");
    many(&mut e, "r", 1, "goodhost", "p.exe", "r.exe");
    let (tagged, _report, _idx) = run_scenario("whitelist_regexps", &e);
    assert_eq!(tagged, ids("r", 1));
}

#[test]
fn stdev_high_flags_the_outsized_child() {
    // Counts a 10, b 10, c 10, d 50: mean 20, population stdev sqrt((3*100 + 900)/4) =
    // sqrt(300) = 17.32; high, s=1 -> 37.32: d (50) flagged, all of its 50 events.
    let mut e = Vec::new();
    for c in ["a", "b", "c"] {
        many(&mut e, c, 10, "h1", "p.exe", &format!("{c}.exe"));
    }
    many(&mut e, "d", 50, "h1", "p.exe", "d.exe");
    let (tagged, report, _idx) = run_scenario("stdev_high", &e);
    assert_eq!(tagged, sorted(ids("d", 50)));
    let f = report["use_cases"][0]["outliers"][0]["decision_frontier"]
        .as_f64()
        .unwrap();
    assert!((f - (20.0 + 300f64.sqrt())).abs() < 1e-9, "{f}");
}

#[test]
fn min_target_buckets_skips_aggregators_with_few_targets() {
    // p1: a x100, b x1 (2 targets < 3: not evaluated). p2: a x100, b x100, c x1 ->
    // mean 67, 10% -> 6.7: c flagged.
    let mut e = Vec::new();
    many(&mut e, "p1-a", 100, "h1", "p1.exe", "a.exe");
    many(&mut e, "p1-b", 1, "h1", "p1.exe", "b.exe");
    many(&mut e, "p2-a", 100, "h1", "p2.exe", "a.exe");
    many(&mut e, "p2-b", 100, "h1", "p2.exe", "b.exe");
    many(&mut e, "p2-c", 1, "h1", "p2.exe", "c.exe");
    let (tagged, _report, _idx) = run_scenario("min_target_buckets", &e);
    assert_eq!(tagged, ids("p2-c", 1));
}

#[test]
fn dsl_filter_and_per_event_summary() {
    // Only event.category "process" counts (es_dsl_filter). p: a x100, b x1 (+ one b event
    // of category network, neither counted nor tagged) -> mean 50.5, 10% -> 5.05: b.
    // The summary names host.name, not an aggregator/target field: filled per event.
    let mut e = Vec::new();
    many(&mut e, "a", 100, "h1", "p.exe", "a.exe");
    many(&mut e, "b", 1, "ws-42", "p.exe", "b.exe");
    let mut net = ev("h1", "p.exe", json!("b.exe"));
    net["event"]["category"] = json!("network");
    e.push(("net-0".into(), net));
    let (tagged, report, idx) = run_scenario("dsl_filter_event_summary", &e);
    assert_eq!(tagged, ids("b", 1));
    let src = &idx.snapshot()["b-0"].1;
    assert_eq!(src["outliers"]["summary"], json!(["b.exe on ws-42"]));
    assert_eq!(
        report["use_cases"][0]["outliers"][0]["summary"],
        "b.exe on ws-42"
    );
}
