//! Stage `config`: tests of whole files through [`parse`] and [`load`]: the seed use
//! case, the shipped query file, ee-outliers' own files, and one test per error kind
//! checking that it names the right line, section and key. Rules of single values are
//! tested beside their code (`value.rs`, `summary.rs`, `whitelist.rs`, ...).

use std::io::Write;
use std::path::Path;

use super::*;

pub(super) const GENERAL: &str = "[general]
es_index_pattern=logs-*
timestamp_field=@timestamp
history_window_days=30
history_window_hours=0
";

/// SPEC section 1, verbatim.
const SEED_USE_CASE: &str = "[terms_rare_childname]
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

/// A valid minimal use case body (no section header).
pub(super) const BODY: &str = "aggregator=process.parent.name
target=process.name
trigger_on=low
trigger_method=pct_of_avg_value
trigger_sensitivity=1
outlier_type=process execution
outlier_reason=rare child process
outlier_summary=rare {process.name}
";

pub(super) fn p(text: &str) -> Result<Config, ConfigErrors> {
    parse(Path::new("t.conf"), text)
}

pub(super) fn ok(text: &str) -> Config {
    p(text).unwrap_or_else(|e| panic!("unexpected errors:\n{e}"))
}

pub(super) fn errs(text: &str) -> Vec<String> {
    p(text)
        .expect_err("expected errors")
        .errors
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// `[general]` (lines 1-5), a blank line, then `[terms_x]` on line 7 with `extra` after
/// the valid body (so the first extra line is line 16).
fn with_use_case(extra: &str) -> String {
    format!("{GENERAL}\n[terms_x]\n{BODY}{extra}")
}

pub(super) fn one_error(text: &str) -> String {
    let e = errs(text);
    assert_eq!(
        e.len(),
        1,
        "expected exactly one error, got:\n{}",
        e.join("\n")
    );
    e.into_iter().next().unwrap()
}

// ---- files that must load ------------------------------------------------------------

#[test]
fn seed_use_case_loads() {
    let c = ok(&format!("{GENERAL}\n{SEED_USE_CASE}"));
    assert_eq!(c.use_cases.len(), 1);
    let uc = &c.use_cases[0];
    assert_eq!(
        (uc.name.as_str(), uc.model_name.as_str()),
        ("terms_rare_childname", "rare_childname")
    );
    assert_eq!(uc.location.line, 7);
    assert_eq!(uc.aggregator, vec!["OsqueryFilter.parentname"]);
    assert_eq!(uc.target, vec!["OsqueryFilter.name"]);
    assert_eq!(uc.count_method, CountMethod::WithinAggregator);
    assert_eq!(
        uc.trigger,
        TriggerSpec {
            on: TriggerOn::Low,
            method: TriggerMethod::PctOfAvgValue,
            sensitivity: 1.0
        }
    );
    assert!(
        matches!(&uc.filter, Filter::QueryString(q) if q.starts_with("tags:endpoint AND") && q.ends_with("parentname.raw:\"\""))
    );
    assert_eq!(uc.outlier_type, "process execution");
    assert_eq!(uc.outlier_reason, "rare child process");
    assert_eq!(
        uc.outlier_summary.fields(),
        vec!["OsqueryFilter.name", "OsqueryFilter.parentname"]
    );
    assert!(uc.run_model && !uc.test_model && !uc.should_notify);
    assert_eq!(uc.min_target_buckets, None);
    assert!(uc.whitelist.is_empty());
    assert!(c.notices.is_empty(), "{:?}", c.notices);
}

#[test]
fn use_case_copies_general_settings() {
    let c = ok(&format!("{GENERAL}es_save_results=0\n\n{SEED_USE_CASE}"));
    let uc = &c.use_cases[0];
    assert_eq!(uc.index_pattern, "logs-*");
    assert_eq!(uc.timestamp_field, "@timestamp");
    assert_eq!(uc.history_window_hours, 720);
    assert!(!uc.save_results);
    assert_eq!(c.general.history_window_hours, 720);
}

#[test]
fn shipped_rare_child_process_query_loads() {
    let c = ok(include_str!("../../queries/rare_child_process.conf"));
    assert!(c.notices.is_empty(), "{:?}", c.notices);
    let uc = &c.use_cases[0];
    assert_eq!(c.use_cases.len(), 1);
    assert_eq!(uc.name, "terms_rare_childname");
    assert_eq!(
        (uc.index_pattern.as_str(), uc.history_window_hours),
        ("logs-endpoint-*", 720)
    );
    assert_eq!(
        (uc.aggregator[0].as_str(), uc.target[0].as_str()),
        ("process.parent.name", "process.name")
    );
    assert_eq!(
        uc.trigger,
        TriggerSpec {
            on: TriggerOn::Low,
            method: TriggerMethod::PctOfAvgValue,
            sensitivity: 1.0
        }
    );
    assert_eq!(
        uc.outlier_summary.raw,
        "rare child process {process.name} for {process.parent.name}"
    );
    assert!(
        matches!(&uc.filter, Filter::QueryString(q) if q.starts_with("event.category:process"))
    );
    let g = &c.general;
    assert!(g.save_results && g.run_models && !g.test_models);
    assert_eq!((g.es_timeout_secs, g.es_scan_size), (300, 1000));
}

#[test]
fn ee_outliers_default_config_loads_unchanged() {
    let c = ok(include_str!("fixtures/ee_outliers_defaults.conf"));
    // The brute-force terms use case and the beaconing one are skipped.
    let names: Vec<&str> = c.use_cases.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        vec![
            "simplequery_powershell_execution_hidden_window",
            "terms_rarely_seen_outbound_connections",
            "metrics_base64_encoded_cmdline"
        ]
    );
    let sq = &c.use_cases[0];
    assert_eq!(
        sq.model,
        ModelSpec::SimpleQuery(SimpleQuerySpec {
            highlight_match: false
        })
    );
    assert!(sq
        .elasticsearch_filter
        .starts_with("tags:endpoint AND \"powershell.exe\""));
    let m = &c.use_cases[2];
    assert_eq!(
        m.model,
        ModelSpec::Metrics(MetricsSpec {
            metric: Metric::Base64EncodedLength
        })
    );
    assert_eq!(
        (m.aggregator.as_slice(), m.target.as_slice()),
        (
            &["OsqueryFilter.name".to_string()][..],
            &["OsqueryFilter.cmdline".to_string()][..]
        )
    );
    assert_eq!(
        m.trigger,
        TriggerSpec {
            on: TriggerOn::High,
            method: TriggerMethod::Mad,
            sensitivity: 3.0
        }
    );
    let uc = &c.use_cases[1];
    assert_eq!(uc.name, "terms_rarely_seen_outbound_connections");
    assert_eq!(uc.count_method, CountMethod::AcrossAggregators);
    assert_eq!(uc.trigger.method, TriggerMethod::PctOfMaxValue);
    assert!(!uc.run_model);
    assert_eq!(uc.timestamp_field, "timestamp");
    assert_eq!(uc.history_window_hours, 7 * 24 + 12);
    assert_eq!(uc.whitelist.literals.len(), 1);
    assert_eq!(uc.whitelist.regexps.len(), 2);
    assert!(
        matches!(&uc.filter, Filter::QueryString(q) if q.ends_with("remote_address.raw:\"::1\""))
    );
    let g = &c.general;
    assert_eq!(g.es_url.as_deref(), Some("http://esnode1:9200"));
    assert_eq!(g.es_scan_size, 10000);
    assert!(!g.save_results && g.print_outliers_to_console && !g.run_models && g.test_models);

    let said = |section: &str, text: &str| {
        c.notices
            .iter()
            .any(|n| n.location.section.as_deref() == Some(section) && n.message.contains(text))
    };
    assert!(said(
        "terms_brute_force_anomalies_nginx",
        "brute-force mode"
    ));
    assert!(said(
        "beaconing_ssl_outbound",
        "model type beaconing is recognised but not supported yet"
    ));
    // [notifier] is read: email_notifier=0 sends nothing.
    assert!(!c.notifier.enabled());
    for s in [
        "daemon",
        "beaconing",
        "terms",
        "metrics",
        "machine_learning",
        "derivedfields",
    ] {
        assert!(said(s, "ignored"), "no notice for [{s}]");
    }
    for k in [
        "es_scroll_time",
        "train_models",
        "log_verbosity",
        "log_level",
        "log_file",
    ] {
        assert!(
            c.notices
                .iter()
                .any(|n| n.location.key.as_deref() == Some(k)),
            "no notice for {k}"
        );
    }
}

