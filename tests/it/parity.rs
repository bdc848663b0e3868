//! Terms parity with ee-outliers 0.2.17 on the real node (issue 17).
//!
//! 1. The parity case `tests/parity/terms` (what 0.2.17 itself wrote) is matched field for
//!    field; `non_outlier_values_sample` is compared as a set of values (0.2.17 picks them
//!    at random, esoutliers deterministically: README, deliberate differences). An event
//!    that 0.2.17 tagged (in exactly its shape) is left unchanged, and a second run
//!    changes nothing.
//! 2. A table: one case per numbered item of the issue and per deliberate difference.
//!    Events are written by hand; the expected `outliers.*` follow 0.2.17's rules
//!    (`helpers/analyzer.py`, `helpers/utils.py`, `helpers/outlier.py`,
//!    `analyzers/terms.py`), or, for a deliberate difference, what esoutliers does instead
//!    (the case says what 0.2.17 would write).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{json, Value};

use crate::harness::{es_url, esoutliers, path_str, TestIndex};

const NOW: &str = "2026-11-28T00:00:00Z";

fn parity_file(name: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/parity/terms")
        .join(name);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn run(idx: &TestIndex, general: &str, sections: &str) -> crate::harness::Run {
    let conf = idx.config(general, sections);
    esoutliers(&[
        "run",
        "--config",
        path_str(&conf),
        "--now",
        NOW,
        "--format",
        "json",
    ])
}

/// The values of a `non_outlier_values_sample` array as a set (each element is a
/// `,`-joined string).
fn sample_set(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .flat_map(|s| s.split(',').map(str::to_string))
        .collect()
}

#[test]
fn terms_writes_what_ee_outliers_0_2_17_wrote_and_leaves_its_own_entries_alone() {
    let expected: BTreeMap<String, Value> =
        serde_json::from_str(&parity_file("expected.json")).unwrap();
    let idx = TestIndex::new("parity-terms");
    // t-cmd comes already tagged by 0.2.17 (its document exactly as 0.2.17 left it).
    let events: Vec<(String, Value)> = parity_file("events.jsonl")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut v: Value = serde_json::from_str(l).unwrap();
            let id = v["event"]["id"].as_str().unwrap().to_string();
            if id == "t-cmd" {
                v["outliers"] = expected[&id]["outliers"].clone();
                v["tags"] = expected[&id]["tags"].clone();
            }
            (id, v)
        })
        .collect();
    idx.load(&events);
    let before = idx.snapshot();
    let r = run(&idx, "", &parity_file("use_cases.conf"));
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let after = idx.snapshot();
    assert_eq!(
        after["t-cmd"], before["t-cmd"],
        "an event 0.2.17 tagged for this use case is a noop"
    );
    let mut want: Vec<String> = expected.keys().cloned().collect();
    want.sort();
    assert_eq!(idx.tagged_ids(), want, "the same events are tagged");
    for (id, exp) in &expected {
        let got = &after[id].1;
        assert_eq!(got["tags"], exp["tags"], "{id}: tags");
        let (mut g, mut e) = (got["outliers"].clone(), exp["outliers"].clone());
        assert_eq!(
            sample_set(&g["non_outlier_values_sample"]),
            sample_set(&e["non_outlier_values_sample"]),
            "{id}: the same non-outlier values (order is 0.2.17's random draw)"
        );
        assert_eq!(
            g["non_outlier_values_sample"].as_array().map(Vec::len),
            e["non_outlier_values_sample"].as_array().map(Vec::len),
            "{id}: one string per entry that has a sample, nothing for an empty one"
        );
        g.as_object_mut()
            .unwrap()
            .remove("non_outlier_values_sample");
        e.as_object_mut()
            .unwrap()
            .remove("non_outlier_values_sample");
        assert_eq!(g, e, "{id}: outliers");
    }
    let r2 = run(&idx, "", &parity_file("use_cases.conf"));
    assert_eq!(r2.code, 0, "{}", r2.stderr);
    assert_eq!(idx.snapshot(), after, "a second run changes nothing");
}

