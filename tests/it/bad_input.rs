//! Bad input, as a table: each row is a clear error (or correct handling) with a non-zero
//! exit and nothing written.

use serde_json::{json, Value};

use crate::harness::{esoutliers, esoutliers_env, hours_ago, path_str, process_event, TestIndex};

const GOOD: &str = "[general]
es_index_pattern=logs-*
history_window_days=1

[terms_rare]
aggregator=process.parent.name
target=process.name
trigger_on=low
trigger_method=pct_of_avg_value
trigger_sensitivity=1
outlier_type=process execution
outlier_reason=rare child process
outlier_summary=rare {process.name}
";

#[test]
fn config_errors_name_file_line_section_and_key() {
    // (what is wrong, how to break GOOD, expected fragment of the message)
    let rows: [(&str, &str, &str, &str); 12] = [
        (
            "syntax",
            "trigger_on=low",
            "trigger_on low",
            ":8: [terms_rare]: line \"trigger_on low\" is neither",
        ),
        (
            "duplicate section",
            "[terms_rare]",
            "[terms_rare]\nrun_model=1\n[terms_rare]",
            "duplicate section; it is already defined at line 5",
        ),
        (
            "duplicate key",
            "trigger_on=low",
            "trigger_on=low\ntrigger_on=high",
            ":9: [terms_rare] trigger_on: duplicate key",
        ),
        (
            // An unknown key is copied into the outliers as ee-outliers does; a required
            // key spelled wrong is named with the line that looks like it.
            "misspelt required key",
            "trigger_on=low",
            "trigger_onn=low",
            "[terms_rare] trigger_on: missing (line 8 sets trigger_onn",
        ),
        (
            "wrong type",
            "history_window_days=1",
            "history_window_days=one",
            ":3: [general] history_window_days: \"one\" is not a whole number",
        ),
        (
            "empty value",
            "outlier_reason=rare child process",
            "outlier_reason=",
            ":12: [terms_rare] outlier_reason: empty",
        ),
        (
            "unknown method",
            "trigger_method=pct_of_avg_value",
            "trigger_method=average",
            ":9: [terms_rare] trigger_method: unknown trigger_method \"average\"",
        ),
        (
            "sensitivity out of range",
            "trigger_method=pct_of_avg_value",
            "trigger_method=percentile\ntrigger_sensitivity=150",
            "trigger_sensitivity: 150 must be a percentile from 0 to 100",
        ),
        (
            "regex",
            "[terms_rare]",
            "[whitelist_regexps]\nbad=[unclosed\n\n[terms_rare]",
            ":6: [whitelist_regexps] bad: regular expression \"[unclosed\" does not compile",
        ),
        (
            "dsl not json",
            "trigger_on=low",
            "trigger_on=low\nes_dsl_filter={\"term\": }",
            "[terms_rare] es_dsl_filter: not valid JSON",
        ),
        (
            "unknown count method",
            "trigger_on=low",
            "trigger_on=low\ntarget_count_method=sideways",
            "target_count_method: unknown target_count_method \"sideways\"",
        ),
        (
            "missing target",
            "target=process.name\n",
            "",
            "[terms_rare] target: missing",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (what, from, to, expected) in rows {
        let text = if what == "sensitivity out of range" {
            GOOD.replace(from, "trigger_method=percentile")
                .replace("trigger_sensitivity=1", "trigger_sensitivity=150")
        } else {
            GOOD.replacen(from, to, 1)
        };
        assert_ne!(text, GOOD, "row {what} changed nothing");
        let path = dir.path().join(format!("{}.conf", what.replace(' ', "_")));
        std::fs::write(&path, &text).unwrap();
        let run = esoutliers_env(
            &["check", "--config", path_str(&path)],
            &[("ES_URL", "http://127.0.0.1:9")],
        );
        assert_eq!(run.code, 2, "row {what}: {}", run.stderr);
        let want = if expected.starts_with(':') {
            format!("{}{expected}", path.display())
        } else {
            expected.to_string()
        };
        assert!(
            run.stderr.contains(&want),
            "row {what}: expected {want:?} in\n{}",
            run.stderr
        );
    }
}

/// The use case section of [`GOOD`] with `float`, `low`, `sensitivity`: pairs counted
/// fewer than `sensitivity` times are outliers.
fn float_low(sensitivity: u32) -> String {
    GOOD.split_once("\n\n")
        .unwrap()
        .1
        .replace("trigger_method=pct_of_avg_value", "trigger_method=float")
        .replace(
            "trigger_sensitivity=1",
            &format!("trigger_sensitivity={sensitivity}"),
        )
}

fn one_rare(idx: &TestIndex) {
    let mut d: Vec<(String, Value)> = (0..200)
        .map(|i| {
            (
                format!("u{i}"),
                process_event("winword.exe", "splwow64.exe", &hours_ago(1.0), "process"),
            )
        })
        .collect();
    d.push((
        "rare".into(),
        process_event("winword.exe", "cmd.exe", &hours_ago(1.0), "process"),
    ));
    idx.load(&d);
}

#[test]
fn cluster_side_problems_name_the_index_and_field() {
    let idx = TestIndex::new("clusterbad");
    one_rare(&idx);
    let section = GOOD.split_once("\n\n").unwrap().1.to_string();
    // (what, config section, expected fragment)
    let rows = [(
        "field missing from the mapping",
        section.replace("target=process.name", "target=process.nmae"),
        format!(
            "field process.nmae is not in the mapping of any index matching {}",
            idx.name
        ),
    )];
    for (what, sec, expected) in rows {
        let conf = idx.config("", &sec);
        let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
        assert_eq!(run.code, 1, "row {what}: {}", run.stderr);
        let err = run.json()["use_cases"][0]["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(
            err.contains(&expected) && err.contains(&idx.name),
            "row {what}: {err}"
        );
    }
    assert!(idx.tagged_ids().is_empty());
    // A summary field missing from the mapping is not a failure (issue 17, item 8): as
    // ee-outliers, the summary says the field was not found in the event.
    let conf = idx.config(
        "",
        &section.replace("rare {process.name}", "rare {process.nmae}"),
    );
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        idx.snapshot()["rare"].1["outliers"]["summary"],
        serde_json::json!(["rare {field process.nmae not found in event}"])
    );
    // An index pattern that matches nothing.
    let conf = idx.dir.path().join("none.conf");
    std::fs::write(&conf, GOOD.replace("logs-*", "no-such-index-*")).unwrap();
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(run.code, 1);
    assert!(run.json()["use_cases"][0]["error"]
        .as_str()
        .unwrap()
        .contains("no-such-index-* matches no index"));
}

#[test]
fn an_outliers_field_of_unexpected_shape_is_reported_and_left_as_it_is() {
    // Three events of one rare pair, in one tagging request: one with `outliers` a
    // string, one with `outliers.summary` a string of another use case, one plain. The
    // odd ones are left exactly as they were and named in the report; the plain one is
    // still tagged (the odd ones do not stop the request); exit 1.
    let idx = TestIndex::new("shape");
    let mut d: Vec<(String, Value)> = (0..200)
        .map(|i| {
            (
                format!("u{i}"),
                process_event("winword.exe", "splwow64.exe", &hours_ago(1.0), "process"),
            )
        })
        .collect();
    let mut odd = process_event("winword.exe", "cmd.exe", &hours_ago(1.0), "process");
    odd["outliers"] = json!("legacy-string");
    let mut odd_summary = process_event("winword.exe", "cmd.exe", &hours_ago(1.0), "process");
    odd_summary["outliers"] = json!({ "summary": "from another tool", "model_name": "other" });
    d.push(("odd".into(), odd.clone()));
    d.push(("odd-summary".into(), odd_summary.clone()));
    d.push((
        "plain".into(),
        process_event("winword.exe", "cmd.exe", &hours_ago(1.0), "process"),
    ));
    // `outliers` is an object in the mapping (the plain event gets object fields); the
    // string one is indexed into an index whose mapping maps `outliers` to nothing.
    let c = reqwest::blocking::Client::new();
    let r = c
        .put(format!("{}/{}/_mapping", idx.url, idx.name))
        .json(&json!({ "properties": { "outliers": { "type": "object", "enabled": false } } }))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().unwrap());
    idx.load(&d);
    let section = float_low(4);
    let conf = idx.config("", &section);
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let uc = run.json()["use_cases"][0].clone();
    let tagging = &uc["tagging"];
    assert_eq!(tagging["requests"], 1, "{tagging}");
    assert_eq!(tagging["checked"], 3, "{tagging}");
    assert_eq!(tagging["verified"], 1, "{tagging}");
    let failures: Vec<String> = tagging["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        failures,
        vec![
            format!(
                "{} (document odd): its outliers field is not an object; left unchanged",
                idx.name
            ),
            format!(
                "{} (document odd-summary): its outliers.summary is not a list; left unchanged",
                idx.name
            ),
        ],
        "{tagging}"
    );
    let after = idx.snapshot();
    assert_eq!(after["odd"].1, odd, "the odd document is unchanged");
    assert_eq!(after["odd-summary"].1, odd_summary, "unchanged");
    assert_eq!(after["plain"].1["outliers"]["model_name"], json!(["rare"]));
    assert_eq!(idx.tagged_ids(), vec!["plain".to_string()]);
}