#[test]
fn ee_outliers_use_case_file_loads_behind_a_general_section() {
    let text = format!(
        "{GENERAL}\n{}",
        include_str!("fixtures/ee_outliers_terms_ssl_beaconing.conf")
    );
    let c = ok(&text);
    let uc = &c.use_cases[0];
    assert_eq!(uc.name, "terms_ssl_outbound");
    assert_eq!(
        uc.aggregator,
        vec![
            "BroFilter.server_name",
            "BroFilter.id_orig_h",
            "timestamp_day"
        ]
    );
    assert_eq!(uc.trigger.method, TriggerMethod::CoeffOfVariation);
    assert_eq!(uc.trigger.sensitivity, 0.1);
    assert_eq!(uc.min_target_buckets, Some(10));
    assert_eq!(
        uc.outlier_type,
        "suspicious connection, attack.t1020, attack.t1041, attack.t1043, attack.t1071"
    );
    // Per-model whitelist keys inside the use case section.
    let names: Vec<&str> = uc
        .whitelist
        .regexps
        .iter()
        .map(|r| r.name.as_str())
        .collect();
    assert_eq!(
        names,
        vec![
            "whitelist_regexps_ubuntu",
            "whitelist_regexps_azure_telemetry"
        ]
    );
    assert!(uc.whitelist.regexps[0].patterns[0]
        .is_match("beaconing TLS connection to archive.ubuntu.com"));
    assert_eq!(
        uc.whitelist.literals[0].values,
        vec!["beaconing TLS connection to outlook.office.com"]
    );
    // use_derived_fields is ignored, and the notice names the derived fields it relies on.
    let n = c
        .notices
        .iter()
        .find(|n| n.location.key.as_deref() == Some("use_derived_fields"))
        .expect("notice");
    assert!(
        n.message
            .contains("timestamp_day, timestamp_hour used here are derived"),
        "{}",
        n.message
    );
}

