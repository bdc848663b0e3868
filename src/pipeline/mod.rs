//! The pipeline every use case goes through, whatever its model:
//!
//! ```text
//! [`detect`]: index check (indices::check_indices: closed indices skipped, unreadable ones named)
//!   -> the model's detect (model file: plan -> execute -> evaluate, whitelists) -> Detection { tagging requests }
//! [`tag`]: tagging::tag_and_check (passes, check after tagging) -> report
//! ```
//!
//! A model is a file here (`terms.rs`, ...) with one `detect` function plus its pure parts
//! under the stage folders (`plan/`, `evaluate/`, `tag/`); [`detect`] is the only
//! place that names the models. Everything here talks to the cluster only through the
//! [`Cluster`] trait, so the orchestration is unit-tested on an in-memory fake.
//!
//! Must not: build request bodies or do trigger math (the pure stages do), or print.

pub mod count;
pub mod fields;
pub mod hints;
pub mod indices;
pub mod metrics;
pub mod printed;
pub mod shared;
pub mod simplequery;
pub mod sudden;
pub mod tagging;
pub mod terms;

#[cfg(test)]
mod fake;

use crate::config::{ModelSpec, UseCase};
use crate::execute::{Cluster, EsError, UpdateOptions};
use crate::plan::{TimeWindow, DEFAULT_PAGE_SIZE};
use crate::report::{Status, UseCaseReport};
use crate::tag::{Limits, UpdateByQuery};

/// What every stage of one run shares.
pub struct Context<'a, C: Cluster> {
    pub cluster: &'a C,
    /// The detection window of the use case.
    pub window: TimeWindow,
    /// `--baseline` / `baseline_window_days` in hours; `None`: counts come from the window.
    pub baseline_hours: Option<u64>,
    /// Buckets per composite page (the cluster's `search.max_buckets`).
    pub page_size: u32,
    pub limits: Limits,
    pub update: UpdateOptions,
    /// Evaluate and report only; nothing is written.
    pub dry_run: bool,
    /// Use cases of this run that count once for several ([`shared::CountHub`]).
    pub counts: Option<&'a shared::CountHub>,
    /// What the last run of the config read per count ([`hints::Hints`]).
    pub hints: Option<&'a hints::Hints>,
}

/// What a model's detection hands to tagging.
#[derive(Debug, Default)]
pub struct Detection {
    /// The tagging requests; empty in a dry run or without outliers.
    pub requests: Vec<UpdateByQuery>,
}

/// Detects the outliers of one use case: the index check, then its model. The report is
/// filled as far as detection got. Detections of several use cases may run concurrently:
/// they only read.
pub async fn detect<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    rep: &mut UseCaseReport,
) -> Result<Detection, EsError> {
    index_check(cx, uc, rep).await?;
    match &uc.model {
        ModelSpec::Terms => terms::detect(cx, uc, rep).await,
        ModelSpec::SimpleQuery(_) => simplequery::detect(cx, uc, rep).await,
        ModelSpec::Metrics(_) => metrics::detect(cx, uc, rep).await,
        ModelSpec::SuddenAppearance(spec) => sudden::detect(cx, uc, spec, rep).await,
    }
}

/// Writes a detection: tagging and the check after tagging (nothing to do without
/// requests). Use cases are tagged one after the other, in config order, so an event
/// flagged by several gets their entries in that order.
pub async fn tag<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    detection: &Detection,
    rep: &mut UseCaseReport,
) -> Result<(), EsError> {
    if detection.requests.is_empty() {
        return Ok(());
    }
    tagging::tag_and_check(cx, uc, &detection.requests, rep).await
}

/// True when detecting `uc` may read what tagging an earlier use case writes, so it must
/// wait for it: its filter or its summary names an `outliers` field, or it has whitelists
/// (they look at every value of an event, `outliers` included).
pub fn reads_outliers(uc: &UseCase) -> bool {
    let filter = match &uc.filter {
        crate::config::Filter::None => String::new(),
        crate::config::Filter::QueryString(q) => q.clone(),
        crate::config::Filter::Dsl(v) => v.to_string(),
    };
    !uc.whitelist.is_empty()
        || filter.contains("outliers")
        || crate::tag::event_placeholders(uc)
            .iter()
            .any(|p| p.to_lowercase().starts_with("outliers"))
}

/// Before a model runs: the closed indices of the pattern (into the report), an index the
/// user cannot read, a timestamp field that is not a date ([`indices::check_indices`]).
async fn index_check<C: Cluster>(
    cx: &Context<'_, C>,
    uc: &UseCase,
    rep: &mut UseCaseReport,
) -> Result<(), EsError> {
    rep.skipped_indices =
        indices::check_indices(cx.cluster, &uc.index_pattern, &uc.timestamp_field).await?;
    Ok(())
}

/// Buckets per composite page: the cluster's `search.max_buckets` (capped at 65,536), else
/// [`DEFAULT_PAGE_SIZE`] (the limit of Elasticsearch 7.0-7.8).
pub fn page_size(max_buckets: Option<u32>) -> u32 {
    max_buckets.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, 65_536)
}

/// The baseline of a use case in hours: `--baseline DAYS` for every use case of the run,
/// else the use case's `baseline_window_days`; `None`: counts come from the window.
pub fn baseline_hours(uc: &UseCase, flag_days: Option<u64>) -> Option<u64> {
    flag_days
        .map(|d| d.saturating_mul(24))
        .or(uc.baseline_window_hours)
}

/// The window counts and frontiers come from: the baseline ending with the detection
/// window, or the detection window itself.
pub fn counting_window(window: TimeWindow, baseline_hours: Option<u64>) -> TimeWindow {
    match baseline_hours {
        Some(h) => TimeWindow::ending_at(window.end, h),
        None => window,
    }
}

/// A progress bar on stderr, hidden when stderr is not a terminal or logs are verbose.
pub fn progress_bar(what: &str) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    let bar = indicatif::ProgressBar::new(0);
    if !std::io::stderr().is_terminal() || tracing::enabled!(tracing::Level::DEBUG) {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} events")
    {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar
}

/// The report of a use case before it runs (filled as the run goes).
pub fn empty_report(uc: &UseCase, window: TimeWindow) -> UseCaseReport {
    let (start, end) = window.bounds();
    UseCaseReport {
        name: uc.name.clone(),
        model_type: uc.model.model_type().to_string(),
        status: Status::Ok,
        error: None,
        index: uc.index_pattern.clone(),
        window_start: start,
        window_end: end,
        aggregator: uc.aggregator.clone(),
        target: uc.target.clone(),
        trigger: match uc.model {
            crate::config::ModelSpec::Terms => format!(
                "{} {} {} {}",
                uc.count_method.as_str(),
                uc.trigger.on.as_str(),
                uc.trigger.method.as_str(),
                uc.trigger.sensitivity
            ),
            ref other => other.model_type().to_string(),
        },
        events_in_window: None,
        pages: 0,
        buckets_read: 0,
        requests: 0,
        retries: 0,
        bytes_received: 0,
        es_took_ms: 0,
        partitions: 0,
        lead_requests: 0,
        events_visited: 0,
        count_passes: None,
        count_shared_with: None,
        detection_ms: 0,
        tagging_ms: 0,
        whitelisted_events: 0,
        outliers: Vec::new(),
        tagging: None,
        charts: Vec::new(),
        skipped_indices: Vec::new(),
        baseline_start: None,
        sudden: None,
        over_time: None,
    }
}