/// One event: `@timestamp` on the day before NOW, parent/child process names, host, user.
fn ev(id: &str, parent: &str, child: Value, host: &str, user: &str) -> (String, Value) {
    (
        id.to_string(),
        json!({ "@timestamp": "2026-11-27T10:00:00Z", "host": { "name": host },
                "user": { "name": user },
                "process": { "name": child, "parent": { "name": parent } } }),
    )
}

/// `n` events of one (parent, child) pair.
fn many(prefix: &str, parent: &str, child: &str, n: usize) -> Vec<(String, Value)> {
    (0..n)
        .map(|i| {
            ev(
                &format!("{prefix}-{i}"),
                parent,
                json!(child),
                "ws-01",
                "alice",
            )
        })
        .collect()
}

/// A terms section on the process fields (within_aggregator unless `extra` says
/// otherwise).
fn section(name: &str, extra: &str) -> String {
    format!(
        "[terms_{name}]\nes_query_filter=_exists_:process.parent.name\naggregator=process.parent.name\ntarget=process.name\n\
         target_count_method=within_aggregator\ntrigger_on=low\ntrigger_method=pct_of_avg_value\ntrigger_sensitivity=50\n\
         outlier_type=process execution\noutlier_reason=rare child\noutlier_summary=rare {{process.name}} for {{process.parent.name}}\n\
         run_model=1\ntest_model=0\n{extra}\n"
    )
}

/// An across_aggregators section: hosts by their distinct users.
fn across(name: &str, extra: &str) -> String {
    format!(
        "[terms_{name}]\nes_query_filter=_exists_:host.name\naggregator=host.name\ntarget=user.name\n\
         target_count_method=across_aggregators\noutlier_type=account\noutlier_reason=users per host\n\
         outlier_summary=host {{host.name}}\nrun_model=1\ntest_model=0\n{extra}\n"
    )
}

/// A within entry as 0.2.17 writes it for these sections, with `over` replacing keys.
fn entry(model: &str, agg: &str, term: &str, count: u64, frontier: f64, over: Value) -> Value {
    let mut e = json!({
        "type": ["process execution"], "reason": ["rare child"],
        "summary": [format!("rare {term} for {agg}")],
        "elasticsearch_filter": ["_exists_:process.parent.name"],
        "model_name": [model], "model_type": ["terms"],
        "aggregator": [agg], "term": [term], "term_count": [count],
        "decision_frontier": [frontier], "trigger_method": ["pct_of_avg_value"],
        "non_outlier_values_sample": [], "total_outliers": 1
    });
    for (k, v) in over.as_object().unwrap() {
        e[k] = v.clone();
    }
    e
}