#[test]
fn file_without_general_or_use_cases_loads_with_defaults() {
    let c = ok("[word2vec_x]\nes_query_filter=a\n");
    assert!(c.use_cases.is_empty());
    assert_eq!(c.general.timestamp_field, "@timestamp");
    assert_eq!(c.notices.len(), 1);
}

#[test]
fn load_reads_the_file() {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    write!(f, "{GENERAL}\n{SEED_USE_CASE}").unwrap();
    let c = load(f.path()).unwrap();
    assert_eq!(c.path, f.path());
    assert_eq!(c.use_cases[0].location.file, f.path());
}

#[test]
fn unreadable_file_is_one_error_naming_the_path() {
    let e = load(Path::new("/nonexistent/dir/x.conf")).unwrap_err();
    assert_eq!(e.errors.len(), 1);
    assert!(
        e.to_string()
            .starts_with("/nonexistent/dir/x.conf:0: cannot read the file: "),
        "{e}"
    );
}

// ---- rules --------------------------------------------------------------------------

#[test]
fn keys_are_case_insensitive() {
    let body = BODY
        .replace("aggregator", "Aggregator")
        .replace("trigger_method", "TRIGGER_METHOD");
    let c = ok(&format!(
        "{}\n[terms_x]\n{body}Run_Model=0\n",
        GENERAL.replace("es_index_pattern", "ES_INDEX_PATTERN")
    ));
    assert_eq!(c.use_cases[0].aggregator, vec!["process.parent.name"]);
    assert_eq!(c.use_cases[0].index_pattern, "logs-*");
    assert!(!c.use_cases[0].run_model);
}

#[test]
fn percent_signs_and_quotes_are_kept_raw() {
    let c = ok(&with_use_case(
        "es_query_filter=process.command_line:\"100%\" AND user.name:'%(home)s'\n",
    )
    .replace("rare {process.name}", "rare {process.name} at 100%"));
    let uc = &c.use_cases[0];
    assert_eq!(
        uc.filter,
        Filter::QueryString("process.command_line:\"100%\" AND user.name:'%(home)s'".into())
    );
    assert_eq!(uc.outlier_summary.raw, "rare {process.name} at 100%");
}

#[test]
fn defaults_of_optional_use_case_keys() {
    let uc = &ok(&with_use_case("")).use_cases[0];
    assert_eq!(uc.count_method, CountMethod::WithinAggregator);
    assert_eq!(uc.filter, Filter::None);
    assert!(uc.run_model && !uc.test_model && !uc.should_notify);
}

#[test]
fn run_model_zero_is_still_validated_and_returned() {
    let c = ok(&with_use_case("run_model=0\n"));
    assert!(!c.use_cases[0].run_model);
    let e = one_error(
        &with_use_case("run_model=0\ntrigger_on=sideways\n").replace("trigger_on=low\n", ""),
    );
    assert!(
        e.starts_with("t.conf:16: [terms_x] trigger_on: unknown trigger_on \"sideways\""),
        "{e}"
    );
}

