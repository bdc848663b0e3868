//! Unit tests of the config stage: one per rule and per error kind.

use std::path::Path;

use super::*;

const SEED: &str = "[general]
es_index_pattern=logs-*
history_window_days=30
history_window_hours=0

[terms_rare_childname]
es_query_filter=tags:endpoint AND meta.command.name:\"get_all_processes_enriched\" AND _exists_:OsqueryFilter.name AND _exists_:OsqueryFilter.parentname AND NOT OsqueryFilter.parentname.raw:\"\"
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
";

fn p(text: &str) -> Result<Config, ConfigErrors> {
    parse(Path::new("t.conf"), text)
}

fn errs(text: &str) -> Vec<String> {
    p(text)
        .expect_err("expected errors")
        .errors
        .iter()
        .map(|e| e.to_string())
        .collect()
}

#[test]
fn seed_use_case_loads() {
    let c = p(SEED).unwrap();
    assert_eq!(c.use_cases.len(), 1);
    let uc = &c.use_cases[0];
    assert_eq!(uc.name, "terms_rare_childname");
    assert_eq!(uc.model_name, "rare_childname");
    assert_eq!(uc.aggregator, vec!["OsqueryFilter.parentname"]);
    assert_eq!(uc.target, vec!["OsqueryFilter.name"]);
    assert_eq!(
        uc.trigger,
        TriggerSpec {
            on: TriggerOn::Low,
            method: TriggerMethod::PctOfAvgValue,
            sensitivity: 1.0
        }
    );
    assert_eq!(uc.history_window_hours, 720);
    assert!(matches!(&uc.filter, Filter::QueryString(q) if q.ends_with("parentname.raw:\"\"")));
    assert_eq!(
        uc.outlier_summary.fields(),
        vec!["OsqueryFilter.name", "OsqueryFilter.parentname"]
    );
    assert_eq!(uc.timestamp_field, "@timestamp");
    assert!(uc.save_results);
}

#[test]
fn shipped_query_loads() {
    let c = load(Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/queries/rare_child_process.conf"
    )))
    .unwrap();
    assert_eq!(c.use_cases[0].aggregator, vec!["process.parent.name"]);
}

#[test]
fn unknown_method_names_file_line_section_and_key() {
    let e = errs(&SEED.replace("trigger_method=pct_of_avg_value", "trigger_method=pct_avg"));
    assert_eq!(e.len(), 1);
    assert!(
        e[0].starts_with(
            "t.conf:12: [terms_rare_childname] trigger_method: unknown trigger_method \"pct_avg\""
        ),
        "{}",
        e[0]
    );
    assert!(e[0].contains("pct_of_avg_value, pct_of_max_value"));
}

#[test]
fn every_error_of_a_file_is_reported_at_once() {
    let text = SEED
        .replace("trigger_on=low", "trigger_on=sideways")
        .replace("trigger_sensitivity=1", "trigger_sensitivity=lots")
        .replace("run_model=1", "run_model=1\nbogus_key=1");
    let e = errs(&text);
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(
        e[0].contains(":11: [terms_rare_childname] trigger_on"),
        "{e:?}"
    );
    assert!(e[1].contains(":13: [terms_rare_childname] trigger_sensitivity"));
    assert!(e[2].contains(":18: [terms_rare_childname] bogus_key: unknown key"));
}

#[test]
fn sensitivity_is_validated_per_method() {
    for (method, s, ok) in [
        ("pct_of_avg_value", "0", false),
        ("pct_of_avg_value", "0.5", true),
        ("percentile", "101", false),
        ("percentile", "100", true),
        ("stdev", "-1", false),
        ("mad", "0", true),
        ("float", "-7", true),
        ("coeff_of_variation", "-0.1", false),
    ] {
        let t = SEED
            .replace(
                "trigger_method=pct_of_avg_value",
                &format!("trigger_method={method}"),
            )
            .replace("trigger_sensitivity=1", &format!("trigger_sensitivity={s}"));
        assert_eq!(p(&t).is_ok(), ok, "{method} {s}");
    }
}

#[test]
fn keys_are_case_insensitive_and_values_raw() {
    let t = SEED.replace("aggregator=", "AGGREGATOR=").replace(
        "outlier_reason=rare child process",
        "outlier_reason=50% rare %(x)s",
    );
    let c = p(&t).unwrap();
    assert_eq!(c.use_cases[0].outlier_reason, "50% rare %(x)s");
    assert_eq!(c.use_cases[0].aggregator, vec!["OsqueryFilter.parentname"]);
}

#[test]
fn missing_required_keys_are_errors() {
    let e = errs(
        &SEED
            .replace("aggregator=OsqueryFilter.parentname\n", "")
            .replace("target=OsqueryFilter.name\n", ""),
    );
    assert!(
        e.iter()
            .any(|x| x.contains("[terms_rare_childname] aggregator: missing")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|x| x.contains("[terms_rare_childname] target: missing")),
        "{e:?}"
    );
}

#[test]
fn duplicate_sections_and_keys_are_errors() {
    let e = errs(&format!("{SEED}\n[terms_rare_childname]\nrun_model=1\n"));
    assert!(
        e.iter()
            .any(|x| x.contains("duplicate section; it is already defined at line 6")),
        "{e:?}"
    );
    let e = errs(&SEED.replace("run_model=1", "run_model=1\nrun_model=0"));
    assert!(
        e.iter().any(|x| x.contains(
            ":18: [terms_rare_childname] run_model: duplicate key; it is already set at line 17"
        )),
        "{e:?}"
    );
}

