//! Tagging on the real node (SPEC section 6): entries of several use cases side by side,
//! housekeeping, hostile values, and a concurrent writer.

use serde_json::{json, Value};

use crate::harness::{
    assert_each_tagged_once, es_url, esoutliers, hours_ago, path_str, process_event, spread_events,
    TestIndex, EVERY_EVENT,
};

fn rare_section(name: &str, summary: &str) -> String {
    format!(
        "[terms_{name}]\nes_query_filter=event.category:process\naggregator=process.parent.name\ntarget=process.name\n\
target_count_method=within_aggregator\ntrigger_on=low\ntrigger_method=pct_of_avg_value\ntrigger_sensitivity=1\n\
outlier_type=process execution\noutlier_reason=rare child process\noutlier_summary={summary}\nrun_model=1\ntest_model=0\n"
    )
}

/// adobe.exe: a.exe x200, b.exe x150 and one rare child.
fn events_with_rare_child(rare_child: &str) -> Vec<(String, Value)> {
    let mut d = Vec::new();
    for i in 0..200 {
        d.push((
            format!("a-{i}"),
            process_event("adobe.exe", "a.exe", &hours_ago(1.0), "process"),
        ));
    }
    for i in 0..150 {
        d.push((
            format!("b-{i}"),
            process_event("adobe.exe", "b.exe", &hours_ago(1.0), "process"),
        ));
    }
    d.push((
        "rare".into(),
        process_event("adobe.exe", rare_child, &hours_ago(1.0), "process"),
    ));
    d
}

#[test]
fn two_use_cases_add_two_entries_and_untag_removes_one() {
    let idx = TestIndex::new("twocases");
    idx.load(&events_with_rare_child("cmd.exe"));
    let conf = idx.config(
        "",
        &format!(
            "{}\n{}",
            rare_section(
                "first",
                "rare child {process.name} for {process.parent.name}"
            ),
            rare_section("second", "{process.parent.name} started {process.name}")
        ),
    );
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let docs = idx.snapshot();
    let o = &docs["rare"].1["outliers"];
    assert_eq!(o["model_name"], json!(["first", "second"]));
    assert_eq!(
        o["summary"],
        json!([
            "rare child cmd.exe for adobe.exe",
            "adobe.exe started cmd.exe"
        ])
    );
    assert_eq!(o["total_outliers"], json!(2));
    assert_eq!(docs["rare"].1["tags"], json!(["outlier"]));

    let untag = esoutliers(&[
        "untag",
        "--config",
        path_str(&conf),
        "--use-case",
        "terms_first",
    ]);
    assert_eq!(untag.code, 0, "{}", untag.stderr);
    let docs = idx.snapshot();
    let o = &docs["rare"].1["outliers"];
    assert_eq!(o["model_name"], json!(["second"]));
    assert_eq!(o["summary"], json!(["adobe.exe started cmd.exe"]));
    assert_eq!(o["term_count"], json!([1]));
    assert_eq!(o["total_outliers"], json!(1));

    let untag = esoutliers(&["untag", "--config", path_str(&conf)]);
    assert_eq!(untag.code, 0, "{}", untag.stderr);
    let docs = idx.snapshot();
    assert!(
        docs["rare"].1.get("outliers").is_none(),
        "{}",
        docs["rare"].1
    );
    assert!(
        docs["rare"].1.get("tags").is_none(),
        "the outlier tag went with the last entry"
    );
    assert_eq!(docs["rare"].1["process"]["name"], "cmd.exe");
}

#[test]
fn untag_keeps_other_tags_and_fields() {
    let idx = TestIndex::new("untagkeep");
    let mut d = events_with_rare_child("cmd.exe");
    d.last_mut().unwrap().1["tags"] = json!(["endpoint", "vip"]);
    idx.load(&d);
    let conf = idx.config("", &rare_section("first", "rare {process.name}"));
    assert_eq!(esoutliers(&["run", "--config", path_str(&conf)]).code, 0);
    assert_eq!(
        idx.snapshot()["rare"].1["tags"],
        json!(["endpoint", "vip", "outlier"])
    );
    assert_eq!(
        esoutliers(&["untag", "--config", path_str(&conf), "--all"]).code,
        0
    );
    let src = &idx.snapshot()["rare"].1;
    assert_eq!(src["tags"], json!(["endpoint", "vip"]));
    assert!(src.get("outliers").is_none());
}