#[test]
fn multi_field_aggregator_and_target() {
    let c = ok(&with_use_case("").replace(
        "aggregator=process.parent.name",
        "aggregator=host.name , process.parent.name",
    ));
    assert_eq!(
        c.use_cases[0].aggregator,
        vec!["host.name", "process.parent.name"]
    );
    assert_eq!(c.use_cases[0].fields().count(), 3);
}

#[test]
fn dsl_filter_may_span_indented_lines() {
    let c = ok(&with_use_case("es_dsl_filter={\"query\":\n    {\"term\": {\"event.category\": \"process\"}}}\nrun_model=1\n"));
    assert_eq!(
        c.use_cases[0].filter,
        Filter::Dsl(serde_json::json!({"term": {"event.category": "process"}}))
    );
}

#[test]
fn use_case_overrides_general_index_timestamp_and_window() {
    let c = ok(&with_use_case(
        "es_index=other-*\ntimestamp_field=event.created\nhistory_window_hours=6\n",
    ));
    let uc = &c.use_cases[0];
    assert_eq!(uc.index_pattern, "other-*");
    assert_eq!(uc.timestamp_field, "event.created");
    // days from [general] (30), hours from the use case.
    assert_eq!(uc.history_window_hours, 30 * 24 + 6);
    let c = ok(&with_use_case(
        "history_window_days=0\nhistory_window_hours=6\n",
    ));
    assert_eq!(c.use_cases[0].history_window_hours, 6);
}

#[test]
fn use_cases_with_their_own_index_and_window_need_no_general() {
    let c = ok(&format!(
        "[terms_x]\n{BODY}es_index=a-*\nhistory_window_days=1\n"
    ));
    assert_eq!(c.use_cases[0].index_pattern, "a-*");
    assert_eq!(c.use_cases[0].history_window_hours, 24);
}

#[test]
fn global_whitelists_apply_to_every_use_case() {
    let text = format!(
        "{GENERAL}[whitelist_literals]\nslack=rare outbound connection: Slack.exe\n[whitelist_regexps]\nr=^svchost\\.exe$\n\
         [terms_a]\n{BODY}[terms_b]\n{BODY}"
    );
    let c = ok(&text);
    for uc in &c.use_cases {
        assert_eq!(
            uc.whitelist.literals[0].values,
            vec!["rare outbound connection: Slack.exe"]
        );
        assert!(uc.whitelist.regexps[0].patterns[0].is_match("SVCHOST.EXE"));
    }
}

#[test]
fn per_model_whitelist_sections_apply_to_their_use_case_only() {
    let text = format!(
        "{GENERAL}[whitelist_literals]\ng=global\n[terms_a]\n{BODY}[terms_b]\n{BODY}\
         [whitelist_literals_terms_a]\nhost=HOSTNAME-WHITELISTED\n[whitelist_regexps_terms_a]\nr=^a$\n"
    );
    let c = ok(&text);
    let a = &c.use_cases[0];
    let b = &c.use_cases[1];
    assert_eq!(
        a.whitelist
            .literals
            .iter()
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>(),
        vec!["g", "host"]
    );
    assert_eq!(a.whitelist.regexps.len(), 1);
    assert_eq!(b.whitelist.literals.len(), 1);
    assert!(b.whitelist.regexps.is_empty());
}

#[test]
fn per_model_whitelist_keys_merge_after_global_entries() {
    let c = ok(&format!(
        "{GENERAL}[whitelist_literals]\ng=global\n[terms_x]\n{BODY}whitelist_literals_mine=a, b\n"
    ));
    let names: Vec<&str> = c.use_cases[0]
        .whitelist
        .literals
        .iter()
        .map(|l| l.name.as_str())
        .collect();
    assert_eq!(names, vec!["g", "whitelist_literals_mine"]);
    assert_eq!(c.use_cases[0].whitelist.literals[1].values, vec!["a", "b"]);
}

#[test]
fn ignored_use_case_keys_are_notices_not_errors() {
    let c = ok(&with_use_case(
        "process_documents_chronologically=0\nuse_derived_fields=0\n",
    ));
    let keys: Vec<&str> = c
        .notices
        .iter()
        .filter_map(|n| n.location.key.as_deref())
        .collect();
    assert_eq!(
        keys,
        vec!["process_documents_chronologically", "use_derived_fields"]
    );
    assert!(c.notices.iter().all(|n| n.message.starts_with("ignored: ")));
    assert_eq!(c.notices[0].location.line, 16);
    assert!(c.use_cases[0].copied.is_empty());
}

