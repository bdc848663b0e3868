//! Scale on the real node (issue 14): counts split into partitions by ranges of the lead
//! field are exact (lists of lead values included, keyword and numeric leads), use cases
//! with the same counts count once, a concurrent run tags exactly what a sequential one
//! tags, and a 429 slows the whole run. A proxy claims `search.max_buckets` = 500 so a
//! few thousand events make several partitions.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{esoutliers_env, path_str, proxy, Action, Run, TestIndex};

/// Hosts h00..h29 (also as the number `host.id`), parents p0..p3 and children c0..c9:
/// one event per (host, parent, child), 1,200 in all. Planted: 20 more events of c0
/// under (h07, p1), and 20 whose host is the list [h03, h21] (ids [3, 21]) under p1 with
/// c0. So the groups (h07, p1), (h03, p1) and (h21, p1) count c0 21 times and nine
/// children once: average 3.0, and at 50% of it the nine are outliers. Every other group
/// has ten children once (average 1.0): nothing.
fn events() -> Vec<(String, Value)> {
    let ts = "2026-11-27T12:00:00Z";
    let ev = |host: Value, id: Value, p: &str, c: &str| {
        json!({ "@timestamp": ts, "host": { "name": host, "id": id },
                "process": { "name": c, "parent": { "name": p } } })
    };
    let mut d = Vec::new();
    for h in 0..30 {
        for p in 0..4 {
            for c in 0..10 {
                d.push((
                    format!("e-{h}-{p}-{c}"),
                    ev(
                        json!(format!("h{h:02}")),
                        json!(h),
                        &format!("p{p}"),
                        &format!("c{c}"),
                    ),
                ));
            }
        }
    }
    for i in 0..20 {
        d.push((
            format!("planted-{i}"),
            ev(json!("h07"), json!(7), "p1", "c0"),
        ));
        d.push((
            format!("list-{i}"),
            ev(json!(["h03", "h21"]), json!([3, 21]), "p1", "c0"),
        ));
    }
    d
}

fn loaded(label: &str) -> TestIndex {
    let idx = TestIndex::new(label);
    idx.put_mapping(json!({ "host": { "properties": { "id": { "type": "long" } } } }));
    idx.load(&events());
    idx
}

fn section(name: &str, aggregator: &str, sensitivity: u32) -> String {
    format!(
        "[terms_{name}]\naggregator={aggregator},process.parent.name\ntarget=process.name\n\
         trigger_on=low\ntrigger_method=pct_of_avg_value\ntrigger_sensitivity={sensitivity}\n\
         outlier_type=process execution\noutlier_reason=rare child\n\
         outlier_summary=rare child {{process.name}}\n\n"
    )
}

/// Three use cases: by host name (keyword lead), by host id (numeric lead), and by host
/// name again with another sensitivity (the same counts as the first).
fn three_use_cases(idx: &TestIndex, extra: &str) -> std::path::PathBuf {
    let sections = format!(
        "{}{}{}{extra}",
        section("byname", "host.name", 50),
        section("byid", "host.id", 50),
        section("byname_strict", "host.name", 10)
    );
    idx.config("", &sections)
}

/// Claims search.max_buckets = 500 (partitions of at most 450 estimated pairs); `decide`
/// answers every other request.
fn small_pages(decide: impl Fn(&crate::harness::Seen) -> Action + Send + Sync + 'static) -> u16 {
    proxy(move |seen| {
        if seen.request_line.contains("_cluster/settings") {
            return Action::Rewrite(
                "\"search.max_buckets\":\"65535\"",
                "\"search.max_buckets\":\"500\"",
            );
        }
        decide(seen)
    })
}

fn run(port: u16, conf: &std::path::Path, extra: &[&str]) -> Run {
    let mut args = vec!["run", "--config", path_str(conf), "--format", "json"];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--now", "2026-11-28T00:00:00Z"]);
    esoutliers_env(&args, &[("ES_URL", &format!("http://127.0.0.1:{port}"))])
}

fn use_case<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["use_cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == json!(format!("terms_{name}")))
        .unwrap_or_else(|| panic!("no use case {name} in {report}"))
}