#[test]
fn a_million_distinct_pairs_are_counted_exactly_and_only_the_rare_one_is_tagged() {
    // Two events whose parent and child are lists of 1,000 values each: composite gives
    // every combination, 1,000,000 distinct pairs of count 2 (16 pages at the default
    // search.max_buckets). One more event adds a pair of count 1. float, low, 2: only that
    // pair is below the frontier. The counts must be exact across all pages.
    let idx = TestIndex::new("million");
    let parents: Vec<String> = (0..1000).map(|i| format!("parent{i:04}.exe")).collect();
    let children: Vec<String> = (0..1000).map(|i| format!("child{i:04}.exe")).collect();
    let wide = |id: &str| {
        let mut e = process_event("x", "x", &hours_ago(1.0), "process");
        e["process"]["parent"]["name"] = json!(parents);
        e["process"]["name"] = json!(children);
        (id.to_string(), e)
    };
    idx.load(&[
        wide("wide-1"),
        wide("wide-2"),
        (
            "rare".to_string(),
            process_event("parent0500.exe", "rare.exe", &hours_ago(1.0), "process"),
        ),
    ]);
    let section = float_low(2);
    let conf = idx.config("", &section);
    let run = esoutliers(&["run", "--config", path_str(&conf), "--format", "json"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let uc = &run.json()["use_cases"][0];
    assert_eq!(uc["buckets_read"], 1_000_001, "{uc}");
    assert!(uc["pages"].as_u64().unwrap() >= 16, "{uc}");
    let outliers = uc["outliers"].as_array().unwrap();
    assert_eq!(outliers.len(), 1, "{uc}");
    assert_eq!(outliers[0]["aggregator"], "parent0500.exe");
    assert_eq!(outliers[0]["target"], "rare.exe");
    assert_eq!(outliers[0]["term_count"], 1);
    assert_eq!(idx.tagged_ids(), vec!["rare".to_string()]);
}
