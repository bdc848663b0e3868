//! Stage `config`: a use case section (`[terms_<name>]`, `[simplequery_<name>]`,
//! `[sudden_appearance_<name>]`, `[metrics_<name>]`) becomes a validated [`UseCase`].
//!
//! Every key is checked and every problem reported (none stops the others). A
//! [`UseCase`] is returned only when its section has no problem at all, so later stages
//! never fail on its content. `run_model=0` does not skip validation: the caller decides
//! what runs.
//!
//! Keys, as ee-outliers 0.2.17 reads them (the tables are in `kind.rs`):
//! - every model: the filter (`es_query_filter` xor `es_dsl_filter`; simplequery requires
//!   one), `outlier_type`, `outlier_reason`, `outlier_summary`, `run_model`, `test_model`,
//!   `should_notify`, and the overrides of `[general]`: `es_index`, `timestamp_field`
//!   (which sudden_appearance ignores, as ee-outliers does), `history_window_days`,
//!   `history_window_hours`;
//! - terms: `aggregator`, `target`, `target_count_method`, `trigger_on`,
//!   `trigger_method`, `trigger_sensitivity`, `min_target_buckets` (ignored with a notice
//!   under `across_aggregators`, as ee-outliers does), and `baseline_window_days`, an
//!   esoutliers extension;
//! - simplequery: `highlight_match` (else `[simplequery] highlight_match`, else false);
//! - sudden_appearance: `aggregator`, `target`, `sliding_window_size`,
//!   `sliding_window_step_size` (`DD:HH:MM`; both > 0, window <= history window, step <=
//!   window), and `[sudden_appearance] max_num_aggregators` / `max_num_targets`;
//! - metrics: `aggregator`, one `target` field, `metric`, and the trigger keys as terms;
//! - per-model whitelists: `whitelist_literals_<name>` / `whitelist_regexps_<name>`;
//! - accepted with a notice: `process_documents_chronologically`, `use_derived_fields`;
//! - any other key is copied into every outlier as `outliers.<key>` (lower case, value
//!   trimmed), as ee-outliers copies its "arbitrary parameters", with a notice (and a
//!   did-you-mean when it looks like a typo of a known key). A key naming a field the
//!   model writes itself is not copied.
//!
//! `target_count_method` defaults to `within_aggregator` when absent (ee-outliers requires
//! the key); `run_model`, `test_model` and `should_notify` default to 1, 0 and 0
//! (ee-outliers requires the first two).

use std::collections::BTreeSet;

use serde_json::Value;

use super::error::{did_you_mean, Diagnostics};
use super::general::GeneralSection;
use super::kind::{Kind, COMMON_IGNORED, COMMON_READS, DERIVED};
use super::model::{
    CountMethod, Filter, Metric, MetricsSpec, ModelSpec, SimpleQuerySpec, SuddenAppearanceSpec,
    TriggerMethod, TriggerOn, TriggerSpec, UseCase, Whitelist,
};
use super::model_params::{self, ModelParams};
use super::scan::{RawEntry, RawSection};
use super::{summary, value, whitelist};

/// What a use case section is read against.
pub(super) struct Context<'a> {
    pub general: &'a GeneralSection,
    /// The `[simplequery]`, `[sudden_appearance]`, ... sections.
    pub params: &'a ModelParams,
    /// Global entries, then those of `[whitelist_*_<section>]` sections for this use case.
    pub whitelist: Whitelist,
    /// Field names that `[derivedfields]` GROK patterns create in ee-outliers.
    pub derived_fields: &'a BTreeSet<String>,
    /// The `[assets]` lines (field, asset type).
    pub assets: &'a [(String, String)],
}

/// The result of reading one section.
#[derive(Debug, Default)]
pub(super) struct Read {
    /// `None` when the section has a problem, or is skipped (with a notice).
    pub use_case: Option<UseCase>,
    /// True when the use case takes its index pattern from `[general]`, which must then set it.
    pub needs_general_index: bool,
    /// True when the use case takes its history window from `[general]`, which must then be > 0.
    pub needs_general_window: bool,
}

/// The keys that differ between model types, once read.
struct Specific {
    aggregator: Vec<String>,
    target: Vec<String>,
    count_method: CountMethod,
    trigger: TriggerSpec,
    min_target_buckets: Option<u64>,
    model: ModelSpec,
}

fn error(diag: &mut Diagnostics, s: &RawSection, e: &RawEntry, message: impl Into<String>) {
    diag.error(diag.at(e.line, Some(&s.name), Some(&e.key)), message);
}

