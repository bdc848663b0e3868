//! simplequery on the real node: what ee-outliers 0.2.17 wrote on the parity case
//! (`tests/parity/simplequery`, produced by running 0.2.17 itself; see its README) is what
//! esoutliers writes, field for field, except the one documented difference left (the
//! summary is not hard-wrapped at 150 columns); a second run changes nothing; without
//! whitelists and highlights no event crosses the network.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::harness::{esoutliers, path_str, TestIndex};

fn parity_file(name: &str) -> String {
    crate::harness::parity_file("simplequery", name)
}

fn parity_events() -> Vec<(String, Value)> {
    crate::harness::parity_events("simplequery")
}

#[test]
fn simplequery_writes_what_ee_outliers_0_2_17_wrote_and_a_rerun_changes_nothing() {
    let idx = TestIndex::new("sq-parity");
    idx.load(&parity_events());
    let sections = format!(
        "{}\n{}",
        parity_file("extra.conf"),
        parity_file("use_cases.conf")
    );
    let conf = idx.config("", &sections);
    let args = [
        "run",
        "--config",
        path_str(&conf),
        "--now",
        "2026-11-28T00:00:00Z",
        "--format",
        "json",
    ];
    let run = esoutliers(&args);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let expected: BTreeMap<String, Value> =
        serde_json::from_str(&parity_file("expected.json")).unwrap();
    let after = idx.snapshot();
    let tagged: Vec<String> = idx.tagged_ids();
    let mut want: Vec<String> = expected.keys().cloned().collect();
    want.sort();
    assert_eq!(tagged, want, "the same events are tagged");
    for (id, exp) in &expected {
        let got = &after[id].1;
        assert_eq!(got["tags"], exp["tags"], "{id}: tags");
        let mut exp_out = exp["outliers"].clone();
        if id == "sq-ps-long" {
            // Documented difference: ee-outliers hard-wraps summaries at 150 columns.
            let s = exp_out["summary"][0].as_str().unwrap().replace('\n', " ");
            exp_out["summary"] = json!([s]);
        }
        assert_eq!(got["outliers"], exp_out, "{id}: outliers");
    }
    let run2 = esoutliers(&args);
    assert_eq!(run2.code, 0, "{}", run2.stderr);
    assert_eq!(idx.snapshot(), after, "a second run changes nothing");
    // The second run left the events already carrying the entry out of the count
    // (outliers.* are mapped with keyword sub-fields by dynamic mapping): only the two
    // whitelisted events still match, and nothing is tagged.
    let report = run2.json();
    let uc = &report["use_cases"][0];
    assert_eq!(uc["events_in_window"], 2, "{report}");
    assert_eq!(uc["whitelisted_events"], 2, "{report}");
    assert!(uc["tagging"].is_null(), "{report}");
}

#[test]
fn without_whitelists_or_highlights_no_event_crosses_the_network() {
    let idx = TestIndex::new("sq-bytes");
    let n = 100_000;
    let docs: Vec<(String, Value)> = (0..n)
        .map(|i| {
            (
                format!("e{i}"),
                json!({ "@timestamp": "2026-11-27T10:00:00Z", "process": { "name": "powershell.exe" },
                        "padding": "x".repeat(200) }),
            )
        })
        .collect();
    idx.load(&docs);
    let conf = idx.config(
        "",
        "[simplequery_ps]\nes_query_filter=process.name:\"powershell.exe\"\noutlier_type=t\noutlier_reason=r\noutlier_summary=powershell\nrun_model=1\ntest_model=0\n",
    );
    let run = esoutliers(&[
        "run",
        "--config",
        path_str(&conf),
        "--now",
        "2026-11-28T00:00:00Z",
        "--dry-run",
        "--format",
        "json",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let uc = &run.json()["use_cases"][0];
    assert_eq!(uc["events_in_window"], n, "{uc}");
    assert_eq!(uc["outliers"][0]["term_count"], n, "{uc}");
    let bytes = uc["bytes_received"].as_u64().unwrap();
    // 100,000 events of ~300 bytes are ~30 MB; the count is a few hundred bytes.
    assert!(bytes < 10_000, "bytes received: {bytes}");
}

/// A terms entry and a simplequery entry on one event: their `outliers.*` arrays are out of
/// step (each model writes its own keys, and ee-outliers' format extends arrays with list
/// values such as a two-part `outlier_type`), so removing one use case's elements could cut
/// the other's: `untag` of one use case leaves such an event exactly as it is (as
/// ee-outliers' housekeeping only ever removes every entry of an event); `untag` of every
/// use case removes them all. (Two terms use cases stay in step: see
/// `tagging::two_use_cases_add_two_entries_and_untag_removes_one`.)
#[test]
fn untag_of_one_use_case_never_cuts_arrays_out_of_step() {
    use crate::harness::{hours_ago, process_event};
    let idx = TestIndex::new("sq-untag");
    let mut docs: Vec<(String, Value)> = (0..200)
        .map(|i| {
            (
                format!("a-{i}"),
                process_event("adobe.exe", "a.exe", &hours_ago(1.0), "process"),
            )
        })
        .collect();
    docs.push((
        "rare".into(),
        process_event("adobe.exe", "cmd.exe", &hours_ago(1.0), "process"),
    ));
    idx.load(&docs);
    let terms = "[terms_rare]\naggregator=process.parent.name\ntarget=process.name\ntarget_count_method=within_aggregator\ntrigger_on=low\ntrigger_method=pct_of_avg_value\ntrigger_sensitivity=10\noutlier_type=process execution\noutlier_reason=rare child\noutlier_summary=rare {process.name}\nrun_model=1\ntest_model=0\n";
    let sq = "[simplequery_cmd]\nes_query_filter=process.name:\"cmd.exe\"\noutlier_type=cmd, shell\noutlier_reason=cmd\noutlier_summary=cmd started\nrun_model=1\ntest_model=0\n";
    let conf = idx.config("", &format!("{terms}\n{sq}"));
    let run = esoutliers(&["run", "--config", path_str(&conf)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let before = idx.snapshot()["rare"].clone();
    let o = &before.1["outliers"];
    assert_eq!(o["model_name"], json!(["rare", "cmd"]), "{o}");
    assert_eq!(
        o["type"],
        json!(["process execution", "cmd", "shell"]),
        "{o}"
    );
    for one in ["terms_rare", "simplequery_cmd"] {
        let untag = esoutliers(&["untag", "--config", path_str(&conf), "--use-case", one]);
        assert_eq!(untag.code, 0, "{}", untag.stderr);
        assert!(
            untag.stdout.contains("0 event(s) changed"),
            "{}",
            untag.stdout
        );
        assert_eq!(idx.snapshot()["rare"], before, "untag {one}: left as it is");
    }
    let untag = esoutliers(&["untag", "--config", path_str(&conf)]);
    assert_eq!(untag.code, 0, "{}", untag.stderr);
    let after = &idx.snapshot()["rare"].1;
    assert!(after.get("outliers").is_none(), "{after}");
    assert_eq!(after["process"]["name"], "cmd.exe");
}
