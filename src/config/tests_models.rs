//! Stage `config`: tests of whole files for the simplequery, sudden_appearance and
//! metrics use cases, and of the keys every model copies into its outliers. One test per
//! rule; errors are asserted by their full located text.

use super::tests::{errs, ok, one_error, BODY, GENERAL};
use super::*;

/// `[general]` (lines 1-5), then `[<section>]` on line 6 with `body` from line 7.
fn file(section: &str, body: &str) -> String {
    format!("{GENERAL}[{section}]\n{body}")
}

const TEXTS: &str =
    "outlier_type=powershell\noutlier_reason=hidden window\noutlier_summary=hidden {host.name}\n";

/// A valid simplequery body: filter on line 7, texts on lines 8-10.
fn simplequery(extra: &str) -> String {
    file(
        "simplequery_x",
        &format!("es_query_filter=process.name:powershell.exe\n{TEXTS}{extra}"),
    )
}

/// A valid sudden_appearance body; `extra` starts on line 14.
fn sudden(extra: &str) -> String {
    file(
        "sudden_appearance_x",
        &format!(
            "aggregator=host.name\ntarget=process.executable\nsliding_window_size=01:00:00\n\
             sliding_window_step_size=00:01:00\n{TEXTS}{extra}"
        ),
    )
}

/// A valid metrics body; `extra` starts on line 16.
fn metrics(extra: &str) -> String {
    file(
        "metrics_x",
        &format!(
            "aggregator=process.name\ntarget=process.command_line\nmetric=length\ntrigger_on=high\n\
             trigger_method=mad\ntrigger_sensitivity=3\n{TEXTS}{extra}"
        ),
    )
}

fn notices(c: &Config) -> Vec<String> {
    c.notices
        .iter()
        .map(|n| format!("{}: {}", n.location, n.message))
        .collect()
}

// ---- ee-outliers' own files ------------------------------------------------------------

#[test]
fn ee_outliers_0217_defaults_and_example_use_cases_load() {
    let text = [
        include_str!("fixtures/ee_outliers_0217_defaults.conf"),
        include_str!("fixtures/ee_outliers_simplequery_powershell_execution_hidden_window.conf"),
        include_str!("fixtures/ee_outliers_sudden_appearance_new_process_location.conf"),
        include_str!("fixtures/ee_outliers_metrics_cmdline_containing_url.conf"),
    ]
    .join("\n");
    let c = ok(&text);
    let [sq, sa, m] = c.use_cases.as_slice() else {
        panic!("expected three use cases, got {:?}", c.use_cases);
    };

    assert_eq!(sq.name, "simplequery_powershell_execution_hidden_window");
    assert_eq!(sq.model_name, "powershell_execution_hidden_window");
    assert_eq!(
        sq.model,
        ModelSpec::SimpleQuery(SimpleQuerySpec {
            highlight_match: false
        })
    );
    assert!(sq.aggregator.is_empty() && sq.target.is_empty());
    assert_eq!(sq.trigger, TriggerSpec::UNUSED);
    assert!(sq
        .elasticsearch_filter
        .ends_with("OsqueryFilter.cmdline:\"-WindowStyle Hidden\")"));
    assert_eq!(sq.whitelist.literals.len(), 1);

    assert_eq!(sa.model_name, "winlog_new_process_location");
    assert_eq!(
        sa.aggregator,
        vec!["meta.deployment_name.keyword", "process.name"]
    );
    assert_eq!(sa.target, vec!["process.executable"]);
    assert_eq!(sa.history_window_hours, 7 * 24);
    assert_eq!(
        sa.model,
        ModelSpec::SuddenAppearance(SuddenAppearanceSpec {
            window_minutes: 24 * 60,
            step_minutes: 60,
            max_num_aggregators: 100_000,
            max_num_targets: 100_000,
        })
    );
    assert_eq!(
        sa.elasticsearch_filter,
        "_exists_:winlog.event_id AND winlog.event_id:1"
    );

    assert_eq!(
        m.model,
        ModelSpec::Metrics(MetricsSpec {
            metric: Metric::UrlLength
        })
    );
    assert_eq!(m.target, vec!["OsqueryFilter.cmdline"]);
    assert_eq!(m.outlier_type, "command execution,command & control");
    assert!(c.use_cases.iter().all(|u| u.copied.is_empty()));
    // The batch sizes are ignored with a notice; nothing else is remarked on.
    assert_eq!(
        c.notices
            .iter()
            .filter_map(|n| n.location.key.as_deref())
            .collect::<Vec<_>>(),
        vec![
            "es_scroll_time",
            "terms_batch_eval_size",
            "metrics_batch_eval_size"
        ]
    );
}