fn notice(diag: &mut Diagnostics, s: &RawSection, e: &RawEntry, message: impl Into<String>) {
    diag.notice(diag.at(e.line, Some(&s.name), Some(&e.key)), message);
}

/// The entry of a required key with a non-empty value; otherwise reports it (at the
/// section header when the key is missing, naming a key of the section that looks like a
/// misspelling of it) and returns `None`.
fn required<'a>(
    diag: &mut Diagnostics,
    s: &'a RawSection,
    key: &str,
    hint: &str,
) -> Option<&'a RawEntry> {
    match s.get(key) {
        Some(e) if !e.value.trim().is_empty() => Some(e),
        Some(e) => {
            error(diag, s, e, format!("empty; {hint}"));
            None
        }
        None => {
            let typo = s
                .unique_entries()
                .find(|e| e.lower != key && did_you_mean(&e.lower, &[key]).is_some())
                .map(|e| format!(" (line {} sets {}: a misspelling of it?)", e.line, e.key))
                .unwrap_or_default();
            diag.error(
                diag.at(s.line, Some(&s.name), Some(key)),
                format!("missing{typo}; {hint}"),
            );
            None
        }
    }
}

/// The entry of an optional key, unless its value is empty (ee-outliers treats an empty
/// filter, index or timestamp field as absent).
fn optional<'a>(s: &'a RawSection, key: &str) -> Option<&'a RawEntry> {
    s.get(key).filter(|e| !e.value.trim().is_empty())
}

/// Reads use case section `s`, whose model type is `kind`.
pub(super) fn read(diag: &mut Diagnostics, s: &RawSection, kind: Kind, cx: Context<'_>) -> Read {
    let before = diag.error_count();
    let model_name = &s.name[kind.name().len() + 1..];
    let mut wl = cx.whitelist;
    let copied = keys(diag, s, kind, &mut wl);

    let filter = filter(diag, s);
    let elasticsearch_filter = ["es_query_filter", "es_dsl_filter"]
        .iter()
        .find_map(|k| optional(s, k))
        .map(|e| e.value.trim().to_string());
    if kind == Kind::SimpleQuery && elasticsearch_filter.is_none() {
        diag.error(
            diag.at(s.line, Some(&s.name), Some("es_query_filter")),
            "missing; a simplequery use case flags every event its query matches, so it needs es_query_filter or es_dsl_filter \
             (ee-outliers fails without one), e.g. es_query_filter=process.name:powershell.exe",
        );
    }
    let (history_window_hours, overrides_window) = window(diag, s, cx.general);
    let baseline_window_hours = match kind {
        Kind::Terms => baseline(diag, s, history_window_hours),
        // Reported by `keys` when written.
        _ => None,
    };
    let mut brute_force = false;
    let specific = match kind {
        Kind::Terms => terms(diag, s, &mut brute_force),
        Kind::SimpleQuery => simplequery(diag, s, cx.params),
        Kind::SuddenAppearance => sudden_appearance(diag, s, cx.params, history_window_hours),
        Kind::Metrics => metrics(diag, s),
    };
    let outlier_type = text(
        diag,
        s,
        "outlier_type",
        "e.g. outlier_type=process execution",
    );
    let outlier_reason = text(
        diag,
        s,
        "outlier_reason",
        "e.g. outlier_reason=rare child process",
    );
    let outlier_summary = required(
        diag,
        s,
        "outlier_summary",
        "e.g. outlier_summary=rare child process {process.name} for {process.parent.name}",
    )
    .and_then(|e| {
        summary::parse(e.value.trim())
            .map_err(|m| error(diag, s, e, m))
            .ok()
    });
    let run_model = flag(diag, s, "run_model", true);
    let test_model = flag(diag, s, "test_model", false);
    let should_notify = flag(diag, s, "should_notify", false);

    // Overrides of [general].
    let es_index = optional(s, "es_index").map(|e| e.value.trim().to_string());
    let timestamp_field = timestamp_field(diag, s, kind, cx.general);

    if let Some(sp) = &specific {
        derived_fields_notice(
            diag,
            s,
            sp.aggregator.iter().chain(&sp.target),
            cx.derived_fields,
        );
    }

    if diag.error_count() > before {
        return Read {
            use_case: None,
            needs_general_index: es_index.is_none() && !brute_force,
            needs_general_window: !overrides_window && !brute_force,
        };
    }
    if brute_force {
        return Read::default();
    }
    let (Some(sp), Some(outlier_summary)) = (specific, outlier_summary) else {
        unreachable!("a missing value was reported as an error");
    };
    let index_pattern = es_index
        .clone()
        .unwrap_or_else(|| cx.general.general.es_index_pattern.clone());
    Read {
        use_case: Some(UseCase {
            name: s.name.clone(),
            model_name: model_name.to_string(),
            location: diag.at(s.line, Some(&s.name), None),
            index_pattern,
            timestamp_field,
            history_window_hours,
            baseline_window_hours,
            filter,
            aggregator: sp.aggregator,
            target: sp.target,
            count_method: sp.count_method,
            trigger: sp.trigger,
            min_target_buckets: sp.min_target_buckets,
            outlier_type,
            outlier_reason,
            outlier_summary,
            run_model,
            test_model,
            should_notify,
            whitelist: wl,
            save_results: cx.general.general.save_results,
            model: sp.model,
            elasticsearch_filter: elasticsearch_filter.unwrap_or_default(),
            copied,
            assets: cx.assets.to_vec(),
        }),
        needs_general_index: es_index.is_none(),
        needs_general_window: !overrides_window,
    }
}