/// (aggregator, target, term_count, average) of every outlier, sorted.
fn outliers(uc: &Value) -> Vec<(String, String, u64, f64)> {
    let mut o: Vec<_> = uc["outliers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["aggregator"].as_str().unwrap().to_string(),
                o["target"].as_str().unwrap().to_string(),
                o["term_count"].as_u64().unwrap(),
                o["average"].as_f64().unwrap(),
            )
        })
        .collect();
    o.sort_by(|a, b| a.partial_cmp(b).unwrap());
    o
}

/// The nine outliers of each planted group, aggregator values joined as `join` does.
fn expected(join: impl Fn(&str) -> String) -> Vec<(String, String, u64, f64)> {
    let mut e = Vec::new();
    for h in ["03", "07", "21"] {
        for c in 1..10 {
            e.push((join(h), format!("c{c}"), 1, 3.0));
        }
    }
    e.sort_by(|a, b| a.partial_cmp(b).unwrap());
    e
}

#[test]
fn partitioned_counts_are_exact_with_lists_of_lead_values_and_numeric_leads() {
    let idx = loaded("partitions");
    let conf = three_use_cases(&idx, "");
    let port = small_pages(|_| Action::Forward);
    let r = run(port, &conf, &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report = r.json();
    let byname = use_case(&report, "byname");
    // 30 hosts of ~40 pairs in partitions of at most 450: several, each read in one page.
    let parts = byname["partitions"].as_u64().unwrap();
    assert!(parts >= 2, "{byname}");
    assert_eq!(byname["pages"], json!(parts), "{byname}");
    assert!(byname["lead_requests"].as_u64().unwrap() >= 1);
    // The list events reach the partitions of h03 and of h21: a count of 21, not 41,
    // in both groups, as plain paging counts it (the expected averages say so).
    assert_eq!(
        outliers(byname),
        expected(|h| format!("h{h} - p1")),
        "{byname}"
    );
    assert_eq!(byname["events_in_window"], json!(1240));
    assert_eq!(
        byname["events_visited"],
        json!(1240 + 20),
        "lists visited twice"
    );
    let passes = byname["count_passes"].as_f64().unwrap();
    assert!((passes - 1260.0 / 1240.0).abs() < 1e-9, "{passes}");
    // A numeric lead splits the same way; its values are numbers, ordered as numbers
    // (3 < 21 < 7 would be the order of the strings).
    let byid = use_case(&report, "byid");
    assert!(byid["partitions"].as_u64().unwrap() >= 2, "{byid}");
    assert_eq!(
        outliers(byid),
        expected(|h| format!("{} - p1", h.trim_start_matches('0'))),
        "{byid}"
    );
    // Same counts, another trigger: counted once, nothing under 10% of 3.0.
    let strict = use_case(&report, "byname_strict");
    assert_eq!(
        strict["count_shared_with"],
        json!("terms_byname"),
        "{strict}"
    );
    assert_eq!(strict["pages"], json!(0));
    assert_eq!(strict["events_in_window"], json!(1240));
    assert_eq!(outliers(strict), vec![]);
}

/// Every document's `outliers`, by id.
fn tags(idx: &TestIndex) -> BTreeMap<String, Value> {
    idx.snapshot()
        .into_iter()
        .filter_map(|(id, (_, src))| src.get("outliers").map(|o| (id, o.clone())))
        .collect()
}

#[test]
fn a_concurrent_run_tags_byte_for_byte_what_a_sequential_run_tags() {
    // A simplequery use case flags an event the terms use cases flag too, so it carries
    // entries of several use cases, in config order; a whitelisted use case starts a
    // wave of its own.
    let extra = "[simplequery_planted]\nes_query_filter=process.name:c1 AND host.name:h07\n\
                 outlier_type=t\noutlier_reason=r\noutlier_summary=planted\n\n\
                 [terms_whitelisted]\naggregator=host.name,process.parent.name\n\
                 target=process.name\ntrigger_on=low\ntrigger_method=pct_of_avg_value\n\
                 trigger_sensitivity=50\noutlier_type=t\noutlier_reason=r\n\
                 outlier_summary=w {process.name}\nwhitelist_literals_c5=c5\n";
    let sequential = loaded("sequential");
    let concurrent = loaded("concurrent");
    let port = small_pages(|_| Action::Forward);
    let one = run(
        port,
        &three_use_cases(&sequential, extra),
        &["--max-concurrent-requests", "1"],
    );
    assert_eq!(one.code, 0, "{}", one.stderr);
    let many = run(
        port,
        &three_use_cases(&concurrent, extra),
        &["--max-concurrent-requests", "4"],
    );
    assert_eq!(many.code, 0, "{}", many.stderr);
    let (a, b) = (tags(&sequential), tags(&concurrent));
    // byname and byid flag the same 27 events (nine children of three groups), the
    // whitelisted use case those but the c5 ones; the simplequery flags c1 of h07 under
    // every parent: one of those 27 and three more.
    assert_eq!(a.len(), 30, "{:?}", a.keys().collect::<Vec<_>>());
    assert_eq!(a, b, "the same entries on every event, in the same order");
    // byid's entry has byname's summary, and 0.2.17 writes one entry per summary.
    assert_eq!(
        a["e-7-1-1"]["model_name"],
        json!(["byname", "planted", "whitelisted"]),
        "{}",
        a["e-7-1-1"]
    );
    assert_eq!(
        a["e-7-1-5"]["model_name"],
        json!(["byname"]),
        "c5 is whitelisted"
    );
    let (ra, rb) = (one.json(), many.json());
    for (ua, ub) in ra["use_cases"]
        .as_array()
        .unwrap()
        .iter()
        .zip(rb["use_cases"].as_array().unwrap())
    {
        assert_eq!(ua["name"], ub["name"]);
        assert_eq!(ua["outliers"], ub["outliers"], "{}", ua["name"]);
        assert_eq!(
            ua["tagging"]["updated"], ub["tagging"]["updated"],
            "{}",
            ua["name"]
        );
    }
}

#[test]
fn a_429_on_a_partition_pauses_every_request_of_the_run_and_halves_the_bound() {
    let idx = loaded("pushback");
    let conf = three_use_cases(&idx, "");
    // When each request arrived, and when the 429 was answered.
    let arrivals: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let refused: Arc<Mutex<Option<(Instant, String)>>> = Arc::default();
    let (log, first) = (arrivals.clone(), refused.clone());
    let port = small_pages(move |seen| {
        let now = Instant::now();
        log.lock().unwrap().push(now);
        let partition_page =
            seen.body.contains("\"composite\"") && seen.body.contains("\"range\":{\"host.name\"");
        let mut f = first.lock().unwrap();
        if partition_page && f.is_none() {
            *f = Some((now, seen.body.clone()));
            return Action::Throttle(2);
        }
        Action::Forward
    });
    let r = run(
        port,
        &conf,
        &["--dry-run", "--max-concurrent-requests", "4"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let (at, body) = refused
        .lock()
        .unwrap()
        .clone()
        .expect("a partition page was refused");
    assert!(
        body.contains("\"lte\"") || body.contains("\"gt\""),
        "{body}"
    );
    // The fault hit the count of the use case by host name, which retried it.
    let report = r.json();
    let byname = use_case(&report, "byname");
    assert!(byname["retries"].as_u64().unwrap() >= 1, "{byname}");
    assert_eq!(outliers(byname), expected(|h| format!("h{h} - p1")));
    assert!(r.stderr.contains("pushed back"), "{}", r.stderr);
    assert!(r.stderr.contains("at most 2 in flight"), "{}", r.stderr);
    // No request of the run (of any use case) reached the cluster during the pause;
    // those already on their way when the 429 came arrive within a few milliseconds.
    let quiet: Vec<Duration> = arrivals
        .lock()
        .unwrap()
        .iter()
        .filter(|t| **t > at)
        .map(|t| t.duration_since(at))
        .filter(|d| *d > Duration::from_millis(500) && *d < Duration::from_millis(1900))
        .collect();
    assert_eq!(
        quiet,
        Vec::<Duration>::new(),
        "requests sent during the pause"
    );
}

#[test]
fn metrics_use_cases_on_the_same_target_count_once_and_flag_as_alone() {
    // One host: 40 command lines of 10 characters, two of 200 and two of 1.
    let idx = TestIndex::new("metricsonce");
    let ts = "2026-11-27T12:00:00Z";
    let ev = |cmd: String| json!({ "@timestamp": ts, "host": { "name": "h1" }, "process": { "command_line": cmd } });
    let mut d: Vec<(String, Value)> = (0..40)
        .map(|i| (format!("usual-{i}"), ev(format!("cmd{i:07}"))))
        .collect();
    for i in 0..2 {
        d.push((format!("long-{i}"), ev(format!("{i}{}", "x".repeat(199)))));
        d.push((format!("short-{i}"), ev(format!("{i}"))));
    }
    idx.load(&d);
    // Above twice the average length (about 18): the two long ones; below half of it:
    // the two short ones.
    let section = |name: &str, on: &str, sensitivity: u32| {
        format!(
            "[metrics_{name}]\naggregator=host.name\ntarget=process.command_line\nmetric=length\n\
             trigger_on={on}\ntrigger_method=pct_of_avg_value\ntrigger_sensitivity={sensitivity}\n\
             outlier_type=t\noutlier_reason=r\noutlier_summary=odd length {{metric}}\n\n"
        )
    };
    let conf = idx.config(
        "",
        &format!(
            "{}{}",
            section("long", "high", 200),
            section("short", "low", 50)
        ),
    );
    let port = small_pages(|_| Action::Forward);
    let both = run(port, &conf, &["--dry-run"]);
    assert_eq!(both.code, 0, "{}", both.stderr);
    let report = both.json();
    let by = |name: &str| {
        report["use_cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == json!(name))
            .unwrap()
            .clone()
    };
    let (long, short) = (by("metrics_long"), by("metrics_short"));
    assert_eq!(long["count_shared_with"], Value::Null, "{long}");
    assert_eq!(short["count_shared_with"], json!("metrics_long"), "{short}");
    assert_eq!(short["pages"], json!(0));
    for (name, together) in [("metrics_long", &long), ("metrics_short", &short)] {
        let alone = run(port, &conf, &["--dry-run", "--use-case", name]);
        assert_eq!(alone.code, 0, "{}", alone.stderr);
        let alone = &alone.json()["use_cases"][0];
        assert_eq!(alone["count_shared_with"], Value::Null);
        assert_eq!(together["outliers"], alone["outliers"], "{name}");
        assert_eq!(
            together["events_in_window"], alone["events_in_window"],
            "{name}"
        );
        assert_eq!(alone["outliers"].as_array().unwrap().len(), 2, "{alone}");
    }
}

#[test]
fn a_count_that_fit_half_a_page_last_night_skips_the_lead_request() {
    // Parent -> child: 40 pairs, at most half of a page of 500; host -> child: 1,200.
    let idx = loaded("hints");
    let small = "[terms_small]\naggregator=process.parent.name\ntarget=process.name\n\
                 trigger_on=low\ntrigger_method=pct_of_avg_value\ntrigger_sensitivity=50\n\
                 outlier_type=t\noutlier_reason=r\noutlier_summary=s\n\n";
    let conf = idx.config(
        "",
        &format!("{small}{}", section("byname", "host.name", 50)),
    );
    let port = small_pages(|_| Action::Forward);
    let first = run(port, &conf, &["--dry-run"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    let second = run(port, &conf, &["--dry-run"]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let (r1, r2) = (first.json(), second.json());
    let (s1, s2) = (use_case(&r1, "small"), use_case(&r2, "small"));
    assert_eq!(s1["lead_requests"], json!(1), "{s1}");
    assert_eq!(
        s2["lead_requests"],
        json!(0),
        "the last run's 40 pairs: {s2}"
    );
    assert_eq!(s2["pages"], json!(1));
    assert_eq!(s2["outliers"], s1["outliers"]);
    assert_eq!(s2["events_in_window"], s1["events_in_window"]);
    // The large count is still split after its lead request.
    let b2 = use_case(&r2, "byname");
    assert!(b2["lead_requests"].as_u64().unwrap() >= 1, "{b2}");
    assert!(b2["partitions"].as_u64().unwrap() >= 2, "{b2}");
    assert_eq!(b2["outliers"], use_case(&r1, "byname")["outliers"]);
}
