//! `app`: the `run` command: one lock per config, the cluster, every selected use case
//! through [`crate::pipeline::detect`] (concurrently, in waves) and [`crate::pipeline::tag`]
//! (in config order), then the report.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{Context, Result};

use super::files::{lock, report_file, run_file};
use super::select::{load_all, select_all, Span};
use super::waves::{run_wave, waves, RunContext};
use super::ExitStatus;
use crate::cli::RunArgs;
use crate::config::{Config, UseCase};
use crate::execute::{redact_url, ClusterOptions, Credentials, HttpCluster, Policy, UpdateOptions};
use crate::pipeline;
use crate::pipeline::hints::Hints;
use crate::plan::{TimeWindow, DEFAULT_PAGE_SIZE};
use crate::report::{self, RunSummary};
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
        notifications: None,
        history: None,
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
    let policy = Policy {
        max_concurrent: usize::from(args.max_concurrent_requests),
        ..Policy::default()
    };
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
    if let Some(dir) = &args.history {
        match super::review::keep(dir, &mut summary) {
            Ok(p) => tracing::info!("report kept in {}", p.display()),
            Err(e) => {
                eprintln!("error: cannot keep the report in {}: {e}", dir.display());
                status = status.max(ExitStatus::UseCaseFailed);
            }
        }
    }
    let not_sent = summary
        .notifications
        .as_ref()
        .is_some_and(|n| !n.failures.is_empty());
    if status == ExitStatus::Success && not_sent {
        status = ExitStatus::NotifyFailed;
    }
    let opts = report::review::HtmlOptions {
        log_scale: args.log_scale,
    };

    let format = args.format;
    match &args.output {
        Some(path) => {
            let mut f = report_file(path)
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            report::render_with(&summary, format, opts, &mut f)?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            if let Err(e) =
                report::render_with(&summary, format, opts, &mut lock).and_then(|_| lock.flush())
            {
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

    let first = summary.use_cases.len();
    // What the last run read per count (a cache beside the lock: none is no error).
    let hints_file = run_file(cfg, "counts.json");
    let hints = Hints::parse(
        &hints_file
            .as_ref()
            .ok()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default(),
    );
    let run = RunContext {
        cluster: &cluster,
        span,
        baseline_days: args.baseline,
        page_size,
        limits,
        update: &update,
        dry_run,
        wipe_whitelisted: cfg.general.wipe_all_whitelisted_outliers && !dry_run,
        hints: &hints,
    };
    for wave in waves(ucs, dry_run, policy.max_concurrent) {
        let reports = run_wave(&run, &ucs[wave]).await;
        for (rep, s) in reports {
            status = status.max(s);
            summary.use_cases.push(rep);
        }
    }
    if let Err(e) = hints_file
        .and_then(|p| std::fs::write(&p, hints.save()).map_err(|e| format!("{}: {e}", p.display())))
    {
        tracing::warn!("the sizes of this run's counts were not kept for the next run: {e}");
    }
    // The notification state lives beside the lock, in the run folder this run already
    // locked in (so the folder is known to be this user's own).
    match run_file(cfg, "notified.json") {
        Ok(state) => {
            super::review::notify_config(
                cfg,
                &cluster,
                ucs,
                &summary.use_cases[first..],
                args.dry_run,
                &state,
                &mut summary.notifications,
            )
            .await;
        }
        Err(e) => tracing::warn!("notifications not sent: {e}"),
    }

    status
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
    let mut opts = cluster_options(&url, cfg.general.es_timeout_secs, insecure).map_err(|msg| {
        eprintln!("error: {msg}");
        ExitStatus::Cluster
    })?;
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

/// Connection settings from the environment: `ES_API_KEY` or `ES_API_KEY_FILE`,
/// `ES_USER` with `ES_PASSWORD` or `ES_PASSWORD_FILE` (basic wins over an API key, as
/// before), `ES_CA_CERT`. A `_FILE` variable names a file holding the secret (one
/// trailing newline is dropped), so the secret need not sit in the environment (systemd
/// `LoadCredential`, Kubernetes secrets). The error names the variable and the file, never
/// a secret.
pub(crate) fn cluster_options(
    url: &str,
    general_timeout: u64,
    insecure: bool,
) -> Result<ClusterOptions, String> {
    let mut o = ClusterOptions::new(url);
    o.timeout = std::time::Duration::from_secs(general_timeout.max(1));
    o.insecure = insecure;
    if insecure {
        tracing::warn!("--insecure: TLS certificates are NOT verified; anyone between this machine and the cluster can read and change the traffic");
    }
    if let Some(k) = secret("ES_API_KEY")? {
        o.credentials = Credentials::ApiKey(k);
    }
    let user = std::env::var("ES_USER").ok().filter(|u| !u.is_empty());
    if let Some(user) = user {
        let password = secret("ES_PASSWORD")?.unwrap_or_default();
        o.credentials = Credentials::Basic { user, password };
    }
    if let Ok(ca) = std::env::var("ES_CA_CERT") {
        if !ca.is_empty() {
            o.ca_cert = Some(ca.into());
        }
    }
    Ok(o)
}

/// The secret in `$NAME`, or in the file `$NAME_FILE`; both set is an error.
fn secret(name: &str) -> Result<Option<String>, String> {
    let direct = std::env::var(name).ok().filter(|v| !v.is_empty());
    let file_var = format!("{name}_FILE");
    let file = std::env::var_os(&file_var).filter(|v| !v.is_empty());
    match (direct, file) {
        (Some(_), Some(_)) => Err(format!("both {name} and {file_var} are set; keep one")),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "cannot read {file_var} ({}): {e}",
                    std::path::Path::new(&path).display()
                )
            })?;
            let v = text
                .strip_suffix('\n')
                .map(|t| t.strip_suffix('\r').unwrap_or(t))
                .unwrap_or(&text);
            if v.is_empty() {
                return Err(format!(
                    "{file_var} ({}) is empty",
                    std::path::Path::new(&path).display()
                ));
            }
            Ok(Some(v.to_string()))
        }
        (None, None) => Ok(None),
    }
}