#[test]
fn ee_outliers_settings_of_every_model_are_not_copied() {
    for (section, extra) in [
        ("terms_x", ""),
        ("metrics_x", "metric=length\n"),
        (
            "sudden_appearance_x",
            "sliding_window_size=01:00:00\nsliding_window_step_size=00:01:00\n",
        ),
    ] {
        let c = ok(&format!(
            "{GENERAL}[{section}]\n{BODY}{extra}process_documents_chronologically=1\nuse_derived_fields=0\nes_index=logs-*\n\
             timestamp_field=@timestamp\nhistory_window_hours=1\nshould_notify=0\n"
        ));
        let copied: Vec<&str> = c.use_cases[0]
            .copied
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        // sudden_appearance does not read the trigger keys, so ee-outliers copies them.
        if section.starts_with("sudden") {
            assert_eq!(
                copied,
                vec!["trigger_on", "trigger_method", "trigger_sensitivity"]
            );
        } else {
            assert!(copied.is_empty(), "{section}: {copied:?}");
        }
    }
}

#[test]
fn ee_outliers_sections_are_notices_not_errors() {
    let c = ok(&format!(
        "{GENERAL}[assets]\nmeta.hostname = host\n[notifier]\nsmtp_pass=secret\n[daemon]\nschedule=0 0 * * *\n\
         [terms]\nterms_batch_eval_size=1\n[word2vec]\n#seed=43\n"
    ));
    // [assets] and [notifier] are read, the others are ignored with a notice.
    assert_eq!(c.notices.len(), 3);
    assert!(c
        .notices
        .iter()
        .all(|n| n.message.starts_with("ignored") && !n.message.contains("secret")));
}

#[test]
fn assets_lines_reach_every_use_case_in_file_order_with_keys_in_lower_case() {
    let c = ok(&format!(
        "{GENERAL}[assets]\nHost.Name = host\nuser.name = user\n\n{SEED_USE_CASE}"
    ));
    assert_eq!(
        c.use_cases[0].assets,
        vec![
            ("host.name".to_string(), "host".to_string()),
            ("user.name".to_string(), "user".to_string())
        ]
    );
}

#[test]
fn unsupported_model_types_are_notices() {
    let c = ok(&format!(
        "{GENERAL}[word2vec_d]\nx=1\n[beaconing_e]\n[whitelist_literals_word2vec_d]\nh=x\n"
    ));
    let msgs: Vec<&str> = c.notices.iter().map(|n| n.message.as_str()).collect();
    for t in ["word2vec", "beaconing"] {
        assert!(
            msgs.contains(
                &format!("model type {t} is recognised but not supported yet; section skipped")
                    .as_str()
            ),
            "{t}"
        );
    }
    assert!(msgs.iter().any(|m| m.contains("applies to [word2vec_d]")));
    assert!(c.use_cases.is_empty());
}

#[test]
fn brute_force_target_skips_the_use_case_with_a_notice() {
    let c = ok(&with_use_case("").replace("target=process.name", "target=*"));
    assert!(c.use_cases.is_empty());
    assert_eq!(c.notices[0].location.key.as_deref(), Some("target"));
    assert!(c.notices[0].message.contains("brute-force mode"));
}

#[test]
fn min_target_buckets_across_aggregators_gets_a_notice() {
    let c = ok(&with_use_case(
        "target_count_method=across_aggregators\nmin_target_buckets=3\n",
    ));
    assert_eq!(c.use_cases[0].min_target_buckets, None);
    assert_eq!(
        format!("{}: {}", c.notices[0].location, c.notices[0].message),
        "t.conf:17: [terms_x] min_target_buckets: ignored: it only applies to target_count_method=within_aggregator \
         (ee-outliers ignores it here too, with a warning)"
    );
    let c = ok(&with_use_case("min_target_buckets=3\n"));
    assert_eq!(c.use_cases[0].min_target_buckets, Some(3));
    assert!(c.notices.is_empty());
}

#[test]
fn placeholders_in_outlier_type_get_a_notice() {
    let c = ok(&with_use_case("").replace(
        "outlier_type=process execution",
        "outlier_type=exec on {host.name}",
    ));
    assert_eq!(c.notices[0].location.key.as_deref(), Some("outlier_type"));
}

#[test]
fn bare_dsl_query_gets_a_notice() {
    let c = ok(&with_use_case(
        "es_dsl_filter={\"term\": {\"event.category\": \"process\"}}\n",
    ));
    assert!(matches!(c.use_cases[0].filter, Filter::Dsl(_)));
    assert!(c.notices[0].message.contains("bare query object"));
}

