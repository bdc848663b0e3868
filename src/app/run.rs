//! `app`: the `run` command: one lock per config, the cluster, every selected use case
//! through [`crate::pipeline::run_use_case`], then the report.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{Context, Result};

use super::select::{load_all, select_all, Span};
use super::ExitStatus;
use crate::cli::RunArgs;
use crate::config::{Config, UseCase};
use crate::execute::{
    redact_url, ClusterOptions, Credentials, EsError, HttpCluster, Policy, UpdateOptions,
};
use crate::pipeline;
use crate::plan::{TimeWindow, DEFAULT_PAGE_SIZE};
use crate::report::{self, RunSummary, Status, UseCaseReport};
use crate::tag::Limits;

/// `run`: every selected use case of every config, then the report.
pub(crate) async fn run(args: &RunArgs) -> Result<ExitStatus> {
    let cfgs = match load_all(&args.config) {
        Ok(c) => c,
        Err(s) => return Ok(s),
    };
    let selected = match select_all(&cfgs, &args.selection) {
        Ok(u) => u,
        Err(s) => return Ok(s),
    };
    let span = match Span::from_args(
        args.now.as_deref(),
        args.since.as_deref(),
        args.until.as_deref(),
    ) {
        Ok(s) => s,
        Err(s) => return Ok(s),
    };
    let mut summary = RunSummary {
        schema_version: report::JSON_SCHEMA_VERSION,
        esoutliers_version: env!("CARGO_PKG_VERSION").to_string(),
        config: args.config.config.display().to_string(),
        cluster_url: redact_url(&cluster_url(&cfgs[0])),
        cluster_product: None,
        dry_run: args.dry_run || cfgs.iter().all(|c| !c.general.save_results),
        use_cases: Vec::new(),
    };
    let mut locks = Vec::new();
    for cfg in &cfgs {
        match lock(cfg) {
            Ok(l) => locks.push(l),
            Err(msg) => {
                eprintln!("error: {msg}");
                return Ok(ExitStatus::UseCaseFailed);
            }
        }
    }
    let policy = Policy::default();
    spawn_signal_handler(policy.stop.clone());
    let mut status = ExitStatus::Success;
    for (cfg, ucs) in selected {
        if ucs.is_empty() {
            continue;
        }
        let s = run_config(cfg, &ucs, args, span, &policy, &mut summary).await;
        status = status.max(s);
        if s == ExitStatus::Cluster {
            break;
        }
    }

    let format = args.format;
    match &args.output {
        Some(path) => {
            let mut f = std::fs::File::create(path)
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            report::render(&summary, format, &mut f)?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            if let Err(e) = report::render(&summary, format, &mut lock).and_then(|_| lock.flush()) {
                // A closed pipe (`| head`) is not an error of the run.
                if e.kind() != std::io::ErrorKind::BrokenPipe {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(status)
}

/// Runs the selected use cases of one config file; their reports go into `summary`.
pub(crate) async fn run_config(
    cfg: &Config,
    ucs: &[&UseCase],
    args: &RunArgs,
    span: Span,
    policy: &Policy,
    summary: &mut RunSummary,
) -> ExitStatus {
    let dry_run = args.dry_run || !cfg.general.save_results;
    let mut status = ExitStatus::Success;
    let cluster = match connect(cfg, args.insecure, policy).await {
        Ok((c, product)) => {
            summary.cluster_product = Some(product);
            c
        }
        Err(s) => return s,
    };
    let (max_buckets, max_clauses) = cluster.limits().await.unwrap_or_else(|e| {
        tracing::warn!("cannot read the cluster's limits ({e}); using {DEFAULT_PAGE_SIZE} buckets per page and 1,024 clauses");
        (None, None)
    });
    let page_size = pipeline::page_size(max_buckets);
    let limits = Limits {
        max_clauses: max_clauses.unwrap_or(1024),
        ..Limits::default()
    };
    let update = UpdateOptions {
        requests_per_second: args.requests_per_second,
        ..UpdateOptions::default()
    };

    if cfg.general.wipe_all_existing_outliers && !dry_run {
        // ee-outliers' es_wipe_all_existing_outliers: clear every entry in the window of
        // each selected use case's indices first.
        let targets: BTreeSet<(&str, &str, TimeWindow)> = ucs
            .iter()
            .map(|u| {
                let w = span.window(u.history_window_hours);
                (u.index_pattern.as_str(), u.timestamp_field.as_str(), w)
            })
            .collect();
        if let Err(e) = pipeline::tagging::wipe_existing(&cluster, &targets, &update).await {
            eprintln!("error: es_wipe_all_existing_outliers: {e}");
            return ExitStatus::of(&e);
        }
    }

    for uc in ucs.iter().copied() {
        let window = span.window(uc.history_window_hours);
        let mut rep = pipeline::empty_report(uc, window);
        let started = cluster.traffic();
        let mut res = Ok(());
        if cfg.general.wipe_all_whitelisted_outliers && !dry_run && !uc.whitelist.is_empty() {
            res = pipeline::tagging::wipe_whitelisted(&cluster, uc, window, &update).await;
        }
        if res.is_ok() {
            let baseline = pipeline::baseline_hours(uc, args.baseline);
            if let Some(h) = baseline {
                rep.baseline_start = Some(TimeWindow::ending_at(window.end, h).bounds().0);
            }
            let cx = pipeline::Context {
                cluster: &cluster,
                window,
                baseline_hours: baseline,
                page_size,
                limits,
                update: update.clone(),
                dry_run,
            };
            res = pipeline::run_use_case(&cx, uc, &mut rep).await;
        }
        let t = cluster.traffic().since(started);
        rep.requests = t.requests;
        rep.retries = t.retries;
        rep.bytes_received = t.bytes_received;
        status = status.max(conclude(uc, res, &mut rep));
        summary.use_cases.push(rep);
    }

    status
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

/// One run per config at a time: an exclusive lock on a file named after the config's
/// canonical path, in the system's temporary folder. Released when the process ends,
/// however it ends.
pub(crate) fn lock(cfg: &Config) -> Result<std::fs::File, String> {
    use std::hash::{Hash, Hasher};
    let canon = std::fs::canonicalize(&cfg.path).unwrap_or_else(|_| cfg.path.clone());
    let mut h = std::collections::hash_map::DefaultHasher::new();
    canon.hash(&mut h);
    let path = std::env::temp_dir().join(format!("esoutliers-{:016x}.lock", h.finish()));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open the lock file {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another esoutliers run of {} is in progress (lock {}); this run did nothing",
            canon.display(),
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// SIGINT and SIGTERM cancel `stop`; the run stops before its next request, and any wait
/// ends at once.
pub(crate) fn spawn_signal_handler(stop: tokio_util::sync::CancellationToken) {
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = int.recv() => {},
                _ = term.recv() => {},
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::warn!("signal received: stopping after the request in flight");
        stop.cancel();
    });
}

/// `ES_URL`, else the config's `es_url`, else the local default.
pub(crate) fn cluster_url(cfg: &Config) -> String {
    std::env::var("ES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| cfg.general.es_url.clone())
        .unwrap_or_else(|| "http://127.0.0.1:9200".to_string())
}

/// Opens the cluster and checks it answers; the exit status to return when it does not.
pub(crate) async fn connect(
    cfg: &Config,
    insecure: bool,
    policy: &Policy,
) -> Result<(HttpCluster, String), ExitStatus> {
    let url = cluster_url(cfg);
    let mut opts = cluster_options(&url, cfg.general.es_timeout_secs, insecure);
    opts.policy = policy.clone();
    let cluster = HttpCluster::open(opts).map_err(|e| {
        eprintln!("error: {e}");
        ExitStatus::Cluster
    })?;
    match cluster.info().await {
        Ok(info) => {
            tracing::info!("cluster {} at {}", info.product(), cluster.url());
            Ok((cluster, info.product()))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(ExitStatus::of(&e))
        }
    }
}

pub(crate) fn cluster_options(url: &str, general_timeout: u64, insecure: bool) -> ClusterOptions {
    let mut o = ClusterOptions::new(url);
    o.timeout = std::time::Duration::from_secs(general_timeout.max(1));
    o.insecure = insecure;
    if insecure {
        tracing::warn!("--insecure: TLS certificates are NOT verified");
    }
    if let Ok(k) = std::env::var("ES_API_KEY") {
        if !k.is_empty() {
            o.credentials = Credentials::ApiKey(k);
        }
    }
    if let (Ok(u), Ok(p)) = (std::env::var("ES_USER"), std::env::var("ES_PASSWORD")) {
        if !u.is_empty() {
            o.credentials = Credentials::Basic {
                user: u,
                password: p,
            };
        }
    }
    if let Ok(ca) = std::env::var("ES_CA_CERT") {
        if !ca.is_empty() {
            o.ca_cert = Some(ca.into());
        }
    }
    o
}
