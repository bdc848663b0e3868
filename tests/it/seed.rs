//! The seed use case end to end on the real node: rare child process per parent,
//! `pct_of_avg_value`, `within_aggregator` (SPEC section 1).

use serde_json::{json, Value};

use crate::harness::{esoutliers, hours_ago, path_str, process_event, TestIndex};

const RARE_CHILD: &str = "[terms_rare_child]
es_query_filter=event.category:process
aggregator=process.parent.name
target=process.name
target_count_method=within_aggregator
trigger_on=low
trigger_method=pct_of_avg_value
trigger_sensitivity=1
outlier_type=process execution
outlier_reason=rare child process
outlier_summary=rare child process {process.name} for {process.parent.name}
run_model=1
test_model=0
";

/// adobe.exe: a.exe x200, b.exe x150, cmd.exe x1 -> mean 117, frontier 1.17: cmd.exe is rare.
/// office.exe: x.exe x199, y.exe x1 -> mean 100, frontier exactly 1: y.exe is NOT (strict).
/// Plus events that must be neither counted nor tagged: adobe.exe -> cmd.exe 40 days ago
/// (outside the 30-day window) and with event.category network (fails the filter).
fn seed_events() -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    let mut add = |id: String, parent: &str, child: &str, ts: String, cat: &str| {
        docs.push((id, process_event(parent, child, &ts, cat)));
    };
    for i in 0..200 {
        add(
            format!("adobe-a-{i}"),
            "adobe.exe",
            "a.exe",
            hours_ago(1.0 + i as f64),
            "process",
        );
    }
    for i in 0..150 {
        add(
            format!("adobe-b-{i}"),
            "adobe.exe",
            "b.exe",
            hours_ago(2.0 + i as f64),
            "process",
        );
    }
    add(
        "adobe-cmd-in".into(),
        "adobe.exe",
        "cmd.exe",
        hours_ago(5.0),
        "process",
    );
    add(
        "adobe-cmd-old".into(),
        "adobe.exe",
        "cmd.exe",
        hours_ago(40.0 * 24.0),
        "process",
    );
    add(
        "adobe-cmd-net".into(),
        "adobe.exe",
        "cmd.exe",
        hours_ago(6.0),
        "network",
    );
    for i in 0..199 {
        add(
            format!("office-x-{i}"),
            "office.exe",
            "x.exe",
            hours_ago(1.0 + i as f64),
            "process",
        );
    }
    add(
        "office-y-0".into(),
        "office.exe",
        "y.exe",
        hours_ago(3.0),
        "process",
    );
    docs
}

#[test]
fn only_the_rare_child_in_the_window_is_tagged() {
    let idx = TestIndex::new("seed");
    idx.load(&seed_events());
    let conf = idx.config("es_save_results=1", RARE_CHILD);
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert_eq!(idx.tagged_ids(), vec!["adobe-cmd-in".to_string()]);

    let report = run.json();
    let uc = &report["use_cases"][0];
    // 200 + 150 + 1 + 199 + 1 events in the window pass the filter.
    assert_eq!(uc["events_in_window"], json!(551));
    assert_eq!(uc["buckets_read"], json!(5));
    let outliers = uc["outliers"].as_array().unwrap();
    assert_eq!(outliers.len(), 1);
    assert_eq!(outliers[0]["aggregator"], "adobe.exe");
    assert_eq!(outliers[0]["target"], "cmd.exe");
    assert_eq!(outliers[0]["term_count"], 1);
    assert!((outliers[0]["average"].as_f64().unwrap() - 117.0).abs() < 1e-9);
    assert!((outliers[0]["decision_frontier"].as_f64().unwrap() - 1.17).abs() < 1e-9);
    assert_eq!(uc["tagging"]["updated"], 1);
    assert!(uc["bytes_received"].as_u64().unwrap() > 0);
}

