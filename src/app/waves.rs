//! `app`: how the use cases of one config's run are scheduled: in waves, each wave's
//! detections concurrently (under the run's bound on requests in flight), then their
//! tagging one use case after the other, in config order; terms use cases with the same
//! counts count once. Each report counts only its own use case's requests.
//!
//! Must not: build requests or evaluate (the pipeline does), or print.

use super::select::Span;
use super::ExitStatus;
use crate::config::UseCase;
use crate::execute::meter::Meter;
use crate::execute::{Cluster, EsError, HttpCluster, UpdateOptions};
use crate::pipeline;
use crate::pipeline::hints::Hints;
use crate::pipeline::shared::CountHub;
use crate::plan::TimeWindow;
use crate::report::{Status, UseCaseReport};
use crate::tag::Limits;

/// What every use case of one config's run shares.
pub(crate) struct RunContext<'a> {
    pub(crate) cluster: &'a HttpCluster,
    pub(crate) span: Span,
    pub(crate) baseline_days: Option<u64>,
    pub(crate) page_size: u32,
    pub(crate) limits: Limits,
    pub(crate) update: &'a UpdateOptions,
    pub(crate) dry_run: bool,
    /// `es_wipe_all_whitelisted_outliers` (and not a dry run).
    pub(crate) wipe_whitelisted: bool,
    /// What the last run of the config read per count.
    pub(crate) hints: &'a Hints,
}

impl RunContext<'_> {
    /// The window the counts of `uc` come from (its baseline, else its window).
    fn counting_window(&self, uc: &UseCase) -> TimeWindow {
        let window = self.span.window(uc.history_window_hours);
        pipeline::counting_window(window, pipeline::baseline_hours(uc, self.baseline_days))
    }

    /// The pipeline context of `uc` (sharing counts through `counts`), and its report
    /// before it runs.
    fn context<'s>(
        &'s self,
        uc: &UseCase,
        counts: Option<&'s CountHub>,
    ) -> (pipeline::Context<'s, HttpCluster>, UseCaseReport) {
        let window = self.span.window(uc.history_window_hours);
        let mut rep = pipeline::empty_report(uc, window);
        let baseline = pipeline::baseline_hours(uc, self.baseline_days);
        if let Some(h) = baseline {
            rep.baseline_start = Some(TimeWindow::ending_at(window.end, h).bounds().0);
        }
        let cx = pipeline::Context {
            cluster: self.cluster,
            window,
            baseline_hours: baseline,
            page_size: self.page_size,
            limits: self.limits,
            update: self.update.clone(),
            dry_run: self.dry_run,
            counts,
            hints: Some(self.hints),
        };
        (cx, rep)
    }
}

/// The use cases split into waves, in order: a wave's detections run concurrently, and
/// a use case whose detection may read what an earlier one tags
/// ([`pipeline::reads_outliers`]) starts a new wave, after everything before it is
/// tagged. A dry run writes nothing, so it is one wave. With one request in flight at a
/// time (`max_concurrent` 1) every use case is a wave of its own: detected, then tagged,
/// then the next, as a sequential run does.
pub(crate) fn waves(
    ucs: &[&UseCase],
    dry_run: bool,
    max_concurrent: usize,
) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, uc) in ucs.iter().enumerate() {
        let alone = max_concurrent <= 1 || (!dry_run && pipeline::reads_outliers(uc));
        if i > start && alone {
            out.push(start..i);
            start = i;
        }
    }
    if start < ucs.len() {
        out.push(start..ucs.len());
    }
    out
}