// ---- simplequery -----------------------------------------------------------------------

#[test]
fn simplequery_holds_its_filter_and_no_aggregator_target_or_trigger() {
    let c = ok(&simplequery(""));
    let uc = &c.use_cases[0];
    assert_eq!(
        uc.filter,
        Filter::QueryString("process.name:powershell.exe".into())
    );
    assert_eq!(uc.elasticsearch_filter, "process.name:powershell.exe");
    assert!(uc.aggregator.is_empty() && uc.target.is_empty());
    assert_eq!(
        (uc.count_method, uc.min_target_buckets),
        (CountMethod::WithinAggregator, None)
    );
    assert_eq!(uc.model.model_type(), "simplequery");
    assert!(c.notices.is_empty(), "{:?}", notices(&c));
}

#[test]
fn simplequery_highlight_match_comes_from_the_use_case_then_the_section_then_false() {
    let spec = |text: &str| ok(text).use_cases[0].model.clone();
    let on = ModelSpec::SimpleQuery(SimpleQuerySpec {
        highlight_match: true,
    });
    let off = ModelSpec::SimpleQuery(SimpleQuerySpec {
        highlight_match: false,
    });
    assert_eq!(spec(&simplequery("")), off);
    assert_eq!(spec(&simplequery("highlight_match=1\n")), on);
    assert_eq!(
        spec(&format!(
            "{}[simplequery]\nhighlight_match=1\n",
            simplequery("")
        )),
        on
    );
    assert_eq!(
        spec(&format!(
            "{}[simplequery]\nhighlight_match=1\n",
            simplequery("highlight_match=0\n")
        )),
        off
    );
}

#[test]
fn simplequery_bad_highlight_match_is_a_located_error() {
    assert_eq!(
        one_error(&simplequery("highlight_match=maybe\n")),
        "t.conf:11: [simplequery_x] highlight_match: \"maybe\" is not a boolean; write 1 or 0"
    );
    assert_eq!(
        one_error(&format!(
            "{}[simplequery]\nhighlight_match=2\n",
            simplequery("")
        )),
        "t.conf:12: [simplequery] highlight_match: \"2\" is not a boolean; write 1 or 0"
    );
}

#[test]
fn simplequery_without_a_filter_is_an_error_at_the_header() {
    let e = one_error(&file("simplequery_x", TEXTS));
    assert!(
        e.starts_with("t.conf:6: [simplequery_x] es_query_filter: missing; a simplequery use case flags every event"),
        "{e}"
    );
}

#[test]
fn simplequery_dsl_filter_text_is_kept_for_elasticsearch_filter() {
    let dsl = r#"{"query": {"term": {"process.name": "powershell.exe"}}}"#;
    let c = ok(&file(
        "simplequery_x",
        &format!("es_dsl_filter= {dsl} \n{TEXTS}"),
    ));
    assert_eq!(c.use_cases[0].elasticsearch_filter, dsl);
    assert!(matches!(c.use_cases[0].filter, Filter::Dsl(_)));
}

// ---- sudden_appearance -----------------------------------------------------------------