/// `[terms_*]`: aggregator, target (`*` is ee-outliers' brute-force mode, skipped with a
/// notice), `target_count_method`, the trigger, `min_target_buckets`.
fn terms(diag: &mut Diagnostics, s: &RawSection, brute_force: &mut bool) -> Option<Specific> {
    let aggregator = fields(diag, s, "aggregator", false, AGGREGATOR_HINT);
    let target_entry = required(diag, s, "target", TARGET_HINT);
    let target = target_entry.and_then(|e| {
        value::field_list(&e.value, true)
            .map_err(|m| error(diag, s, e, m))
            .ok()
    });
    let count_method = count_method(diag, s);
    let trigger = trigger(diag, s);
    let min_target_buckets = s.get("min_target_buckets").and_then(|e| {
        let n = value::whole_number(&e.value, 1).map_err(|m| error(diag, s, e, m)).ok()?;
        if count_method == CountMethod::AcrossAggregators {
            notice(
                diag,
                s,
                e,
                "ignored: it only applies to target_count_method=within_aggregator (ee-outliers ignores it here too, with a warning)",
            );
            return None;
        }
        Some(n)
    });
    if let (Some(e), Some(t)) = (target_entry, &target) {
        if t.iter().any(|f| f == "*") {
            *brute_force = true;
            notice(
                diag,
                s,
                e,
                "target=* is ee-outliers' brute-force mode (one run per field of the events), which esoutliers does not support; this use case is skipped",
            );
            return None;
        }
    }
    Some(Specific {
        aggregator: aggregator?,
        target: target?,
        count_method,
        trigger: trigger?,
        min_target_buckets,
        model: ModelSpec::Terms,
    })
}

/// `[simplequery_*]`: `highlight_match`, else `[simplequery] highlight_match`.
fn simplequery(diag: &mut Diagnostics, s: &RawSection, params: &ModelParams) -> Option<Specific> {
    let highlight_match = match s.get("highlight_match") {
        Some(e) => value::boolean(&e.value)
            .map_err(|m| error(diag, s, e, m))
            .ok()?,
        None => params.highlight_match,
    };
    Some(Specific {
        aggregator: Vec::new(),
        target: Vec::new(),
        count_method: CountMethod::WithinAggregator,
        trigger: TriggerSpec::UNUSED,
        min_target_buckets: None,
        model: ModelSpec::SimpleQuery(SimpleQuerySpec { highlight_match }),
    })
}

/// `[sudden_appearance_*]`: aggregator and target field lists and the sliding window,
/// checked against the history window (`history_hours`; 0 when it is reported elsewhere).
fn sudden_appearance(
    diag: &mut Diagnostics,
    s: &RawSection,
    params: &ModelParams,
    history_hours: u64,
) -> Option<Specific> {
    let aggregator = fields(diag, s, "aggregator", false, AGGREGATOR_HINT);
    let target = fields(diag, s, "target", false, TARGET_HINT);
    let size_entry = required(
        diag,
        s,
        "sliding_window_size",
        "write the length of the sliding window as DD:HH:MM, e.g. sliding_window_size=01:00:00 for one day",
    );
    let window = size_entry.and_then(|e| span(diag, s, e));
    let step_entry = required(
        diag,
        s,
        "sliding_window_step_size",
        "write how far the window moves each time as DD:HH:MM, e.g. sliding_window_step_size=00:01:00 for one hour",
    );
    let step = step_entry.and_then(|e| span(diag, s, e));
    let history = history_hours.saturating_mul(60);
    if let (Some(e), Some(w)) = (size_entry, window) {
        if history > 0 && w > history {
            error(
                diag,
                s,
                e,
                format!(
                    "{} is longer than the history window ({}); the sliding window must fit in it (ee-outliers refuses this too)",
                    dd_hh_mm(w),
                    dd_hh_mm(history)
                ),
            );
        }
    }
    if let (Some(e), Some(w), Some(st)) = (step_entry, window, step) {
        if st > w {
            error(
                diag,
                s,
                e,
                format!(
                    "{} is longer than sliding_window_size ({}); the window cannot move by more than its length (ee-outliers refuses this too)",
                    dd_hh_mm(st),
                    dd_hh_mm(w)
                ),
            );
        }
    }
    Some(Specific {
        aggregator: aggregator?,
        target: target?,
        count_method: CountMethod::WithinAggregator,
        trigger: TriggerSpec::UNUSED,
        min_target_buckets: None,
        model: ModelSpec::SuddenAppearance(SuddenAppearanceSpec {
            window_minutes: window?,
            step_minutes: step?,
            max_num_aggregators: params.max_num_aggregators,
            max_num_targets: params.max_num_targets,
        }),
    })
}