/// What a case expects.
enum Expect {
    /// Exit 0; exactly these events tagged, with exactly these `outliers`.
    Tagged(Vec<(&'static str, Value)>),
    /// The use case fails; the output names these words.
    Fails(Vec<&'static str>),
}

struct Case {
    name: &'static str,
    /// Mapping properties put before loading (`None`: keyword for every string).
    mapping: Option<Value>,
    events: Vec<(String, Value)>,
    general: &'static str,
    sections: String,
    expect: Expect,
}

fn cases() -> Vec<Case> {
    // explorer.exe: chrome 4, outlook 3, cmd 1 -> mean 8/3, 50% = 1.333: cmd flagged;
    // sample (most frequent first) "chrome.exe,outlook.exe".
    let base = || {
        let mut e = many("chrome", "explorer.exe", "chrome.exe", 4);
        e.extend(many("outlook", "explorer.exe", "outlook.exe", 3));
        e
    };
    let frontier = 8.0 / 3.0 * 0.5;
    let sample = json!(["chrome.exe,outlook.exe"]);
    let with = |extra: Vec<(String, Value)>| {
        let mut e = base();
        e.extend(extra);
        e
    };
    let cmd = || ev("cmd", "explorer.exe", json!("cmd.exe"), "ws-01", "alice");
    vec![
        Case {
            name: "1-elasticsearch-filter-of-a-dsl-filter",
            mapping: None,
            events: with(vec![cmd()]),
            general: "",
            sections: section("dsl", "")
                .replace("es_query_filter=_exists_:process.parent.name", r#"es_dsl_filter={"exists": {"field": "process.parent.name"}}"#),
            expect: Expect::Tagged(vec![(
                "cmd",
                entry("dsl", "explorer.exe", "cmd.exe", 1, frontier, json!({
                    "elasticsearch_filter": [r#"{"exists": {"field": "process.parent.name"}}"#],
                    "non_outlier_values_sample": sample })),
            )]),
        },
        Case {
            name: "2-sample-one-string-or-nothing",
            mapping: None,
            // counts a 1, b 2: mean 1.5, 100% = 1.5: a flagged, sample "b.exe".
            events: vec![
                ev("a", "p.exe", json!("a.exe"), "ws-01", "alice"),
                ev("b1", "p.exe", json!("b.exe"), "ws-01", "alice"),
                ev("b2", "p.exe", json!("b.exe"), "ws-01", "alice"),
            ],
            general: "",
            sections: section("s", "").replace("trigger_sensitivity=50", "trigger_sensitivity=100"),
            expect: Expect::Tagged(vec![(
                "a",
                entry("s", "p.exe", "a.exe", 1, 1.5, json!({ "non_outlier_values_sample": ["b.exe"] })),
            )]),
        },
        Case {
            name: "3-coeff-of-variation-frontier-is-the-ratio",
            mapping: None,
            // counts [1, 3]: pstdev 1 / mean 2 = 0.5 < 1 (low): every pair, frontier 0.5.
            events: {
                let mut e = many("x", "p.exe", "x.exe", 3);
                e.push(ev("y", "p.exe", json!("y.exe"), "ws-01", "alice"));
                e
            },
            general: "",
            sections: section("cov", "")
                .replace("trigger_method=pct_of_avg_value", "trigger_method=coeff_of_variation")
                .replace("trigger_sensitivity=50", "trigger_sensitivity=1"),
            expect: Expect::Tagged(
                ["x-0", "x-1", "x-2"]
                    .iter()
                    .map(|id| (*id, entry("cov", "p.exe", "x.exe", 3, 0.5, json!({ "trigger_method": ["coeff_of_variation"] }))))
                    .chain([("y", entry("cov", "p.exe", "y.exe", 1, 0.5, json!({ "trigger_method": ["coeff_of_variation"] })))])
                    .collect(),
            ),
        },
        Case {
            name: "4-min-target-buckets-ignored-across",
            mapping: None,
            // hosts: ws-01 1 user, ws-02 3 users; float 2 high: ws-02, although
            // min_target_buckets=5 would leave both out under within.
            events: vec![
                ev("h1", "p", json!("c"), "ws-01", "alice"),
                ev("h2a", "p", json!("c"), "ws-02", "alice"),
                ev("h2b", "p", json!("c"), "ws-02", "bob"),
                ev("h2c", "p", json!("c"), "ws-02", "carol"),
            ],
            general: "",
            sections: across("mtb", "trigger_on=high\ntrigger_method=float\ntrigger_sensitivity=2\nmin_target_buckets=5"),
            expect: Expect::Tagged(
                [("h2a", "alice"), ("h2b", "bob"), ("h2c", "carol")]
                    .iter()
                    .map(|(id, u)| (*id, json!({
                        "type": ["account"], "reason": ["users per host"], "summary": ["host ws-02"],
                        "elasticsearch_filter": ["_exists_:host.name"], "model_name": ["mtb"], "model_type": ["terms"],
                        "aggregator": ["ws-02"], "term": [u], "term_count": [3], "decision_frontier": [2.0],
                        "trigger_method": ["float"], "non_outlier_values_sample": [], "total_outliers": 1 })))
                    .collect(),
            ),
        },
        Case {
            name: "5-across-aggregator-emptied-by-a-whitelist-stays-at-zero",
            mapping: None,
            // users per host [1, 2, 3, 3], low 80% of 2.25 = 1.8: ws-01 (1), whose one
            // event is whitelisted. Again with ws-01 at 0: [0, 2, 3, 3], 80% of 2 = 1.6:
            // nothing. (Dropping ws-01 would give [2, 3, 3], 2.13: ws-02 flagged.)
            events: vec![
                ev("w1", "p", json!("c"), "ws-01", "svc-backup"),
                ev("w2a", "p", json!("c"), "ws-02", "alice"),
                ev("w2b", "p", json!("c"), "ws-02", "bob"),
                ev("w3a", "p", json!("c"), "ws-03", "alice"),
                ev("w3b", "p", json!("c"), "ws-03", "bob"),
                ev("w3c", "p", json!("c"), "ws-03", "carol"),
                ev("w4a", "p", json!("c"), "ws-04", "alice"),
                ev("w4b", "p", json!("c"), "ws-04", "bob"),
                ev("w4c", "p", json!("c"), "ws-04", "carol"),
            ],
            general: "",
            sections: across("emptied", "trigger_on=low\ntrigger_method=pct_of_avg_value\ntrigger_sensitivity=80\nwhitelist_literals_backup=svc-backup"),
            expect: Expect::Tagged(vec![]),
        },
        Case {
            name: "6-type-and-reason-split-on-commas",
            mapping: None,
            events: with(vec![cmd()]),
            general: "",
            sections: section("split", "")
                .replace("outlier_type=process execution", "outlier_type=process execution,  rare ,lolbin")
                .replace("outlier_reason=rare child", "outlier_reason=rare child,parent {process.parent.name}"),
            expect: Expect::Tagged(vec![(
                "cmd",
                entry("split", "explorer.exe", "cmd.exe", 1, frontier, json!({
                    "type": ["process execution", "rare", "lolbin"],
                    "reason": ["rare child", "parent explorer.exe"],
                    "non_outlier_values_sample": sample })),
            )]),
        },
        Case {
            name: "7-summary-wrapped-python-str-and-a-list-rendered-whole",
            mapping: None,
            // The list event is rare for both its children: two pairs, one summary, one
            // entry (the first child's). The long one is wrapped at 150 columns.
            events: with(vec![
                ("list".to_string(), json!({ "@timestamp": "2026-11-27T10:00:00Z", "host": { "name": "ws-01" },
                    "process": { "name": ["cmd.exe", "extra.exe"], "parent": { "name": "explorer.exe" },
                                 "elevated": false, "command_line": "cmd.exe /c" } })),
                ("long".to_string(), json!({ "@timestamp": "2026-11-27T10:00:00Z", "host": { "name": "ws-01" },
                    "process": { "name": "powershell.exe", "parent": { "name": "explorer.exe" }, "elevated": false,
                                 "command_line": "powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\\Users\\alice\\AppData\\Local\\Temp\\update-check.ps1 -Server intranet.example.org -Retry 3 -Verbose" } })),
            ]),
            general: "",
            // chrome 4, outlook 3, cmd 1, extra 1, powershell 1: mean 2, 50% = 1: nothing
            // below 1; so 100%: 2 -> cmd, extra, powershell.
            sections: section("wrap", "")
                .replace("trigger_sensitivity=50", "trigger_sensitivity=100")
                .replace(
                    "outlier_summary=rare {process.name} for {process.parent.name}",
                    "outlier_summary=rare {process.name} for {process.parent.name} on {host.name} (elevated {process.elevated}): {process.command_line}",
                ),
            expect: Expect::Tagged(vec![
                ("list", entry("wrap", "explorer.exe", "cmd.exe", 1, 2.0, json!({
                    "summary": ["rare cmd.exe, extra.exe for explorer.exe on ws-01 (elevated False): cmd.exe /c"],
                    "non_outlier_values_sample": ["chrome.exe,outlook.exe"] }))),
                ("long", entry("wrap", "explorer.exe", "powershell.exe", 1, 2.0, json!({
                    "summary": ["rare powershell.exe for explorer.exe on ws-01 (elevated False): powershell.exe -NoProfile -ExecutionPolicy Bypass -File\nC:\\Users\\alice\\AppData\\Local\\Temp\\update-check.ps1 -Server intranet.example.org -Retry 3 -Verbose"],
                    "non_outlier_values_sample": ["chrome.exe,outlook.exe"] }))),
            ]),
        },
        Case {
            name: "8-placeholders-from-the-outlier-case-insensitive-missing-said",
            mapping: None,
            events: with(vec![cmd()]),
            general: "",
            sections: section("ph", "").replace(
                "outlier_summary=rare {process.name} for {process.parent.name}",
                "outlier_summary={term} x{term_count} under {aggregator} < {decision_frontier} by {trigger_method} ({model_name}/{model_type}) {Process.Parent.NAME} {no.such.field}",
            ),
            expect: Expect::Tagged(vec![(
                "cmd",
                entry("ph", "explorer.exe", "cmd.exe", 1, frontier, json!({
                    "summary": [format!("cmd.exe x1 under explorer.exe < {} by pct_of_avg_value (ph/terms) explorer.exe {{field no.such.field not found in event}}", frontier)],
                    "non_outlier_values_sample": sample })),
            )]),
        },
        Case {
            name: "9-unknown-keys-copied",
            mapping: None,
            events: with(vec![cmd()]),
            general: "",
            sections: section("copied", "mitre_technique=T1059\nOwner=SOC team"),
            expect: Expect::Tagged(vec![(
                "cmd",
                entry("copied", "explorer.exe", "cmd.exe", 1, frontier, json!({
                    "mitre_technique": ["T1059"], "owner": ["SOC team"],
                    "non_outlier_values_sample": sample })),
            )]),
        },
        Case {
            name: "10-field-names-case-insensitive",
            mapping: None,
            events: with(vec![cmd()]),
            general: "",
            sections: section("case", "")
                .replace("aggregator=process.parent.name", "aggregator=Process.Parent.Name")
                .replace("target=process.name", "target=PROCESS.name"),
            expect: Expect::Tagged(vec![(
                "cmd",
                entry("case", "explorer.exe", "cmd.exe", 1, frontier, json!({ "non_outlier_values_sample": sample })),
            )]),
        },
        Case {
            name: "10-two-fields-differing-only-by-case-are-an-error",
            mapping: None,
            events: with(vec![
                cmd(),
                ("upper".to_string(), json!({ "@timestamp": "2026-11-27T10:00:00Z",
                    "Process": { "name": "x.exe", "parent": { "name": "explorer.exe" } } })),
            ]),
            general: "",
            sections: section("ambiguous", ""),
            expect: Expect::Fails(vec!["process.parent.name", "Process.parent.name", "differ only by case"]),
        },
        Case {
            name: "12-two-use-cases-with-the-same-summary",
            mapping: None,
            events: with(vec![cmd()]),
            general: "",
            // The second finds the first's entry (same summary): one entry, exit 0.
            sections: format!("{}{}", section("first", ""), section("second", "")),
            expect: Expect::Tagged(vec![(
                "cmd",
                entry("first", "explorer.exe", "cmd.exe", 1, frontier, json!({ "non_outlier_values_sample": sample })),
            )]),
        },
        Case {
            name: "13-seed-config-on-text-fields-with-raw-sub-fields",
            mapping: Some(osquery_mapping(256)),
            events: osquery_events("adobe.exe"),
            general: "",
            sections: SEED.to_string(),
            expect: Expect::Tagged(vec![(
                "rare",
                json!({
                    "type": ["process execution"], "reason": ["rare child process"],
                    "summary": ["rare child process cmd.exe for adobe.exe"],
                    "elasticsearch_filter": [SEED_FILTER],
                    "model_name": ["rare_childname"], "model_type": ["terms"],
                    "aggregator": ["adobe.exe"], "term": ["cmd.exe"], "term_count": [1],
                    "decision_frontier": [1.25], "trigger_method": ["pct_of_avg_value"],
                    "non_outlier_values_sample": ["AcroRd32.exe"], "total_outliers": 1
                }),
            )]),
        },
        Case {
            name: "13-a-value-over-ignore-above-is-not-dropped-silently",
            mapping: Some(osquery_mapping(10)),
            events: osquery_events("a-very-long-parent-name.exe"),
            general: "",
            sections: SEED.to_string(),
            expect: Expect::Fails(vec!["OsqueryFilter.parentname.raw", "ignore_above"]),
        },
        Case {
            name: "difference-whole-window-not-batches",
            mapping: None,
            // 0.2.17 with terms_batch_eval_size=2 would judge cmd inside a batch of two
            // events; esoutliers evaluates the whole window at once.
            events: with(vec![cmd()]),
            general: "[terms]\nterms_batch_eval_size=2",
            sections: section("batch", ""),
            expect: Expect::Tagged(vec![(
                "cmd",
                entry("batch", "explorer.exe", "cmd.exe", 1, frontier, json!({ "non_outlier_values_sample": sample })),
            )]),
        },
        Case {
            name: "difference-coeff-of-variation-across-flags-by-the-ratio",
            mapping: None,
            // users per host [1, 3]: ratio 0.5, high 0.6: not above, nothing. 0.2.17
            // compares each count with the ratio (1 > 0.5, 3 > 0.5) and flags all four.
            events: vec![
                ev("c1", "p", json!("c"), "ws-01", "alice"),
                ev("c2a", "p", json!("c"), "ws-02", "alice"),
                ev("c2b", "p", json!("c"), "ws-02", "bob"),
                ev("c2c", "p", json!("c"), "ws-02", "carol"),
            ],
            general: "",
            sections: across("covacross", "trigger_on=high\ntrigger_method=coeff_of_variation\ntrigger_sensitivity=0.6"),
            expect: Expect::Tagged(vec![]),
        },
        Case {
            name: "difference-flat-dotted-keys-are-counted",
            mapping: None,
            // 0.2.17 finds no process.parent.name in these events and tags nothing.
            events: {
                let flat = |id: &str, child: &str| (id.to_string(), json!({ "@timestamp": "2026-11-27T10:00:00Z",
                    "process.parent.name": "svc.exe", "process.name": child }));
                // a.exe 4, b.exe 1: mean 2.5, 50% = 1.25.
                vec![flat("f1", "a.exe"), flat("f2", "a.exe"), flat("f3", "a.exe"), flat("f5", "a.exe"), flat("f4", "b.exe")]
            },
            general: "",
            sections: section("flat", ""),
            expect: Expect::Tagged(vec![(
                "f4",
                entry("flat", "svc.exe", "b.exe", 1, 1.25, json!({ "non_outlier_values_sample": ["a.exe"] })),
            )]),
        },
        Case {
            name: "difference-a-literal-none-whitelists-nothing",
            mapping: None,
            // 0.2.17 also matches the hit's metadata (_score: None), so `None` whitelists
            // every outlier there.
            events: with(vec![cmd()]),
            general: "",
            sections: section("none", "whitelist_literals_meta=None"),
            expect: Expect::Tagged(vec![(
                "cmd",
                entry("none", "explorer.exe", "cmd.exe", 1, frontier, json!({ "non_outlier_values_sample": sample })),
            )]),
        },
        Case {
            name: "difference-two-use-cases-keep-both-entries",
            mapping: None,
            // 0.2.17 in one run keeps only the last use case's entry (stale partial
            // update); esoutliers appends the second.
            events: with(vec![cmd()]),
            general: "",
            sections: format!(
                "{}{}",
                section("one", ""),
                section("two", "").replace("outlier_summary=rare {process.name} for {process.parent.name}", "outlier_summary=second look at {process.name}")
            ),
            expect: Expect::Tagged(vec![(
                "cmd",
                json!({
                    "type": ["process execution", "process execution"], "reason": ["rare child", "rare child"],
                    "summary": ["rare cmd.exe for explorer.exe", "second look at cmd.exe"],
                    "elasticsearch_filter": ["_exists_:process.parent.name", "_exists_:process.parent.name"],
                    "model_name": ["one", "two"], "model_type": ["terms", "terms"],
                    "aggregator": ["explorer.exe", "explorer.exe"], "term": ["cmd.exe", "cmd.exe"],
                    "term_count": [1, 1], "decision_frontier": [frontier, frontier],
                    "trigger_method": ["pct_of_avg_value", "pct_of_avg_value"],
                    "non_outlier_values_sample": ["chrome.exe,outlook.exe", "chrome.exe,outlook.exe"],
                    "total_outliers": 2
                }),
            )]),
        },
    ]
}

/// SPEC section 1's use case, pasted unchanged (the seed article's config).
const SEED: &str = r#"[terms_rare_childname]
es_query_filter=tags:endpoint AND meta.command.name:"get_all_processes_enriched" AND _exists_:OsqueryFilter.name AND _exists_:OsqueryFilter.parentname AND NOT OsqueryFilter.parentname.raw:""
aggregator=OsqueryFilter.parentname
target=OsqueryFilter.name
target_count_method=within_aggregator
trigger_on=low
trigger_method=pct_of_avg_value
trigger_sensitivity=1
outlier_type=process execution
outlier_reason=rare child process
outlier_summary=rare child process {OsqueryFilter.name} for {OsqueryFilter.parentname}
run_model=1
test_model=0
"#;

const SEED_FILTER: &str = r#"tags:endpoint AND meta.command.name:"get_all_processes_enriched" AND _exists_:OsqueryFilter.name AND _exists_:OsqueryFilter.parentname AND NOT OsqueryFilter.parentname.raw:"""#;

/// A Logstash-style template: every string of OsqueryFilter a `text` field with a
/// keyword sub-field `.raw` (`ignore_above` as given).
fn osquery_mapping(ignore_above: u32) -> Value {
    let text = json!({ "type": "text", "fields": { "raw": { "type": "keyword", "ignore_above": ignore_above } } });
    json!({ "properties": { "OsqueryFilter": { "properties": { "name": text, "parentname": text } } } })
}

/// `parent` with 249 AcroRd32.exe children and one cmd.exe: mean 125, 1% = 1.25.
fn osquery_events(parent: &str) -> Vec<(String, Value)> {
    let e = |id: String, child: &str| {
        (
            id,
            json!({ "@timestamp": "2026-11-27T10:00:00Z", "tags": ["endpoint"],
                    "meta": { "command": { "name": "get_all_processes_enriched" } },
                    "OsqueryFilter": { "name": child, "parentname": parent } }),
        )
    };
    let mut v: Vec<(String, Value)> = (0..249)
        .map(|i| e(format!("acro-{i}"), "AcroRd32.exe"))
        .collect();
    v.push(e("rare".to_string(), "cmd.exe"));
    v
}

fn put_mapping(idx: &TestIndex, mapping: &Value) {
    let r = reqwest::blocking::Client::new()
        .put(format!("{}/{}/_mapping", es_url(), idx.name))
        .json(mapping)
        .send()
        .unwrap();
    assert!(r.status().is_success(), "mapping: {}", r.text().unwrap());
}

#[test]
fn terms_parity_table_one_case_per_item_and_per_deliberate_difference() {
    let mut failures = Vec::new();
    for case in cases() {
        let idx = TestIndex::new("parity-table");
        if let Some(m) = &case.mapping {
            put_mapping(&idx, m);
        }
        idx.load(&case.events);
        let r = run(&idx, case.general, &case.sections);
        let out = format!("{}\n{}", r.stdout, r.stderr);
        match &case.expect {
            Expect::Tagged(want) => {
                if r.code != 0 {
                    failures.push(format!("{}: exit {}\n{out}", case.name, r.code));
                    continue;
                }
                let snap = idx.snapshot();
                let mut tagged = idx.tagged_ids();
                tagged.sort();
                let mut ids: Vec<String> = want.iter().map(|(id, _)| id.to_string()).collect();
                ids.sort();
                if tagged != ids {
                    failures.push(format!(
                        "{}: tagged {tagged:?}, expected {ids:?}",
                        case.name
                    ));
                    continue;
                }
                for (id, exp) in want {
                    let got = &snap[*id].1["outliers"];
                    if got != exp {
                        failures.push(format!(
                            "{} {id}:\n  got      {got}\n  expected {exp}",
                            case.name
                        ));
                    }
                }
            }
            Expect::Fails(words) => {
                if r.code == 0 || !words.iter().all(|w| out.contains(w)) {
                    failures.push(format!(
                        "{}: expected a failure naming {words:?}, exit {}\n{out}",
                        case.name, r.code
                    ));
                }
                if !idx.tagged_ids().is_empty() {
                    failures.push(format!("{}: a failed use case tagged events", case.name));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