#[test]
fn sudden_appearance_reads_field_lists_windows_and_section_limits() {
    let c = ok(&format!(
        "{}[sudden_appearance]\nmax_num_aggregators=10\nmax_num_targets=20\n",
        sudden("").replace("aggregator=host.name", "aggregator=host.name, user.name")
    ));
    let uc = &c.use_cases[0];
    assert_eq!(uc.aggregator, vec!["host.name", "user.name"]);
    assert_eq!(uc.target, vec!["process.executable"]);
    assert_eq!(
        uc.model,
        ModelSpec::SuddenAppearance(SuddenAppearanceSpec {
            window_minutes: 1440,
            step_minutes: 60,
            max_num_aggregators: 10,
            max_num_targets: 20
        })
    );
    assert_eq!(uc.trigger, TriggerSpec::UNUSED);
    assert!(c.notices.is_empty(), "{:?}", notices(&c));
}

#[test]
fn sudden_appearance_window_may_equal_the_history_window_and_step_the_window() {
    let c = ok(
        &sudden("history_window_days=1\nhistory_window_hours=0\n").replace(
            "sliding_window_step_size=00:01:00",
            "sliding_window_step_size=00:24:00",
        ),
    );
    assert_eq!(
        c.use_cases[0].model,
        ModelSpec::SuddenAppearance(SuddenAppearanceSpec {
            window_minutes: 1440,
            step_minutes: 1440,
            max_num_aggregators: 100_000,
            max_num_targets: 100_000
        })
    );
}

#[test]
fn sudden_appearance_window_longer_than_history_is_an_error() {
    assert_eq!(
        one_error(&sudden("history_window_days=0\nhistory_window_hours=12\n")),
        "t.conf:9: [sudden_appearance_x] sliding_window_size: 01:00:00 is longer than the history window (00:12:00); \
         the sliding window must fit in it (ee-outliers refuses this too)"
    );
}

#[test]
fn sudden_appearance_step_longer_than_window_is_an_error() {
    let text = sudden("").replace(
        "sliding_window_step_size=00:01:00",
        "sliding_window_step_size=01:00:01",
    );
    assert_eq!(
        one_error(&text),
        "t.conf:10: [sudden_appearance_x] sliding_window_step_size: 01:00:01 is longer than sliding_window_size (01:00:00); \
         the window cannot move by more than its length (ee-outliers refuses this too)"
    );
}

#[test]
fn sudden_appearance_spans_must_be_longer_than_zero() {
    let text = sudden("")
        .replace(
            "sliding_window_size=01:00:00",
            "sliding_window_size=00:00:00",
        )
        .replace(
            "sliding_window_step_size=00:01:00",
            "sliding_window_step_size=0:1:-60",
        );
    let e = errs(&text);
    assert_eq!(
        e,
        vec![
            "t.conf:9: [sudden_appearance_x] sliding_window_size: \"00:00:00\" is not longer than 0 (ee-outliers refuses it too); \
             write e.g. 00:01:00 for one hour",
            "t.conf:10: [sudden_appearance_x] sliding_window_step_size: \"0:1:-60\" is not longer than 0 (ee-outliers refuses it too); \
             write e.g. 00:01:00 for one hour",
        ]
    );
}

#[test]
fn sudden_appearance_span_that_is_not_dd_hh_mm_is_an_error() {
    let text = sudden("").replace("sliding_window_size=01:00:00", "sliding_window_size=1d");
    assert_eq!(
        one_error(&text),
        "t.conf:9: [sudden_appearance_x] sliding_window_size: \"1d\" is not a span written DD:HH:MM (days:hours:minutes); \
         write e.g. 01:00:00 for one day or 00:00:30 for 30 minutes"
    );
}