/// `[metrics_*]`: aggregator fields, ONE target field, `metric`, the trigger.
fn metrics(diag: &mut Diagnostics, s: &RawSection) -> Option<Specific> {
    let aggregator = fields(diag, s, "aggregator", false, AGGREGATOR_HINT);
    let target = fields(
        diag,
        s,
        "target",
        false,
        "name the field whose values are measured, e.g. target=process.command_line",
    );
    let target = target.and_then(|t| {
        if t.len() == 1 {
            return Some(t);
        }
        let e = s.get("target").expect("target was read");
        error(
            diag,
            s,
            e,
            format!(
                "a metrics use case measures one field, and {} are listed (ee-outliers would look for one field literally named {:?} and find no event); keep one, e.g. target={}",
                t.len(),
                e.value.trim(),
                t[0]
            ),
        );
        None
    });
    let names: Vec<&str> = Metric::ALL.iter().map(|m| m.as_str()).collect();
    let metric = required(diag, s, "metric", "e.g. metric=base64_encoded_length").and_then(|e| {
        let v = e.value.trim();
        let m = Metric::parse(v);
        if m.is_none() {
            let hint = did_you_mean(v, &names)
                .map(|m| format!(" (did you mean {m}?)"))
                .unwrap_or_default();
            error(
                diag,
                s,
                e,
                format!(
                    "unknown metric {v:?}{hint}; expected one of {}",
                    names.join(", ")
                ),
            );
        }
        m
    });
    let trigger = trigger(diag, s);
    Some(Specific {
        aggregator: aggregator?,
        target: target?,
        count_method: CountMethod::WithinAggregator,
        trigger: trigger?,
        min_target_buckets: None,
        model: ModelSpec::Metrics(MetricsSpec { metric: metric? }),
    })
}

const AGGREGATOR_HINT: &str =
    "name the field(s) to group events by, e.g. aggregator=process.parent.name";
const TARGET_HINT: &str = "name the field(s) whose values are counted, e.g. target=process.name";

/// A required list of field names.
fn fields(
    diag: &mut Diagnostics,
    s: &RawSection,
    key: &str,
    allow_star: bool,
    hint: &str,
) -> Option<Vec<String>> {
    let e = required(diag, s, key, hint)?;
    value::field_list(&e.value, allow_star)
        .map_err(|m| error(diag, s, e, m))
        .ok()
}

/// A `DD:HH:MM` span in minutes, reported at `e` unless it is longer than 0.
fn span(diag: &mut Diagnostics, s: &RawSection, e: &RawEntry) -> Option<u64> {
    match value::span_minutes(&e.value) {
        Ok((minutes, _)) if minutes <= 0 => {
            error(
                diag,
                s,
                e,
                format!(
                    "{:?} is not longer than 0 (ee-outliers refuses it too); write e.g. 00:01:00 for one hour",
                    e.value.trim()
                ),
            );
            None
        }
        Ok((minutes, negative_part)) => {
            let minutes = minutes.unsigned_abs();
            if negative_part {
                notice(
                    diag,
                    s,
                    e,
                    format!(
                        "a part is negative; it reads as {} in all, as ee-outliers reads it",
                        dd_hh_mm(minutes)
                    ),
                );
            }
            Some(minutes)
        }
        Err(m) => {
            error(diag, s, e, m);
            None
        }
    }
}

/// `minutes` as `DD:HH:MM`, the form the keys are written in.
fn dd_hh_mm(minutes: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        minutes / 1440,
        minutes % 1440 / 60,
        minutes % 60
    )
}