#[test]
fn hostile_values_round_trip_into_the_summary_unchanged() {
    let hostile = "evil\"; ctx._source.clear(); \"\\\\x\\n—ünï 🦀\nline2";
    let idx = TestIndex::new("hostile");
    idx.load(&events_with_rare_child(hostile));
    let before = idx.snapshot();
    let conf = idx.config(
        "",
        &rare_section("h", "rare child {process.name} for {process.parent.name}"),
    );
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let after = idx.snapshot();
    let src = &after["rare"].1;
    assert_eq!(src["process"]["name"], hostile);
    // As ee-outliers writes it: textwrap.fill turns the newline into a space (a summary
    // under 150 columns is not wrapped); everything else is kept byte for byte.
    assert_eq!(
        src["outliers"]["summary"],
        json!([format!(
            "rare child {} for adobe.exe",
            hostile.replace('\n', " ")
        )])
    );
    assert_eq!(src["outliers"]["term"], json!([hostile]));
    // Nothing else changed.
    for (id, (seq, doc)) in &before {
        if id != "rare" {
            assert_eq!(&after[id], &(*seq, doc.clone()), "{id} changed");
        }
    }
}

#[test]
fn concurrent_writer_keeps_its_changes_and_every_outlier_is_tagged_once() {
    // Every event is an outlier here (float, high, 0: any count > 0), so tagging touches
    // all 6,000 events, throttled to take several seconds while another client keeps
    // updating the same events.
    let idx = TestIndex::new("concurrent");
    let n = 6000;
    idx.load(&spread_events(n));
    let conf = idx.config("", EVERY_EVENT);
    let name = idx.name.clone();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let c = reqwest::blocking::Client::new();
            let mut round = 0u64;
            let mut touched = std::collections::BTreeSet::new();
            while !stop.load(std::sync::atomic::Ordering::SeqCst) && round < 60 {
                let mut body = String::new();
                for k in 0..200 {
                    let id = format!("e{}", (round * 200 + k) % n as u64);
                    body.push_str(
                        &json!({ "update": { "_id": id, "retry_on_conflict": 10 } }).to_string(),
                    );
                    body.push('\n');
                    body.push_str(&json!({ "doc": { "writer": { "round": round } } }).to_string());
                    body.push('\n');
                    touched.insert(id);
                }
                let r: Value = c
                    .post(format!("{}/{name}/_bulk", es_url()))
                    .header("Content-Type", "application/x-ndjson")
                    .body(body)
                    .send()
                    .unwrap()
                    .json()
                    .unwrap();
                assert_eq!(r["errors"], json!(false), "{r}");
                round += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            touched
        })
    };
    let run = esoutliers(&[
        "run",
        "--config",
        path_str(&conf),
        "--format",
        "json",
        "--requests-per-second",
        "1500",
    ]);
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let touched = writer.join().unwrap();
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let after = idx.snapshot();
    assert_eq!(after.len(), n);
    assert_each_tagged_once(&after);
    for (id, (_, src)) in &after {
        if touched.contains(id) {
            assert!(
                src["writer"]["round"].is_u64(),
                "{id} lost the writer's change: {src}"
            );
        }
    }
    assert!(
        touched.len() > 100,
        "the writer ran during tagging ({} events)",
        touched.len()
    );
}

#[test]
fn wipe_existing_clears_the_window_and_wipe_whitelisted_removes_covered_entries() {
    let idx = TestIndex::new("wipes");
    idx.load(&events_with_rare_child("cmd.exe"));
    let first = idx.config("", &rare_section("first", "first {process.name}"));
    assert_eq!(esoutliers(&["run", "--config", path_str(&first)]).code, 0);
    assert_eq!(
        idx.snapshot()["rare"].1["outliers"]["model_name"],
        json!(["first"])
    );

    // es_wipe_all_existing_outliers: the first use case's entry goes, the second's comes.
    let second = idx.config(
        "es_wipe_all_existing_outliers=1",
        &rare_section("second", "second {process.name}"),
    );
    let run = esoutliers(&["run", "--config", path_str(&second)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let o = &idx.snapshot()["rare"].1["outliers"];
    assert_eq!(o["model_name"], json!(["second"]));
    assert_eq!(o["total_outliers"], json!(1));

    // es_wipe_all_whitelisted_outliers: a whitelist now covers the tagged event; its entry
    // is removed, and the run does not tag it again.
    let covered = idx.config(
        "es_wipe_all_whitelisted_outliers=1\n\n[whitelist_literals]\nknown=second cmd.exe",
        &rare_section("second", "second {process.name}"),
    );
    let run = esoutliers(&["run", "--config", path_str(&covered), "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let src = &idx.snapshot()["rare"].1;
    assert!(src.get("outliers").is_none(), "{src}");
    assert!(src.get("tags").is_none(), "{src}");
    assert_eq!(run.json()["use_cases"][0]["whitelisted_events"], 1);
}