#[test]
fn multi_field_lists_and_dsl_filter() {
    let t = SEED
        .replace(
            "aggregator=OsqueryFilter.parentname",
            "aggregator=host.name, OsqueryFilter.parentname",
        )
        .replace(
            "es_query_filter=",
            "es_dsl_filter={\"term\": {\"a\": \"b\"}}\n#",
        );
    let c = p(&t).unwrap();
    assert_eq!(
        c.use_cases[0].aggregator,
        vec!["host.name", "OsqueryFilter.parentname"]
    );
    assert_eq!(
        c.use_cases[0].filter,
        Filter::Dsl(serde_json::json!({"term": {"a": "b"}}))
    );
    let e = errs(&SEED.replace("es_query_filter=", "es_dsl_filter={not json\n#"));
    assert!(e[0].contains("es_dsl_filter: not valid JSON"), "{e:?}");
}

#[test]
fn whitelists_global_and_per_model_merge() {
    let t = format!(
        "{}whitelist_literals_mine=a.exe, b.exe\n\n[whitelist_literals]\ng=x\n\n[whitelist_regexps]\nr=^ws-\\d+$, cmd\n",
        SEED
    );
    let c = p(&t).unwrap();
    let wl = &c.use_cases[0].whitelist;
    assert_eq!(wl.literals.len(), 2);
    assert!(wl
        .literals
        .iter()
        .any(|l| l.values == vec!["a.exe", "b.exe"]));
    assert_eq!(wl.regexps[0].patterns.len(), 2);
    let e = errs(&format!("{SEED}\n[whitelist_regexps]\nbad=(unclosed\n"));
    assert!(
        e[0].contains("[whitelist_regexps] bad: regular expression \"(unclosed\" does not compile"),
        "{e:?}"
    );
}

#[test]
fn ee_outliers_internals_and_other_models_are_notices() {
    let t = format!(
        "{}\n[simplequery_suspicious]\nes_query_filter=x\n\n[daemon]\nschedule=1\n",
        SEED.replace(
            "[general]\n",
            "[general]\nterms_batch_eval_size=100000\nes_password=hunter2\n"
        )
    );
    let c = p(&t).unwrap();
    let msgs: Vec<String> = c
        .notices
        .iter()
        .map(|n| format!("{}: {}", n.location, n.message))
        .collect();
    assert_eq!(msgs.len(), 4, "{msgs:?}");
    assert!(msgs
        .iter()
        .any(|m| m.contains("terms_batch_eval_size: ignored")));
    assert!(msgs
        .iter()
        .any(|m| m.contains("model type simplequery is recognised but not supported yet")));
    assert!(
        msgs.iter().all(|m| !m.contains("hunter2")),
        "a credential leaked: {msgs:?}"
    );
}

#[test]
fn summary_placeholders_must_balance() {
    let e = errs(&SEED.replace(
        "for {OsqueryFilter.parentname}",
        "for {OsqueryFilter.parentname",
    ));
    assert!(e[0].contains("outlier_summary: unbalanced"), "{e:?}");
}

#[test]
fn syntax_error_names_the_line() {
    let e = errs(&SEED.replace("run_model=1", "this is not ini"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("t.conf:17: [terms_rare_childname]: line \"this is not ini\""),
        "{e:?}"
    );
}

#[test]
fn empty_window_and_missing_index_pattern_are_errors() {
    let e = errs(
        &SEED
            .replace("es_index_pattern=logs-*\n", "")
            .replace("history_window_days=30", "history_window_days=0"),
    );
    assert_eq!(e.len(), 2, "{e:?}");
}

#[test]
fn ee_outliers_own_files_load_unchanged() {
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"));
    let c = load(&dir.join("ee_outliers_defaults.conf")).unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = c.use_cases.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, vec!["terms_rarely_seen_outbound_connections"]);
    assert_eq!(c.use_cases[0].count_method, CountMethod::AcrossAggregators);
    assert_eq!(c.general.history_window_hours, 7 * 24 + 12);
    assert!(c.notices.iter().any(|n| n.message.contains("brute force")));
    assert!(c
        .notices
        .iter()
        .any(|n| n.message.contains("model type beaconing")));
    // The example use case file, with a [general] section in front as ee-outliers keeps it.
    let text = format!(
        "[general]\nes_index_pattern=logs-*\nhistory_window_days=1\n{}",
        std::fs::read_to_string(dir.join("ee_outliers_terms_ssl_beaconing.conf")).unwrap()
    );
    let c = parse(Path::new("beaconing.conf"), &text).unwrap_or_else(|e| panic!("{e}"));
    let uc = &c.use_cases[0];
    assert_eq!(
        uc.aggregator,
        vec![
            "BroFilter.server_name",
            "BroFilter.id_orig_h",
            "timestamp_day"
        ]
    );
    assert_eq!(uc.trigger.method, TriggerMethod::CoeffOfVariation);
    assert_eq!(uc.min_target_buckets, Some(10));
    assert_eq!(uc.whitelist.regexps.len(), 2);
    assert_eq!(
        uc.whitelist.literals[0].values,
        vec!["beaconing TLS connection to outlook.office.com"]
    );
}