/// The use case's `timestamp_field`, else `[general]`'s. sudden_appearance always takes
/// `[general]`'s, as ee-outliers 0.2.17 does (a notice says so when the use case sets one).
fn timestamp_field(
    diag: &mut Diagnostics,
    s: &RawSection,
    kind: Kind,
    g: &GeneralSection,
) -> String {
    let general = g.general.timestamp_field.clone();
    match optional(s, "timestamp_field") {
        None => general,
        Some(e) if kind == Kind::SuddenAppearance => {
            if e.value.trim() != general {
                notice(
                    diag,
                    s,
                    e,
                    format!(
                        "ignored: sudden_appearance use cases take [general] timestamp_field ({general}) in ee-outliers, and so does esoutliers; set it there"
                    ),
                );
            }
            general
        }
        Some(e) => e.value.trim().to_string(),
    }
}

/// The history window in hours, and whether the section sets its own.
///
/// `history_window_days` and `history_window_hours` each fall back to `[general]` when
/// absent. A value written in the use case wins even when it is 0 (recent ee-outliers
/// versions fall back to `[general]` for 0 too, which makes `days=0, hours=6` mean
/// `[general]`'s days plus 6 hours; esoutliers reads it as 6 hours, as written).
fn window(diag: &mut Diagnostics, s: &RawSection, g: &GeneralSection) -> (u64, bool) {
    let mut read = |key: &str| {
        let e = s.get(key)?;
        Some(value::whole_number(&e.value, 0).map_err(|m| error(diag, s, e, m)))
    };
    let days = read("history_window_days");
    let hours = read("history_window_hours");
    if days.is_none() && hours.is_none() {
        return (g.general.history_window_hours, false);
    }
    let (Ok(d), Ok(h)) = (days.unwrap_or(Ok(g.days)), hours.unwrap_or(Ok(g.hours))) else {
        // Reported above; the window is not used when the section has an error.
        return (0, true);
    };
    let total = d.saturating_mul(24).saturating_add(h);
    if total == 0 {
        let e = s
            .get("history_window_days")
            .or_else(|| s.get("history_window_hours"))
            .expect("an override is present");
        error(
            diag,
            s,
            e,
            "the history window of this use case is empty; set history_window_days and/or history_window_hours to more than 0",
        );
    }
    (total, true)
}

/// `baseline_window_days` (an esoutliers extension of terms models, unknown to
/// ee-outliers): a whole number of days whose window must reach further back than the
/// detection window.
fn baseline(diag: &mut Diagnostics, s: &RawSection, detection_hours: u64) -> Option<u64> {
    let e = s.get("baseline_window_days")?;
    let days = value::whole_number(&e.value, 1)
        .map_err(|m| error(diag, s, e, m))
        .ok()?;
    let hours = days.saturating_mul(24);
    if hours <= detection_hours {
        error(
            diag,
            s,
            e,
            format!(
                "{days} days is not longer than the detection window ({detection_hours} hours); \
                 a baseline must reach further back, e.g. baseline_window_days={}",
                detection_hours / 24 + 1
            ),
        );
        return None;
    }
    Some(hours)
}

/// Reports ignored keys and misnamed whitelist keys, adds `whitelist_*_<name>` keys to
/// `wl`, and returns the keys to copy into every outlier, in file order.
fn keys(
    diag: &mut Diagnostics,
    s: &RawSection,
    kind: Kind,
    wl: &mut Whitelist,
) -> Vec<(String, String)> {
    let mut copied = Vec::new();
    for e in s.unique_entries() {
        let k = e.lower.as_str();
        if COMMON_READS.contains(&k) || kind.reads().contains(&k) {
            continue;
        }
        if k == "baseline_window_days" {
            error(
                diag,
                s,
                e,
                format!(
                    "only terms use cases have a baseline window (an esoutliers extension); remove it from this {} use case",
                    kind.name()
                ),
            );
            continue;
        }
        let per_model = [
            ("whitelist_literals_", whitelist::Kind::Literals),
            ("whitelist_regexps_", whitelist::Kind::Regexps),
        ];
        if let Some((prefix, wkind)) = per_model.iter().find(|(p, _)| k.starts_with(p)) {
            if k.len() == prefix.len() {
                error(diag, s, e, format!("a per-model whitelist key needs a name after {prefix}, e.g. {prefix}trusted_host"));
            } else {
                whitelist::add(diag, wl, *wkind, &s.name, e);
            }
            continue;
        }
        if k.starts_with("whitelist_") {
            error(
                diag,
                s,
                e,
                "keys starting with whitelist_ are per-model whitelists; name them whitelist_literals_<name> or whitelist_regexps_<name>",
            );
            continue;
        }
        if let Some((_, why)) = COMMON_IGNORED
            .iter()
            .chain(kind.ignored())
            .find(|(i, _)| *i == k)
        {
            match (k, value::boolean(&e.value)) {
                // use_derived_fields gets its notice with the derived fields it concerns.
                ("use_derived_fields", Ok(_)) => {}
                ("process_documents_chronologically" | "use_derived_fields", Err(m)) => {
                    error(diag, s, e, m)
                }
                _ => notice(diag, s, e, *why),
            }
            continue;
        }
        if kind.writes_field(k) {
            notice(
                diag,
                s,
                e,
                format!(
                    "not copied: outliers.{k} is a field that {} use cases write themselves (ee-outliers would overwrite or lose it); rename this key to copy it",
                    kind.name()
                ),
            );
            continue;
        }
        copied.push((k.to_string(), e.value.trim().to_string()));
        notice(diag, s, e, copied_notice(kind, k));
    }
    copied
}