// ---- every error kind names its line, section and key --------------------------------

#[test]
fn missing_required_key_points_at_the_section_header() {
    let e = one_error(&with_use_case("").replace("trigger_method=pct_of_avg_value\n", ""));
    assert_eq!(
        e,
        "t.conf:7: [terms_x] trigger_method: missing; e.g. trigger_method=pct_of_avg_value"
    );
}

#[test]
fn every_missing_required_key_is_reported() {
    let e = errs(&format!("{GENERAL}\n[terms_x]\nrun_model=1\n"));
    let keys: Vec<&str> = e
        .iter()
        .map(|l| l.split(' ').nth(2).unwrap().trim_end_matches(':'))
        .collect();
    assert_eq!(
        keys,
        vec![
            "aggregator",
            "target",
            "trigger_on",
            "trigger_method",
            "trigger_sensitivity",
            "outlier_type",
            "outlier_reason",
            "outlier_summary"
        ]
    );
    assert!(e.iter().all(|l| l.starts_with("t.conf:7: [terms_x] ")));
}

#[test]
fn empty_required_value_points_at_its_line() {
    let e = one_error(
        &with_use_case("").replace("outlier_reason=rare child process", "outlier_reason=  "),
    );
    assert_eq!(
        e,
        "t.conf:14: [terms_x] outlier_reason: empty; e.g. outlier_reason=rare child process"
    );
}

#[test]
fn unknown_trigger_method_lists_the_valid_ones() {
    let e = one_error(
        &with_use_case("").replace("trigger_method=pct_of_avg_value", "trigger_method=pct_avg"),
    );
    assert_eq!(
        e,
        "t.conf:11: [terms_x] trigger_method: unknown trigger_method \"pct_avg\"; expected one of pct_of_avg_value, \
         pct_of_max_value, pct_of_median_value, percentile, stdev, mad, madpos, float, coeff_of_variation"
    );
}

#[test]
fn misspelt_trigger_method_gets_a_suggestion() {
    let e = one_error(&with_use_case("").replace(
        "trigger_method=pct_of_avg_value",
        "trigger_method=pct_of_avg_values",
    ));
    assert!(e.contains("(did you mean pct_of_avg_value?)"), "{e}");
}

#[test]
fn unknown_count_method_names_its_line() {
    let e = one_error(&with_use_case("target_count_method=within\n"));
    assert!(
        e.starts_with(
            "t.conf:16: [terms_x] target_count_method: unknown target_count_method \"within\""
        ),
        "{e}"
    );
}

#[test]
fn sensitivity_out_of_range_for_its_method() {
    let e = one_error(&with_use_case("").replace("trigger_sensitivity=1", "trigger_sensitivity=0"));
    assert_eq!(
        e,
        "t.conf:12: [terms_x] trigger_sensitivity: 0 must be a percentage above 0 \
         (1 means 1% of the average) for trigger_method=pct_of_avg_value"
    );
    let e = one_error(
        &with_use_case("")
            .replace("pct_of_avg_value", "percentile")
            .replace("trigger_sensitivity=1", "trigger_sensitivity=101"),
    );
    assert!(
        e.contains("trigger_sensitivity: 101 must be a percentile from 0 to 100"),
        "{e}"
    );
    let e = one_error(
        &with_use_case("")
            .replace("pct_of_avg_value", "stdev")
            .replace("trigger_sensitivity=1", "trigger_sensitivity=-1"),
    );
    assert!(
        e.contains("-1 must be a number of deviations of 0 or more"),
        "{e}"
    );
}

#[test]
fn sensitivity_must_be_a_number() {
    let e =
        one_error(&with_use_case("").replace("trigger_sensitivity=1", "trigger_sensitivity=high"));
    assert!(
        e.starts_with("t.conf:12: [terms_x] trigger_sensitivity: \"high\" is not a finite number"),
        "{e}"
    );
}

#[test]
fn both_filters_is_an_error_at_the_later_one() {
    let e = one_error(&with_use_case(
        "es_query_filter=a:b\nes_dsl_filter={\"query\": {\"match_all\": {}}}\n",
    ));
    assert!(
        e.starts_with(
            "t.conf:17: [terms_x] es_dsl_filter: es_query_filter and es_dsl_filter are both set"
        ),
        "{e}"
    );
}

#[test]
fn invalid_dsl_json_gives_serde_message() {
    let e = one_error(&with_use_case("es_dsl_filter={\"query\": {\"term\": }}\n"));
    assert!(e.starts_with("t.conf:16: [terms_x] es_dsl_filter: not valid JSON: expected value at line 1 column 20; write"), "{e}");
}