/// Runs one wave: the detections concurrently (within the run's bound on requests in
/// flight), then, in config order, each use case's tagging and its events over time.
/// Each report counts only its own use case's requests.
pub(crate) async fn run_wave(
    run: &RunContext<'_>,
    ucs: &[&UseCase],
) -> Vec<(UseCaseReport, ExitStatus)> {
    use futures_util::StreamExt;
    let limit = run.cluster.policy().max_concurrent.max(1);
    let hub = CountHub::new(ucs.iter().map(|uc| (*uc, run.counting_window(uc))));
    let hub = &hub;
    let detections: Vec<_> = futures_util::stream::iter(ucs.iter().copied().map(|uc| async move {
        let (cx, mut rep) = run.context(uc, Some(hub));
        let _claim = hub.claim(&uc.name);
        let meter = Meter::default();
        let res = meter
            .run(async {
                if run.wipe_whitelisted && !uc.whitelist.is_empty() {
                    pipeline::tagging::wipe_whitelisted(run.cluster, uc, cx.window, run.update)
                        .await?;
                }
                pipeline::detect(&cx, uc, &mut rep).await
            })
            .await;
        (rep, meter, res)
    }))
    .buffered(limit)
    .collect()
    .await;
    let mut out = Vec::with_capacity(ucs.len());
    for (uc, (mut rep, meter, res)) in ucs.iter().copied().zip(detections) {
        let (cx, _) = run.context(uc, None);
        let res = match res {
            Ok(d) => meter.run(pipeline::tag(&cx, uc, &d, &mut rep)).await,
            Err(e) => Err(e),
        };
        let status = conclude(uc, res, &mut rep);
        if !run.dry_run {
            rep.over_time = meter
                .run(super::review::over_time(run.cluster, uc, cx.window, &rep))
                .await;
        }
        let t = meter.traffic();
        rep.requests = t.requests;
        rep.retries = t.retries;
        rep.bytes_received = t.bytes_received;
        out.push((rep, status));
    }
    out
}

/// The use case's status from how its run ended: an error fails it (exit 3 when the
/// cluster could not be reached, else 1), and so does tagging that left failures or
/// version conflicts.
fn conclude(uc: &UseCase, res: Result<(), EsError>, rep: &mut UseCaseReport) -> ExitStatus {
    if let Err(e) = res {
        tracing::error!("use case {}: {e}", uc.name);
        rep.status = Status::Failed;
        rep.error = Some(e.to_string());
        return ExitStatus::of(&e);
    }
    let incomplete = rep
        .tagging
        .as_ref()
        .is_some_and(|t| !t.failures.is_empty() || t.version_conflicts > 0);
    if incomplete {
        rep.status = Status::Failed;
        rep.error = Some("tagging did not complete; see the failures".into());
        return ExitStatus::UseCaseFailed;
    }
    ExitStatus::Success
}

#[cfg(test)]
mod tests {
    use super::*;

    fn use_cases(text: &str) -> Vec<UseCase> {
        crate::config::parse(std::path::Path::new("w.conf"), text)
            .unwrap_or_else(|e| panic!("{e}"))
            .use_cases
    }

    #[test]
    fn a_use_case_that_may_read_earlier_tags_starts_a_wave_and_one_request_at_a_time_runs_each_alone(
    ) {
        let section = |name: &str, extra: &str| {
            format!("[simplequery_{name}]\nes_query_filter=a:b\noutlier_type=t\noutlier_reason=r\noutlier_summary=s\n{extra}\n")
        };
        let text = format!(
            "[general]\nes_index_pattern=x\nhistory_window_days=1\n{}{}{}{}",
            section("one", ""),
            section("two", ""),
            section("listed", "whitelist_literals_x=y\n"),
            section("four", "")
        );
        let ucs = use_cases(&text);
        let refs: Vec<&UseCase> = ucs.iter().collect();
        assert_eq!(waves(&refs, false, 2), vec![0..2, 2..4]);
        assert_eq!(
            waves(&refs, true, 2),
            vec![0..4],
            "a dry run writes nothing"
        );
        assert_eq!(waves(&refs, false, 1), vec![0..1, 1..2, 2..3, 3..4]);
        assert_eq!(waves(&[], false, 2), Vec::<std::ops::Range<usize>>::new());
    }
}
