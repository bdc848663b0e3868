//! `app`: the morning review around `run`: the tagged events over time of a use case
//! (one `date_histogram`), the notifications of a config's new outliers (`[notifier]`:
//! cache state file, one tagged event per message, e-mail and webhook through
//! [`crate::notify`]), and the history folder (`--history DIR`: earlier reports read,
//! this one written with mode 0600).
//!
//! A failure here never fails detection or tagging: it is written in the report (and
//! notifications not sent give exit status 4). Nothing here writes to the cluster.

use std::path::{Path, PathBuf};

use crate::config::{Config, UseCase};
use crate::execute::{Cluster, Policy};
use crate::notify::{self, Alert, Cache};
use crate::plan::{review as rplan, TimeWindow};
use crate::report::history::{self, PastRun};
use crate::report::{NotificationReport, OverTime, RunSummary, Status, UseCaseReport};

/// The use case's tagged events over `window`, when this run tagged some; `None` (with
/// a warning) when the request fails.
pub(crate) async fn over_time<C: Cluster>(
    cluster: &C,
    uc: &UseCase,
    window: TimeWindow,
    rep: &UseCaseReport,
) -> Option<OverTime> {
    let tagged = rep.tagging.as_ref().is_some_and(|t| t.matched > 0);
    if !tagged || rep.status != Status::Ok {
        return None;
    }
    let hours = ((window.end - window.start).whole_minutes().max(0) as u64).div_ceil(60);
    let body = rplan::histogram(uc, window);
    match cluster
        .search(&uc.index_pattern, &body, "tagged events over time")
        .await
    {
        Ok(resp) => Some(OverTime {
            interval: rplan::histogram_interval(hours).0.to_string(),
            buckets: rplan::histogram_buckets(&resp),
        }),
        Err(e) => {
            tracing::warn!("use case {}: tagged events over time: {e}", uc.name);
            None
        }
    }
}

/// At most this many tagged events are read for the messages of one run; later
/// messages say the event was not read.
const MAX_EVENTS_READ: usize = 50;

/// Notifies the new outliers of one config's use cases (`reps`, in the order of `ucs`)
/// and adds what it did to `report`. `dry_run` (`--dry-run`) sends nothing. Returns
/// whether everything that had to be sent was sent.
pub(crate) async fn notify_config<C: Cluster>(
    cfg: &Config,
    cluster: &C,
    ucs: &[&UseCase],
    reps: &[UseCaseReport],
    dry_run: bool,
    state: &Path,
    report: &mut Option<NotificationReport>,
) -> bool {
    let n = &cfg.notifier;
    if !n.enabled() {
        return true;
    }
    let rep = report.get_or_insert_with(NotificationReport::default);
    rep.dry_run |= dry_run;
    rep.state_files.push(state.display().to_string());
    if let Some(m) = &n.email {
        rep.channels.push(format!(
            "e-mail via {}:{} ({})",
            m.server,
            m.port,
            m.security.as_str()
        ));
    }
    if let Some(u) = &n.webhook_url {
        rep.channels
            .push(format!("webhook {}", notify::send::shown_url(u)));
    }
    let mut cache = load_cache(state, n.max_cache_ignore, rep);

    let (alerts, windows) = alerts_of(ucs, reps);
    let distinct: std::collections::BTreeSet<&str> =
        alerts.iter().map(|a| a.summary.as_str()).collect();
    let distinct = distinct.len() as u64;
    let mut fresh = notify::new_alerts(&cache, alerts);
    rep.new += fresh.len() as u64;
    rep.already_notified += distinct - fresh.len() as u64;
    if dry_run || fresh.is_empty() {
        return true;
    }

    attach_events(cluster, ucs, reps, &windows, &mut fresh).await;

    let policy: &Policy = cluster.policy();
    let mut delivered = vec![true; fresh.len()];
    if let Some(m) = &n.email {
        for (i, a) in fresh.iter().enumerate() {
            match notify::send::mail(m, &notify::email(a), policy).await {
                Ok(()) => rep.emails_sent += 1,
                Err(e) => {
                    delivered[i] = false;
                    rep.failures
                        .push(format!("{}: {e}", a.summary.replace('\n', " ")));
                }
            }
        }
    }
    if let Some(url) = &n.webhook_url {
        let body = notify::webhook_body(
            env!("CARGO_PKG_VERSION"),
            &cfg.path.display().to_string(),
            &fresh,
        );
        match notify::send::webhook(url, &body, policy).await {
            Ok(()) => rep.webhook_posts += 1,
            Err(e) => {
                delivered.iter_mut().for_each(|d| *d = false);
                rep.failures
                    .push(format!("{} new outlier(s): {e}", fresh.len()));
            }
        }
    }
    let all = delivered.iter().all(|d| *d);
    for (a, ok) in fresh.into_iter().zip(delivered) {
        if ok {
            cache.remember(a.summary);
        }
    }
    if let Err(e) = write_private(state, cache.to_text().as_bytes()) {
        rep.notes.push(format!(
            "the notification state file {} could not be written ({e}); the next run notifies these outliers again",
            state.display()
        ));
    }
    all
}