/// The notice for a key copied into every outlier: where the key belongs when another
/// model type or a parameter section reads it, or a did-you-mean when it looks like a typo.
fn copied_notice(kind: Kind, k: &str) -> String {
    let copy = format!(
        "copied into every outlier as outliers.{k}, as ee-outliers copies the keys it does not read"
    );
    let others = kind.others_reading(k);
    if !others.is_empty() {
        return format!(
            "{copy}; {} use cases read {k}, {} use cases do not",
            others.join(" and "),
            kind.name()
        );
    }
    if let Some(section) = model_params::section_of(k) {
        return format!("{copy}; ee-outliers reads {k} only from the [{section}] section");
    }
    match did_you_mean(k, &kind.known()) {
        Some(m) => format!("{copy}; did you mean {m}?"),
        None => copy,
    }
}

/// `use_derived_fields=1`: a notice, naming the derived fields this use case counts on.
fn derived_fields_notice<'a>(
    diag: &mut Diagnostics,
    s: &RawSection,
    fields: impl Iterator<Item = &'a String>,
    derived: &BTreeSet<String>,
) {
    let Some(e) = s.get("use_derived_fields") else {
        return;
    };
    if value::boolean(&e.value) != Ok(true) {
        notice(diag, s, e, DERIVED);
        return;
    }
    let used: Vec<&str> = fields
        .filter(|f| derived.contains(*f))
        .map(String::as_str)
        .collect();
    if used.is_empty() {
        notice(diag, s, e, DERIVED);
    } else {
        notice(
            diag,
            s,
            e,
            format!(
                "{DERIVED}; {} used here {} derived, so events are only counted if the index itself holds such fields",
                used.join(", "),
                if used.len() == 1 { "is" } else { "are" }
            ),
        );
    }
}

fn count_method(diag: &mut Diagnostics, s: &RawSection) -> CountMethod {
    let Some(e) = s.get("target_count_method") else {
        return CountMethod::WithinAggregator;
    };
    match e.value.trim() {
        "within_aggregator" => CountMethod::WithinAggregator,
        "across_aggregators" => CountMethod::AcrossAggregators,
        v => {
            let hint = did_you_mean(v, &["within_aggregator", "across_aggregators"])
                .map(|m| format!(" (did you mean {m}?)"))
                .unwrap_or_default();
            error(diag, s, e, format!("unknown target_count_method {v:?}{hint}; expected within_aggregator or across_aggregators"));
            CountMethod::WithinAggregator
        }
    }
}

fn trigger(diag: &mut Diagnostics, s: &RawSection) -> Option<TriggerSpec> {
    let on = required(
        diag,
        s,
        "trigger_on",
        "write trigger_on=low or trigger_on=high",
    )
    .and_then(|e| match e.value.trim() {
        "low" => Some(TriggerOn::Low),
        "high" => Some(TriggerOn::High),
        v => {
            error(
                diag,
                s,
                e,
                format!("unknown trigger_on {v:?}; expected low or high"),
            );
            None
        }
    });
    let names: Vec<&str> = TriggerMethod::ALL.iter().map(|m| m.as_str()).collect();
    let method = required(
        diag,
        s,
        "trigger_method",
        "e.g. trigger_method=pct_of_avg_value",
    )
    .and_then(|e| {
        let v = e.value.trim();
        let m = TriggerMethod::parse(v);
        if m.is_none() {
            let hint = did_you_mean(v, &names)
                .map(|m| format!(" (did you mean {m}?)"))
                .unwrap_or_default();
            error(
                diag,
                s,
                e,
                format!(
                    "unknown trigger_method {v:?}{hint}; expected one of {}",
                    names.join(", ")
                ),
            );
        }
        m
    });
    let sensitivity = required(diag, s, "trigger_sensitivity", "e.g. trigger_sensitivity=1")
        .and_then(|e| {
            let x = value::number(&e.value)
                .map_err(|m| error(diag, s, e, m))
                .ok()?;
            if let Some(m) = method {
                if let Err(why) = sensitivity_fits(m, x) {
                    error(
                        diag,
                        s,
                        e,
                        format!("{x} {why} for trigger_method={}", m.as_str()),
                    );
                    return None;
                }
            }
            Some(x)
        });
    Some(TriggerSpec {
        on: on?,
        method: method?,
        sensitivity: sensitivity?,
    })
}