#[test]
fn tagged_event_carries_ee_outliers_fields() {
    let idx = TestIndex::new("fields");
    idx.load(&seed_events());
    let conf = idx.config("", RARE_CHILD);
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let docs = idx.snapshot();
    let src = &docs["adobe-cmd-in"].1;
    assert_eq!(src["tags"], json!(["outlier"]));
    let o = &src["outliers"];
    assert_eq!(o["type"], json!(["process execution"]));
    assert_eq!(o["reason"], json!(["rare child process"]));
    assert_eq!(
        o["summary"],
        json!(["rare child process cmd.exe for adobe.exe"])
    );
    assert_eq!(o["model_name"], json!(["rare_child"]));
    assert_eq!(o["model_type"], json!(["terms"]));
    assert_eq!(o["aggregator"], json!(["adobe.exe"]));
    assert_eq!(o["term"], json!(["cmd.exe"]));
    assert_eq!(o["term_count"], json!([1]));
    assert_eq!(o["trigger_method"], json!(["pct_of_avg_value"]));
    // One comma-joined string per entry, as ee-outliers writes it.
    assert_eq!(o["non_outlier_values_sample"], json!(["a.exe,b.exe"]));
    assert_eq!(o["total_outliers"], json!(1));
    let frontier = o["decision_frontier"][0].as_f64().unwrap();
    assert!((frontier - 1.17).abs() < 1e-9, "{frontier}");
    // The original fields are untouched.
    assert_eq!(src["process"]["name"], "cmd.exe");
    assert_eq!(src["event"]["category"], "process");
}

#[test]
fn running_twice_leaves_the_index_as_one_run_did() {
    let idx = TestIndex::new("twice");
    idx.load(&seed_events());
    let conf = idx.config("", RARE_CHILD);
    let first = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(first.code, 0, "stderr: {}", first.stderr);
    let after_one = idx.snapshot();
    let second = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(second.code, 0, "stderr: {}", second.stderr);
    let after_two = idx.snapshot();
    assert_eq!(
        after_one, after_two,
        "second run changed documents (compare _seq_no and _source)"
    );
    let t = &second.json()["use_cases"][0]["tagging"];
    assert_eq!(t["updated"], 0);
    assert_eq!(t["noops"], 1);
}

#[test]
fn save_results_off_writes_nothing() {
    let idx = TestIndex::new("nosave");
    idx.load(&seed_events());
    let before = idx.snapshot();
    let conf = idx.config("es_save_results=0", RARE_CHILD);
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    let report = run.json();
    assert_eq!(report["dry_run"], true);
    assert_eq!(
        report["use_cases"][0]["outliers"].as_array().unwrap().len(),
        1,
        "still detects"
    );
    assert!(report["use_cases"][0]["tagging"].is_null());
    assert_eq!(idx.snapshot(), before);
}

#[test]
fn dry_run_flag_writes_nothing() {
    let idx = TestIndex::new("dryrun");
    idx.load(&seed_events());
    let before = idx.snapshot();
    let conf = idx.config("", RARE_CHILD);
    let run = esoutliers(&["run", "--config", path_str(&conf), "--dry-run"]);
    assert_eq!(run.code, 0, "stderr: {}", run.stderr);
    assert!(run.stdout.contains("cmd.exe"), "{}", run.stdout);
    assert_eq!(idx.snapshot(), before);
}