#[test]
fn sudden_appearance_span_with_a_negative_part_is_accepted_with_a_notice() {
    let text = sudden("").replace(
        "sliding_window_size=01:00:00",
        "sliding_window_size=01:-01:00",
    );
    let c = ok(&text);
    assert!(
        matches!(c.use_cases[0].model, ModelSpec::SuddenAppearance(s) if s.window_minutes == 23 * 60)
    );
    assert_eq!(
        notices(&c),
        vec!["t.conf:9: [sudden_appearance_x] sliding_window_size: a part is negative; it reads as 00:23:00 in all, as ee-outliers reads it"]
    );
}

#[test]
fn sudden_appearance_missing_keys_are_reported_at_the_header() {
    let e = errs(&file("sudden_appearance_x", TEXTS));
    let keys: Vec<&str> = e
        .iter()
        .map(|l| l.split(' ').nth(2).unwrap().trim_end_matches(':'))
        .collect();
    assert_eq!(
        keys,
        vec![
            "aggregator",
            "target",
            "sliding_window_size",
            "sliding_window_step_size"
        ]
    );
    assert!(e
        .iter()
        .all(|l| l.starts_with("t.conf:6: [sudden_appearance_x] ")));
}

#[test]
fn sudden_appearance_target_star_is_an_error_not_brute_force() {
    let e = one_error(&sudden("").replace("target=process.executable", "target=*"));
    assert_eq!(
        e,
        "t.conf:8: [sudden_appearance_x] target: field name \"*\" contains '*'; name each field exactly"
    );
}

#[test]
fn sudden_appearance_takes_the_general_timestamp_field_as_ee_outliers_does() {
    let c = ok(&sudden("timestamp_field=event.created\n"));
    assert_eq!(c.use_cases[0].timestamp_field, "@timestamp");
    assert_eq!(
        notices(&c),
        vec!["t.conf:14: [sudden_appearance_x] timestamp_field: ignored: sudden_appearance use cases take [general] \
              timestamp_field (@timestamp) in ee-outliers, and so does esoutliers; set it there"]
    );
    // Other models honour it.
    assert_eq!(
        ok(&metrics("timestamp_field=event.created\n")).use_cases[0].timestamp_field,
        "event.created"
    );
}

#[test]
fn sudden_appearance_limits_in_the_use_case_are_ignored_or_copied_as_in_ee_outliers() {
    let c = ok(&sudden("max_num_targets=5\nmax_num_aggregators=7\n"));
    let uc = &c.use_cases[0];
    assert!(
        matches!(uc.model, ModelSpec::SuddenAppearance(s) if s.max_num_targets == 100_000 && s.max_num_aggregators == 100_000)
    );
    // ee-outliers keeps max_num_targets among its settings (so does not copy it), but
    // names the other one max_num_aggs, so max_num_aggregators is an arbitrary key.
    assert_eq!(
        uc.copied,
        vec![("max_num_aggregators".to_string(), "7".to_string())]
    );
    assert_eq!(
        notices(&c),
        vec![
            "t.conf:14: [sudden_appearance_x] max_num_targets: ignored: ee-outliers reads max_num_targets only from the \
             [sudden_appearance] section, and so does esoutliers; move it there",
            "t.conf:15: [sudden_appearance_x] max_num_aggregators: copied into every outlier as outliers.max_num_aggregators, \
             as ee-outliers copies the keys it does not read; ee-outliers reads max_num_aggregators only from the \
             [sudden_appearance] section",
        ]
    );
}

// ---- metrics ---------------------------------------------------------------------------

#[test]
fn metrics_reads_one_target_a_metric_and_the_trigger() {
    let c = ok(&metrics(""));
    let uc = &c.use_cases[0];
    assert_eq!(uc.aggregator, vec!["process.name"]);
    assert_eq!(uc.target, vec!["process.command_line"]);
    assert_eq!(
        uc.model,
        ModelSpec::Metrics(MetricsSpec {
            metric: Metric::Length
        })
    );
    assert_eq!(
        uc.trigger,
        TriggerSpec {
            on: TriggerOn::High,
            method: TriggerMethod::Mad,
            sensitivity: 3.0
        }
    );
    assert_eq!(
        (uc.count_method, uc.min_target_buckets),
        (CountMethod::WithinAggregator, None)
    );
    assert!(c.notices.is_empty(), "{:?}", notices(&c));
}