#[test]
fn duplicate_field_in_aggregator_names_the_field() {
    let e = one_error(
        &with_use_case("").replace("aggregator=process.parent.name", "aggregator=a, b, a"),
    );
    assert_eq!(
        e,
        "t.conf:8: [terms_x] aggregator: field a is listed twice; list each field once"
    );
}

#[test]
fn unbalanced_summary_brace_names_its_line() {
    let e = one_error(&with_use_case("").replace("rare {process.name}", "rare {process.name"));
    assert!(
        e.starts_with("t.conf:15: [terms_x] outlier_summary: '{' without a matching '}'"),
        "{e}"
    );
}

#[test]
fn bad_boolean_and_bad_count_name_their_lines() {
    let e = errs(&with_use_case(
        "run_model=sometimes\nmin_target_buckets=0\n",
    ));
    assert_eq!(e.len(), 2);
    assert!(
        e[0].starts_with("t.conf:16: [terms_x] run_model: \"sometimes\" is not a boolean"),
        "{}",
        e[0]
    );
    assert!(
        e[1].starts_with("t.conf:17: [terms_x] min_target_buckets: 0 is too small"),
        "{}",
        e[1]
    );
}

#[test]
fn missing_required_key_names_a_misspelling_of_it() {
    let e =
        one_error(&with_use_case("trigger_sensitivty=2\n").replace("trigger_sensitivity=1\n", ""));
    assert_eq!(
        e,
        "t.conf:7: [terms_x] trigger_sensitivity: missing (line 15 sets trigger_sensitivty: a misspelling of it?); e.g. trigger_sensitivity=1"
    );
}

#[test]
fn misnamed_whitelist_key_is_an_error() {
    let e = one_error(&with_use_case("whitelist_test=x\n"));
    assert!(e.starts_with("t.conf:16: [terms_x] whitelist_test: keys starting with whitelist_ are per-model whitelists"), "{e}");
    let e = one_error(&with_use_case("whitelist_literals_=x\n"));
    assert!(e.contains("needs a name after whitelist_literals_"), "{e}");
}

#[test]
fn bad_regexp_names_key_regex_and_reason() {
    let e = one_error(&format!("{GENERAL}[whitelist_regexps]\nbad=^(unclosed\n"));
    assert_eq!(e, "t.conf:7: [whitelist_regexps] bad: regular expression \"^(unclosed\" does not compile: unclosed group");
}

#[test]
fn bad_per_model_regexp_key_names_its_line() {
    let e = one_error(&with_use_case("whitelist_regexps_x=[z-a]\n"));
    assert!(e.starts_with("t.conf:16: [terms_x] whitelist_regexps_x: regular expression \"[z-a]\" does not compile"), "{e}");
}

#[test]
fn empty_whitelist_entry_is_an_error() {
    let e = one_error(&format!("{GENERAL}[whitelist_literals]\nnothing= , \n"));
    assert!(
        e.starts_with("t.conf:7: [whitelist_literals] nothing: empty whitelist entry"),
        "{e}"
    );
}

#[test]
fn per_model_whitelist_for_a_missing_use_case_is_an_error() {
    let e = one_error(&format!("{GENERAL}[whitelist_literals_terms_nope]\na=b\n"));
    assert!(e.starts_with("t.conf:6: [whitelist_literals_terms_nope]: this per-use-case whitelist applies to [terms_nope]"), "{e}");
}

#[test]
fn unknown_section_is_an_error() {
    let e = one_error(&format!("{GENERAL}[rules]\n"));
    assert!(
        e.starts_with("t.conf:6: [rules]: unknown section; expected [general]"),
        "{e}"
    );
}

#[test]
fn section_names_are_case_sensitive_with_a_hint() {
    let e = one_error("[General]\nes_index_pattern=x\n");
    assert_eq!(e, "t.conf:1: [General]: unknown section; section names are case-sensitive (as in ee-outliers), write [general]");
}

#[test]
fn terms_section_without_name_and_default_section_are_errors() {
    let e = errs(&format!("{GENERAL}[terms_]\n[DEFAULT]\na=1\n"));
    assert_eq!(e.len(), 2);
    assert!(
        e[0].contains("a terms use case needs a name after terms_"),
        "{}",
        e[0]
    );
    assert!(
        e[1].starts_with("t.conf:7: [DEFAULT]: [DEFAULT] is not supported"),
        "{}",
        e[1]
    );
}