/// The sensitivity ranges of SPEC section 3 (the value is already finite); `Err` says
/// what the range is. `tune` uses it to skip values a method cannot take.
pub fn sensitivity_fits(method: TriggerMethod, s: f64) -> Result<(), &'static str> {
    use TriggerMethod::*;
    match method {
        PctOfAvgValue if s <= 0.0 => {
            Err("must be a percentage above 0 (1 means 1% of the average)")
        }
        PctOfMaxValue | PctOfMedianValue if s < 0.0 => {
            Err("must be a percentage of 0 or more (5 means 5%)")
        }
        Percentile if !(0.0..=100.0).contains(&s) => Err("must be a percentile from 0 to 100"),
        Stdev | Mad | Madpos if s < 0.0 => {
            Err("must be a number of deviations of 0 or more, e.g. 3")
        }
        CoeffOfVariation if s < 0.0 => {
            Err("must be 0 or more (it is compared with stdev / mean), e.g. 0.1")
        }
        _ => Ok(()),
    }
}

/// `outlier_type` / `outlier_reason`: required text.
fn text(diag: &mut Diagnostics, s: &RawSection, key: &str, hint: &str) -> String {
    let Some(e) = required(diag, s, key, hint) else {
        return String::new();
    };
    let v = e.value.trim();
    if v.contains('{') {
        notice(
            diag,
            s,
            e,
            "contains a {placeholder}; ee-outliers fills placeholders here too, esoutliers only fills those of outlier_summary and writes this text as it is",
        );
    }
    v.to_string()
}

fn flag(diag: &mut Diagnostics, s: &RawSection, key: &str, default: bool) -> bool {
    match s.get(key) {
        None => default,
        Some(e) => value::boolean(&e.value)
            .map_err(|m| error(diag, s, e, m))
            .unwrap_or(default),
    }
}

fn filter(diag: &mut Diagnostics, s: &RawSection) -> Filter {
    match (optional(s, "es_query_filter"), optional(s, "es_dsl_filter")) {
        (None, None) => Filter::None,
        (Some(q), None) => Filter::QueryString(q.value.trim().to_string()),
        (Some(q), Some(d)) => {
            let later = if d.line > q.line { d } else { q };
            error(
                diag,
                s,
                later,
                "es_query_filter and es_dsl_filter are both set (ee-outliers silently uses es_dsl_filter); keep only one of them",
            );
            Filter::None
        }
        (None, Some(d)) => match dsl(d.value.trim()) {
            Ok((query, remark)) => {
                if let Some(r) = remark {
                    notice(diag, s, d, r);
                }
                Filter::Dsl(query)
            }
            Err(m) => {
                error(diag, s, d, m);
                Filter::None
            }
        },
    }
}

/// `es_dsl_filter` as ee-outliers reads it: `{"query": Q}` gives Q, and a list
/// `[{"query": Q1}, {"query": Q2}]` gives `{"bool": {"filter": [Q1, Q2]}}` (all must match).
/// A bare query object Q is accepted too, with a remark. Each Q must be a JSON object with
/// exactly one key (the query type), as Elasticsearch requires.
fn dsl(v: &str) -> Result<(Value, Option<&'static str>), String> {
    let parsed: Value = serde_json::from_str(v).map_err(|e| {
        format!("not valid JSON: {e}; write a query such as {{\"query\": {{\"term\": {{\"event.category\": \"process\"}}}}}}")
    })?;
    match parsed {
        Value::Object(mut o) => match o.remove("query") {
            Some(q) => {
                let q = one_query(q, "the value of \"query\"")?;
                Ok((q, (!o.is_empty()).then_some("only \"query\" is used; ee-outliers ignores the other keys of this object too")))
            }
            None => Ok((
                one_query(Value::Object(o), "es_dsl_filter")?,
                Some("a bare query object: ee-outliers expects it wrapped as {\"query\": ...}; esoutliers accepts both"),
            )),
        },
        Value::Array(items) if !items.is_empty() => {
            let mut queries = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                match item {
                    Value::Object(mut o) if o.contains_key("query") => {
                        queries.push(one_query(o.remove("query").expect("checked"), &format!("item {} of the list", i + 1))?)
                    }
                    _ => return Err(format!("item {} of the list is not an object with a \"query\" key; write [{{\"query\": ...}}, ...]", i + 1)),
                }
            }
            Ok((serde_json::json!({ "bool": { "filter": queries } }), None))
        }
        _ => Err("must be a JSON object such as {\"query\": {\"term\": {\"event.category\": \"process\"}}}, or a list of such objects".into()),
    }
}