#[test]
fn metrics_accepts_every_metric_name() {
    for m in Metric::ALL {
        let c = ok(&metrics("").replace("metric=length", &format!("metric={}", m.as_str())));
        assert_eq!(
            c.use_cases[0].model,
            ModelSpec::Metrics(MetricsSpec { metric: m })
        );
    }
}

#[test]
fn metrics_unknown_metric_lists_the_valid_ones_with_a_suggestion() {
    assert_eq!(
        one_error(&metrics("").replace("metric=length", "metric=base64_encoded_lenght")),
        "t.conf:9: [metrics_x] metric: unknown metric \"base64_encoded_lenght\" (did you mean base64_encoded_length?); \
         expected one of numerical_value, length, entropy, relative_english_entropy, hex_encoded_length, \
         base64_encoded_length, url_length"
    );
    assert_eq!(
        one_error(&metrics("").replace("metric=length\n", "")),
        "t.conf:6: [metrics_x] metric: missing; e.g. metric=base64_encoded_length"
    );
}

#[test]
fn metrics_target_is_one_field() {
    assert_eq!(
        one_error(&metrics("").replace("target=process.command_line", "target=process.command_line, process.name")),
        "t.conf:8: [metrics_x] target: a metrics use case measures one field, and 2 are listed (ee-outliers would look \
         for one field literally named \"process.command_line, process.name\" and find no event); keep one, e.g. \
         target=process.command_line"
    );
}

#[test]
fn metrics_trigger_follows_the_terms_rules() {
    let e = errs(
        &metrics("")
            .replace("trigger_on=high", "trigger_on=up")
            .replace("trigger_method=mad", "trigger_method=percentile")
            .replace("trigger_sensitivity=3", "trigger_sensitivity=101"),
    );
    assert_eq!(
        e,
        vec![
            "t.conf:10: [metrics_x] trigger_on: unknown trigger_on \"up\"; expected low or high",
            "t.conf:12: [metrics_x] trigger_sensitivity: 101 must be a percentile from 0 to 100 for trigger_method=percentile",
        ]
    );
}

#[test]
fn metrics_keys_of_terms_are_copied_as_ee_outliers_does() {
    let c = ok(&metrics(
        "min_target_buckets=3\ntarget_count_method=within_aggregator\n",
    ));
    assert_eq!(
        c.use_cases[0].copied,
        vec![
            ("min_target_buckets".to_string(), "3".to_string()),
            (
                "target_count_method".to_string(),
                "within_aggregator".to_string()
            )
        ]
    );
    assert_eq!(
        notices(&c)[0],
        "t.conf:16: [metrics_x] min_target_buckets: copied into every outlier as outliers.min_target_buckets, as \
         ee-outliers copies the keys it does not read; terms use cases read min_target_buckets, metrics use cases do not"
    );
}

// ---- keys copied into every outlier (all models) ---------------------------------------

#[test]
fn unknown_keys_are_copied_in_file_order_lower_case_and_trimmed() {
    let c = ok(&format!(
        "{GENERAL}\n[terms_x]\n{BODY}Mitre_Technique =  T1059 \nanalyst=SOC team\n"
    ));
    assert_eq!(
        c.use_cases[0].copied,
        vec![
            ("mitre_technique".to_string(), "T1059".to_string()),
            ("analyst".to_string(), "SOC team".to_string())
        ]
    );
    assert_eq!(
        notices(&c),
        vec![
            "t.conf:16: [terms_x] Mitre_Technique: copied into every outlier as outliers.mitre_technique, as ee-outliers \
             copies the keys it does not read",
            "t.conf:17: [terms_x] analyst: copied into every outlier as outliers.analyst, as ee-outliers copies the keys \
             it does not read",
        ]
    );
}