#[test]
fn missing_index_pattern_is_reported_once_at_general() {
    let text = format!("[general]\nhistory_window_days=1\n[terms_a]\n{BODY}[terms_b]\n{BODY}");
    let e = one_error(&text);
    assert!(
        e.starts_with(
            "t.conf:1: [general] es_index_pattern: missing or empty, and a use case relies on it"
        ),
        "{e}"
    );
}

#[test]
fn empty_history_window_is_an_error() {
    let text = format!("[general]\nes_index_pattern=x\nhistory_window_days=0\n[terms_a]\n{BODY}");
    let e = one_error(&text);
    assert!(
        e.starts_with("t.conf:3: [general] history_window_days: the history window is empty"),
        "{e}"
    );
    let e = one_error(&with_use_case(
        "history_window_days=0\nhistory_window_hours=0\n",
    ));
    assert!(e.starts_with("t.conf:16: [terms_x] history_window_days: the history window of this use case is empty"), "{e}");
}

#[test]
fn syntax_error_names_its_line_and_later_problems_are_still_reported() {
    let e = errs(&with_use_case(
        "this line has no equals sign\nshould_notify=maybe\n",
    ));
    assert_eq!(e.len(), 2);
    assert!(
        e[0].starts_with("t.conf:16: [terms_x]: line \"this line has no equals sign\" is neither"),
        "{}",
        e[0]
    );
    assert!(
        e[1].starts_with("t.conf:17: [terms_x] should_notify: \"maybe\" is not a boolean"),
        "{}",
        e[1]
    );
}

#[test]
fn duplicate_key_names_both_lines() {
    let e = one_error(&with_use_case("target=other.field\n"));
    assert_eq!(e, "t.conf:16: [terms_x] target: duplicate key; it is already set at line 9 of this section; keep only one of the two");
}

#[test]
fn duplicate_section_names_both_lines() {
    let e = one_error(&format!("{GENERAL}[general]\n"));
    assert_eq!(e, "t.conf:6: [general]: duplicate section; it is already defined at line 1; merge the two into one section");
}

#[test]
fn several_errors_in_one_file_are_all_reported_in_line_order() {
    let text = format!(
        "[general]\nes_index_pattern=logs-*\nhistory_window_days=30\nes_timeout=never\n\
         [terms_a]\n{}\
         [whitelist_regexps]\nw=(\n[terms_b]\n{BODY}run_model=perhaps\n[mystery]\n",
        BODY.replace("trigger_on=low", "trigger_on=down")
            .replace("aggregator=process.parent.name", "aggregator=")
    );
    let e = errs(&text);
    let lines: Vec<usize> = e
        .iter()
        .map(|l| l.split(':').nth(1).unwrap().parse().unwrap())
        .collect();
    assert_eq!(e.len(), 6, "{}", e.join("\n"));
    assert_eq!(lines, vec![4, 6, 8, 15, 25, 26]);
    assert!(e[0].contains("[general] es_timeout:"));
    assert!(e[1].contains("[terms_a] aggregator: empty"));
    assert!(e[2].contains("[terms_a] trigger_on: unknown trigger_on \"down\""));
    assert!(e[3].contains("[whitelist_regexps] w: regular expression"));
    assert!(e[4].contains("[terms_b] run_model: \"perhaps\" is not a boolean"));
    assert!(e[5].contains("[mystery]: unknown section"));
    // Display: one problem per line.
    assert_eq!(p(&text).unwrap_err().to_string().lines().count(), 6);
}

#[test]
fn baseline_window_must_reach_further_back_than_the_detection_window() {
    let c = ok(&with_use_case("baseline_window_days=60\n"));
    assert_eq!(c.use_cases[0].baseline_window_hours, Some(60 * 24));
    assert_eq!(
        ok(&with_use_case("")).use_cases[0].baseline_window_hours,
        None
    );
    let e = one_error(&with_use_case("baseline_window_days=30\n"));
    assert!(
        e.starts_with("t.conf:16: [terms_x] baseline_window_days: 30 days is not longer than the detection window (720 hours)"),
        "{e}"
    );
}

#[test]
fn files_lists_conf_files_of_a_folder_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    for n in ["b.conf", "a.conf", "notes.txt"] {
        std::fs::write(dir.path().join(n), "").unwrap();
    }
    let f = files(dir.path()).unwrap();
    assert_eq!(
        f,
        vec![dir.path().join("a.conf"), dir.path().join("b.conf")]
    );
    assert_eq!(
        files(Path::new("x.conf")).unwrap(),
        vec![Path::new("x.conf").to_path_buf()]
    );
}