fn one_query(q: Value, what: &str) -> Result<Value, String> {
    match &q {
        Value::Object(o) if o.len() == 1 => Ok(q),
        Value::Object(o) if o.is_empty() => Err(format!("{what} is an empty object; write a query such as {{\"match_all\": {{}}}}")),
        Value::Object(o) => Err(format!(
            "{what} has {} keys ({}); a query object has exactly one, so combine several with {{\"bool\": {{\"filter\": [...]}}}}",
            o.len(),
            o.keys().cloned().collect::<Vec<_>>().join(", ")
        )),
        _ => Err(format!("{what} is not a JSON object; write a query such as {{\"term\": {{\"event.category\": \"process\"}}}}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dsl_unwraps_ee_outliers_query_object() {
        let (q, remark) = dsl(r#"{"query": {"term": {"event.category": "process"}}}"#).unwrap();
        assert_eq!(q, json!({"term": {"event.category": "process"}}));
        assert_eq!(remark, None);
    }

    #[test]
    fn dsl_list_becomes_bool_filter() {
        let (q, _) =
            dsl(r#"[{"query": {"term": {"a": 1}}}, {"query": {"exists": {"field": "b"}}}]"#)
                .unwrap();
        assert_eq!(
            q,
            json!({"bool": {"filter": [{"term": {"a": 1}}, {"exists": {"field": "b"}}]}})
        );
    }

    #[test]
    fn dsl_bare_query_is_accepted_with_a_remark() {
        let (q, remark) = dsl(r#"{"term": {"event.category": "process"}}"#).unwrap();
        assert_eq!(q, json!({"term": {"event.category": "process"}}));
        assert!(remark.unwrap().contains("bare query object"));
    }

    #[test]
    fn dsl_invalid_json_gives_serde_message_and_position() {
        let m = dsl(r#"{"query": {"term": }}"#).unwrap_err();
        assert!(
            m.starts_with("not valid JSON: expected value at line 1 column 20;"),
            "{m}"
        );
    }

    #[test]
    fn dsl_must_be_an_object_or_list() {
        assert!(dsl("42").unwrap_err().starts_with("must be a JSON object"));
        assert!(dsl("[]").unwrap_err().starts_with("must be a JSON object"));
        assert!(dsl(r#"["x"]"#).unwrap_err().contains("item 1 of the list"));
    }

    #[test]
    fn dsl_query_must_have_exactly_one_key() {
        assert!(dsl(r#"{"query": {}}"#)
            .unwrap_err()
            .contains("empty object"));
        assert!(dsl(r#"{"term": {"a": 1}, "match": {"b": 2}}"#)
            .unwrap_err()
            .contains("has 2 keys"));
        assert!(dsl(r#"{"query": "a:b"}"#)
            .unwrap_err()
            .contains("not a JSON object"));
    }

    #[test]
    fn sensitivity_ranges_follow_spec_section_3() {
        use TriggerMethod::*;
        assert!(sensitivity_fits(PctOfAvgValue, 0.0).is_err());
        assert!(sensitivity_fits(PctOfAvgValue, 0.5).is_ok());
        assert!(sensitivity_fits(PctOfMaxValue, 0.0).is_ok());
        assert!(sensitivity_fits(PctOfMedianValue, -1.0).is_err());
        assert!(sensitivity_fits(Percentile, 100.0).is_ok());
        assert!(sensitivity_fits(Percentile, 100.5).is_err());
        assert!(sensitivity_fits(Percentile, -0.1).is_err());
        for m in [Stdev, Mad, Madpos, CoeffOfVariation] {
            assert!(sensitivity_fits(m, 0.0).is_ok());
            assert!(sensitivity_fits(m, -0.1).is_err());
        }
        assert!(sensitivity_fits(Float, -12.5).is_ok());
    }
}