/// The notification state in `state` (the summaries notified before); an empty cache
/// holding at most `max` when there is none, or, with a note, when it cannot be read.
fn load_cache(state: &Path, max: usize, rep: &mut NotificationReport) -> Cache {
    match std::fs::read_to_string(state) {
        Ok(text) => Cache::parse(&text, max).unwrap_or_else(|| {
            rep.notes.push(format!(
                "the notification state file {} could not be read; every outlier counts as new",
                state.display()
            ));
            Cache::new(max)
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Cache::new(max),
        Err(e) => {
            rep.notes.push(format!(
                "the notification state file {} could not be read ({e}); every outlier counts as new",
                state.display()
            ));
            Cache::new(max)
        }
    }
}

/// One alert per outlier of the use cases that notify and ended well, with, per alert,
/// its use case and whether this run tagged (only then has it a tagged event to show).
fn alerts_of(ucs: &[&UseCase], reps: &[UseCaseReport]) -> (Vec<Alert>, Vec<(String, bool)>) {
    let mut alerts = Vec::new();
    let mut windows = Vec::new();
    for (uc, r) in ucs.iter().zip(reps) {
        if !uc.should_notify || r.status != Status::Ok {
            continue;
        }
        for o in &r.outliers {
            alerts.push(Alert {
                use_case: uc.name.clone(),
                model_type: r.model_type.clone(),
                outlier_type: uc.outlier_type.clone(),
                outlier_reason: uc.outlier_reason.clone(),
                summary: o.summary.clone(),
                aggregator: o.aggregator.clone(),
                target: o.target.clone(),
                events: o.term_count,
                event: None,
            });
            windows.push((uc.name.clone(), r.tagging.is_some()));
        }
    }
    (alerts, windows)
}

/// Adds one tagged event to each of the first alerts whose use case tagged in this run
/// (a failed search only logs a warning: the alert goes without its event).
async fn attach_events<C: Cluster>(
    cluster: &C,
    ucs: &[&UseCase],
    reps: &[UseCaseReport],
    windows: &[(String, bool)],
    fresh: &mut [Alert],
) {
    for a in fresh.iter_mut().take(MAX_EVENTS_READ) {
        let Some(uc) = ucs.iter().find(|u| u.name == a.use_case) else {
            continue;
        };
        if !windows.iter().any(|(n, t)| *n == a.use_case && *t) {
            continue;
        }
        let window = reps
            .iter()
            .find(|r| r.name == a.use_case)
            .and_then(window_of);
        let Some(window) = window else { continue };
        let body = rplan::event_of(uc, window, &a.summary);
        match cluster
            .search(&uc.index_pattern, &body, "event of a notified outlier")
            .await
        {
            Ok(resp) => {
                a.event = resp["hits"]["hits"].get(0).map(|h| {
                    serde_json::json!({"_index": h["_index"], "_id": h["_id"], "_source": h["_source"]})
                })
            }
            Err(e) => tracing::warn!("use case {}: event of a notified outlier: {e}", uc.name),
        }
    }
}

/// The detection window of a use case report.
fn window_of(r: &UseCaseReport) -> Option<TimeWindow> {
    let p = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    };
    Some(TimeWindow {
        start: p(&r.window_start)?,
        end: p(&r.window_end)?,
    })
}

/// Writes `bytes` to `path` readable by its owner only (0600 on Unix), through a
/// temporary file renamed over it, so a reader never sees half a file.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    let mut f = o.open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// The JSON reports of a history folder, oldest first (by file name, which `keep` makes
/// sortable), at most the last `last`: (file name, text).
pub(crate) fn read_history(
    dir: &Path,
    last: Option<u64>,
) -> std::io::Result<Vec<(String, String)>> {
    let mut names: Vec<PathBuf> = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(rd) => {
            for e in rd {
                let p = e?.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                if name.starts_with("run-") && name.ends_with(".json") {
                    names.push(p);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    }
    names.sort();
    if let Some(n) = last {
        let skip = names.len().saturating_sub(n as usize);
        names.drain(..skip);
    }
    names
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)?;
            Ok((
                p.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                text,
            ))
        })
        .collect()
}