#[test]
fn copied_key_that_looks_like_a_typo_gets_a_suggestion() {
    let c = ok(&simplequery("higlight_match=1\n"));
    assert_eq!(
        c.use_cases[0].copied,
        vec![("higlight_match".to_string(), "1".to_string())]
    );
    assert_eq!(
        notices(&c),
        vec!["t.conf:11: [simplequery_x] higlight_match: copied into every outlier as outliers.higlight_match, as \
              ee-outliers copies the keys it does not read; did you mean highlight_match?"]
    );
}

#[test]
fn keys_naming_fields_the_model_writes_are_not_copied() {
    let c = ok(&simplequery("summary=overwritten\nmatched_values=x\n"));
    assert!(c.use_cases[0].copied.is_empty());
    assert_eq!(
        notices(&c),
        vec![
            "t.conf:11: [simplequery_x] summary: not copied: outliers.summary is a field that simplequery use cases \
             write themselves (ee-outliers would overwrite or lose it); rename this key to copy it",
            "t.conf:12: [simplequery_x] matched_values: not copied: outliers.matched_values is a field that simplequery \
             use cases write themselves (ee-outliers would overwrite or lose it); rename this key to copy it",
        ]
    );
    // The same name is an ordinary key for a model that does not write it.
    let c = ok(&metrics("matched_values=x\n"));
    assert_eq!(c.use_cases[0].copied.len(), 1);
}

#[test]
fn baseline_window_is_for_terms_use_cases_only() {
    assert_eq!(
        one_error(&simplequery("baseline_window_days=60\n")),
        "t.conf:11: [simplequery_x] baseline_window_days: only terms use cases have a baseline window (an esoutliers \
         extension); remove it from this simplequery use case"
    );
}

#[test]
fn every_model_keeps_its_filter_text_for_elasticsearch_filter() {
    let q = "es_query_filter=event.code:1\n";
    for text in [
        format!("{GENERAL}\n[terms_x]\n{BODY}{q}"),
        sudden(q),
        metrics(q),
    ] {
        assert_eq!(ok(&text).use_cases[0].elasticsearch_filter, "event.code:1");
    }
    assert_eq!(ok(&metrics("")).use_cases[0].elasticsearch_filter, "");
}

#[test]
fn per_model_whitelist_sections_apply_to_every_model_type() {
    let c = ok(&format!(
        "{}[whitelist_literals_metrics_x]\nok=cmd.exe\n",
        metrics("")
    ));
    assert_eq!(c.use_cases[0].whitelist.literals[0].values, vec!["cmd.exe"]);
}

#[test]
fn use_case_sections_need_a_name_after_their_model_type() {
    let e = errs(&format!("{GENERAL}[sudden_appearance_]\n[metrics_]\n"));
    assert_eq!(
        e,
        vec![
            "t.conf:6: [sudden_appearance_]: a sudden_appearance use case needs a name after sudden_appearance_, \
             e.g. [sudden_appearance_rare_childname]",
            "t.conf:7: [metrics_]: a metrics use case needs a name after metrics_, e.g. [metrics_rare_childname]",
        ]
    );
}

#[test]
fn highlight_match_in_general_is_not_read_as_in_ee_outliers() {
    let c = ok(&simplequery("").replace("[general]\n", "[general]\nhighlight_match=1\n"));
    assert_eq!(
        c.use_cases[0].model,
        ModelSpec::SimpleQuery(SimpleQuerySpec {
            highlight_match: false
        })
    );
    assert_eq!(
        c.notices[0].location.key.as_deref(),
        Some("highlight_match")
    );
    assert!(c.notices[0].message.contains("not from [general]"));
}