#[test]
fn text_field_is_counted_through_its_keyword_sub_field_with_a_notice() {
    // ee-outliers reads _source, so a text field works there; esoutliers counts it
    // through its keyword multi-field and says so (issue 17, item 13).
    let idx = TestIndex::new("textfield");
    // A second index with dynamic default mapping (text + .keyword) for the same data.
    let c = reqwest::blocking::Client::new();
    let url = crate::harness::es_url();
    let name = format!("{}-text", idx.name);
    let body = format!(
        "{}\n{}\n",
        json!({"index": {"_id": "1"}}),
        process_event("adobe.exe", "cmd.exe", &hours_ago(1.0), "process")
    );
    let r = c
        .post(format!("{url}/{name}/_bulk?refresh=true"))
        .header("Content-Type", "application/x-ndjson")
        .body(body)
        .send()
        .unwrap();
    assert!(r.status().is_success());
    let conf = idx.dir.path().join("text.conf");
    std::fs::write(
        &conf,
        format!("[general]\nes_index_pattern={name}\nhistory_window_days=1\n\n{RARE_CHILD}"),
    )
    .unwrap();
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    let _ = c.delete(format!("{url}/{name}")).send();
    assert_eq!(
        run.code, 0,
        "stdout: {}\nstderr: {}",
        run.stdout, run.stderr
    );
    for f in ["process.parent.name", "process.name"] {
        assert!(
            run.stderr.contains(&format!(
                "field {f} is a text field; counted through its keyword sub-field {f}.keyword"
            )),
            "{}",
            run.stderr
        );
    }
    assert!(run.json()["use_cases"][0]["error"].is_null());
}

#[test]
fn unreachable_cluster_names_the_url_and_exits_3() {
    let idx = TestIndex::new("unreach");
    let conf = idx.config("", RARE_CHILD);
    let run = crate::harness::esoutliers_env(
        &["run", "--config", path_str(&conf)],
        &[("ES_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("http://127.0.0.1:9"), "{}", run.stderr);
}

#[test]
fn config_error_names_file_line_section_key_and_exits_2() {
    let idx = TestIndex::new("badconf");
    let conf = idx.config(
        "",
        &RARE_CHILD.replace("trigger_method=pct_of_avg_value", "trigger_method=pct_avg"),
    );
    let run = esoutliers(&["run", "--config", path_str(&conf)]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    // [general] has 5 lines + 1 extra + blank; the section starts at line 9, the key is its 7th line.
    let line = std::fs::read_to_string(&conf)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("trigger_method"))
        .unwrap()
        + 1;
    let expected = format!(
        "{}:{line}: [terms_rare_child] trigger_method",
        conf.display()
    );
    assert!(
        run.stderr.contains(&expected),
        "expected {expected:?} in {}",
        run.stderr
    );
    assert!(idx.tagged_ids().is_empty());
}

#[test]
fn pages_are_as_large_as_the_cluster_allows() {
    // 12,000 distinct pairs: more than the 10,000 fallback page, fewer than the cluster's
    // search.max_buckets (65,535 on 7.10): one page when the limit was read from the node.
    let idx = TestIndex::new("pagesize");
    let docs: Vec<(String, Value)> = (0..12_000)
        .map(|i| {
            (
                format!("d{i}"),
                process_event(
                    &format!("p{}.exe", i % 3),
                    &format!("c{i}.exe"),
                    &hours_ago(1.0),
                    "process",
                ),
            )
        })
        .collect();
    idx.load(&docs);
    let conf = idx.config("", RARE_CHILD);
    let run = esoutliers(&[
        "run",
        "--config",
        path_str(&conf),
        "--format",
        "json",
        "--dry-run",
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let uc = &run.json()["use_cases"][0];
    assert_eq!(uc["buckets_read"], 12_000);
    assert_eq!(uc["pages"], 1, "{uc}");
}

#[test]
fn several_shards_give_the_same_result_and_slices_tag_exactly() {
    // The same events in a 3-shard index: composite counts merge across shards, and
    // _update_by_query with slices=auto runs one slice per shard.
    let idx = TestIndex::with_shards("shards", 3);
    idx.load(&seed_events());
    let conf = idx.config("", RARE_CHILD);
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(idx.tagged_ids(), vec!["adobe-cmd-in".to_string()]);
    let uc = &run.json()["use_cases"][0];
    assert_eq!(uc["events_in_window"], json!(551));
    assert!((uc["outliers"][0]["decision_frontier"].as_f64().unwrap() - 1.17).abs() < 1e-9);
}