/// Earlier runs from `files`; the names of those that are not reports go to
/// `unreadable`.
pub(crate) fn past_runs(files: &[(String, String)], unreadable: &mut Vec<String>) -> Vec<PastRun> {
    files
        .iter()
        .filter_map(|(name, text)| {
            let p = history::parse_past(text);
            if p.is_none() {
                unreadable.push(name.clone());
            }
            p
        })
        .collect()
}

/// Marks `summary` against the earlier runs in `dir`, then keeps it there as
/// `run-<UTC time to the nanosecond>.json` (mode 0600; the history block itself is not
/// kept). Returns the file written.
pub(crate) fn keep(dir: &Path, summary: &mut RunSummary) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let files = read_history(dir, None)?;
    let mut unreadable = Vec::new();
    let past = past_runs(&files, &mut unreadable);
    let mut view = history::compare(&past, summary);
    view.unreadable = unreadable;
    let now = time::OffsetDateTime::now_utc();
    let name = format!(
        "run-{:04}{:02}{:02}T{:02}{:02}{:02}.{:09}Z.json",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second(),
        now.nanosecond()
    );
    let path = dir.join(name);
    let text = serde_json::to_vec_pretty(&*summary).map_err(std::io::Error::other)?;
    write_private(&path, &text)?;
    summary.history = Some(view);
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kept_reports_are_private_sortable_and_the_last_n_are_read_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut names = Vec::new();
        for _ in 0..3 {
            let mut s = crate::report::RunSummary {
                schema_version: crate::report::JSON_SCHEMA_VERSION,
                esoutliers_version: "0".into(),
                config: "c".into(),
                cluster_url: "u".into(),
                cluster_product: None,
                dry_run: true,
                use_cases: Vec::new(),
                notifications: None,
                history: None,
            };
            names.push(keep(dir.path(), &mut s).unwrap());
            assert!(s.history.is_some());
        }
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, names, "names sort in run order");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&names[0]).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join("notes.txt"), "not a report").unwrap();
        let last2 = read_history(dir.path(), Some(2)).unwrap();
        let want: Vec<String> = names[1..]
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            last2.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            want
        );
        assert!(read_history(&dir.path().join("absent"), None)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn a_file_that_is_not_a_report_is_named_and_left_out() {
        let mut bad = Vec::new();
        let files = vec![
            ("run-1.json".to_string(), "{".to_string()),
            (
                "run-2.json".to_string(),
                "{\"schema_version\":1,\"use_cases\":[]}".to_string(),
            ),
        ];
        assert_eq!(past_runs(&files, &mut bad).len(), 1);
        assert_eq!(bad, vec!["run-1.json".to_string()]);
    }
}
