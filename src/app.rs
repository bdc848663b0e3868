//! The one place that runs the stages in order: config -> plan -> execute (count) ->
//! evaluate -> execute (whitelist fetch) -> tag -> execute (update) -> report.
//!
//! `anyhow` lives here and in `main` only. Exit statuses are decided in [`ExitStatus`].
//! One failing use case does not stop the others.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use anyhow::{Context, Result};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::cli::{Cli, Command, ConfigArgs, PlanArgs, RunArgs, Selection, UntagArgs};
use crate::config::{self, Config, UseCase};
use crate::es::AfterKey;
use crate::evaluate::{self, Finding};
use crate::execute::{
    redact_url, ClusterOptions, Credentials, EsError, HttpCluster, Policy, UpdateOptions,
};
use crate::pipeline;
use crate::plan::{self, TimeWindow, DEFAULT_PAGE_SIZE};
use crate::report::{self, RunSummary, Status, UseCaseReport};
use crate::tag::{self, Limits};

/// Process exit status, decided here only (documented in the README and `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum ExitStatus {
    Success = 0,
    UseCaseFailed = 1,
    Usage = 2,
    Cluster = 3,
}

impl ExitStatus {
    /// A cluster error's status: 3 when the cluster could not be reached or refused the
    /// credentials, else 1.
    fn of(e: &EsError) -> ExitStatus {
        if e.is_connection() {
            ExitStatus::Cluster
        } else {
            ExitStatus::UseCaseFailed
        }
    }
}

/// `-v`/`-q` choose the filter; `RUST_LOG` overrides. Logs go to stderr, coloured only
/// when stderr is a terminal.
pub fn init_logging(verbose: u8, quiet: bool) {
    let default = if quiet {
        "error"
    } else {
        match verbose {
            0 => "esoutliers=info",
            1 => "esoutliers=debug",
            _ => "esoutliers=trace",
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour codes only for a person at a terminal; a log file (cron) gets plain text.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

/// Runs the command and returns the exit status.
pub fn main(cli: Cli) -> ExitStatus {
    match cli.command {
        Command::Check(args) => check(&args),
        Command::Plan(args) => plan_cmd(&args),
        Command::Run(args) => block_on(run(&args)),
        Command::Untag(args) => block_on(untag(&args)),
    }
}

fn block_on(fut: impl std::future::Future<Output = Result<ExitStatus>>) -> ExitStatus {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitStatus::UseCaseFailed;
        }
    };
    match rt.block_on(fut) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitStatus::UseCaseFailed
        }
    }
}

/// `ES_URL`, else the config's `es_url`, else the local default.
fn cluster_url(cfg: &Config) -> String {
    std::env::var("ES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .or_else(|| cfg.general.es_url.clone())
        .unwrap_or_else(|| "http://127.0.0.1:9200".to_string())
}

/// Opens the cluster and checks it answers; the exit status to return when it does not.
async fn connect(
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

async fn untag(args: &UntagArgs) -> Result<ExitStatus> {
    let cfgs = match load_all(&args.config) {
        Ok(c) => c,
        Err(s) => return Ok(s),
    };
    let selected = match select_all(&cfgs, &args.selection) {
        Ok(u) => u,
        Err(s) => return Ok(s),
    };
    let mut status = ExitStatus::Success;
    for (cfg, ucs) in &selected {
        // Without --use-case, untag covers every use case of the file (run_model=0 too).
        let ucs: Vec<&UseCase> = if args.selection.use_cases.is_empty() {
            cfg.use_cases.iter().collect()
        } else {
            ucs.clone()
        };
        if ucs.is_empty() && !args.all {
            continue;
        }
        status = status.max(untag_config(cfg, &ucs, args).await);
    }
    Ok(status)
}

async fn untag_config(cfg: &Config, ucs: &[&UseCase], args: &UntagArgs) -> ExitStatus {
    let (cluster, _) = match connect(cfg, args.insecure, &Policy::default()).await {
        Ok(c) => c,
        Err(s) => return s,
    };
    let removal = if args.all {
        tag::Removal::All
    } else {
        tag::Removal::Models(ucs.iter().map(|u| u.model_name.clone()).collect())
    };
    // The indices of the use cases (each may name its own), else the general pattern.
    let mut indices: BTreeSet<&str> = ucs.iter().map(|u| u.index_pattern.as_str()).collect();
    if indices.is_empty() && !cfg.general.es_index_pattern.is_empty() {
        indices.insert(&cfg.general.es_index_pattern);
    }
    let mut status = ExitStatus::Success;
    for index in indices {
        let req = tag::untag_request(index, &tag::tagged_events_query(None), &removal);
        match cluster
            .update_by_query(
                &req.index,
                &req.body,
                &UpdateOptions::default(),
                &mut |_| {},
            )
            .await
        {
            Ok(r) => {
                println!(
                    "untag {}: {} event(s) changed, {} left as they were{}",
                    req.index,
                    r.updated,
                    r.noops,
                    if r.failures.is_empty() {
                        String::new()
                    } else {
                        format!(", {} failure(s)", r.failures.len())
                    }
                );
                for f in &r.failures {
                    eprintln!("failure: {}", tag::TaskFailure::parse(f).describe());
                }
                if !r.failures.is_empty() || r.version_conflicts > 0 {
                    status = status.max(ExitStatus::UseCaseFailed);
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                return ExitStatus::of(&e);
            }
        }
    }
    status
}

/// Loads the config file, or every `.conf` file of a folder in name order. Every problem
/// of every file is printed; any problem means exit status 2.
fn load_all(args: &ConfigArgs) -> Result<Vec<Config>, ExitStatus> {
    let files = match config::files(&args.config) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => {
            eprintln!("error: {} holds no .conf file", args.config.display());
            return Err(ExitStatus::Usage);
        }
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.config.display());
            return Err(ExitStatus::Usage);
        }
    };
    let mut out = Vec::new();
    let mut problems = 0;
    for f in files {
        match config::load(&f) {
            Ok(c) => {
                for n in &c.notices {
                    tracing::info!("{}: {}", n.location, n.message);
                }
                out.push(c);
            }
            Err(errors) => {
                eprintln!("{errors}");
                problems += errors.errors.len();
            }
        }
    }
    if problems > 0 {
        eprintln!(
            "error: {} problem(s) in {}; nothing was run",
            problems,
            args.config.display()
        );
        return Err(ExitStatus::Usage);
    }
    Ok(out)
}

/// `*` and `?` wildcards, matched against the whole name. Only those two are wildcards
/// (the README promises no more): `[`, `]`, `{` and `}` are escaped into literals before
/// globset sees the pattern, and a backslash is an ordinary character.
fn glob_match(pattern: &str, name: &str) -> bool {
    let literal_elsewhere: String = pattern
        .chars()
        .map(|c| match c {
            '[' | ']' | '{' | '}' => format!("[{c}]"),
            c => c.to_string(),
        })
        .collect();
    globset::GlobBuilder::new(&literal_elsewhere)
        .literal_separator(false)
        .backslash_escape(false)
        .build()
        .is_ok_and(|g| g.compile_matcher().is_match(name))
}

/// The use cases to run per config: those matching a `--use-case` name or glob (each
/// pattern must match something), or every `run_model=1` case.
fn select_all<'a>(
    cfgs: &'a [Config],
    sel: &Selection,
) -> Result<Vec<(&'a Config, Vec<&'a UseCase>)>, ExitStatus> {
    let mut out = Vec::new();
    let mut matched = vec![false; sel.use_cases.len()];
    for cfg in cfgs {
        let ucs: Vec<&UseCase> = cfg
            .use_cases
            .iter()
            .filter(|u| {
                if sel.use_cases.is_empty() {
                    return u.run_model && cfg.general.run_models;
                }
                let mut any = false;
                for (i, p) in sel.use_cases.iter().enumerate() {
                    if glob_match(p, &u.name) || glob_match(p, &u.model_name) {
                        matched[i] = true;
                        any = true;
                    }
                }
                any
            })
            .collect();
        out.push((cfg, ucs));
    }
    if let Some(i) = matched.iter().position(|m| !m) {
        let known: Vec<&str> = cfgs
            .iter()
            .flat_map(|c| c.use_cases.iter().map(|u| u.name.as_str()))
            .collect();
        eprintln!(
            "error: --use-case {}: matches no use case; known: {}",
            sel.use_cases[i],
            known.join(", ")
        );
        return Err(ExitStatus::Usage);
    }
    Ok(out)
}

/// The time span of a run: the window ends at `until` (default now) and starts at
/// `since` when given, else `history_window_days/hours` before `until`.
#[derive(Debug, Clone, Copy)]
struct Span {
    until: OffsetDateTime,
    since: Option<OffsetDateTime>,
}

impl Span {
    fn from_args(
        now: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Span, ExitStatus> {
        let now = parse_now(now)?;
        let until = match until {
            Some(u) => parse_time("--until", u, now)?,
            None => now,
        };
        let since = since.map(|s| parse_time("--since", s, until)).transpose()?;
        if since.is_some_and(|s| s >= until) {
            eprintln!("error: --since must be before --until");
            return Err(ExitStatus::Usage);
        }
        Ok(Span { until, since })
    }

    fn window(&self, hours: u64) -> TimeWindow {
        match self.since {
            Some(start) => TimeWindow {
                start,
                end: self.until,
            },
            None => TimeWindow::ending_at(self.until, hours),
        }
    }
}

/// RFC 3339, or a duration before `base` in humantime's syntax: `90m`, `24h`, `7d`,
/// `1h 30m` (a leading `+` is allowed, as before). A time before year -9999 is refused
/// like any other bad value.
fn parse_time(flag: &str, s: &str, base: OffsetDateTime) -> Result<OffsetDateTime, ExitStatus> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let ago = humantime::parse_duration(s.strip_prefix('+').unwrap_or(s))
        .ok()
        .and_then(|d| time::Duration::try_from(d).ok())
        .and_then(|d| base.checked_sub(d));
    ago.ok_or_else(|| {
        eprintln!("error: {flag} {s}: write an RFC 3339 time (2026-11-28T00:00:00Z) or a duration ago (90m, 24h, 7d)");
        ExitStatus::Usage
    })
}

fn check(args: &ConfigArgs) -> ExitStatus {
    let cfgs = match load_all(args) {
        Ok(c) => c,
        Err(s) => return s,
    };
    for cfg in &cfgs {
        check_one(cfg);
    }
    ExitStatus::Success
}

fn check_one(cfg: &Config) {
    println!(
        "{}: ok, {} use case(s)",
        cfg.path.display(),
        cfg.use_cases.len()
    );
    for uc in &cfg.use_cases {
        let supported = matches!(
            uc.model,
            config::ModelSpec::Terms | config::ModelSpec::SimpleQuery(_)
        );
        if !supported {
            println!(
                "  {}  {}: not supported yet, skipped by run",
                uc.name,
                uc.model.model_type()
            );
            continue;
        }
        println!(
            "  {}  {}  aggregator={} target={} {} {} {} {}{}",
            uc.name,
            if uc.run_model {
                "run"
            } else {
                "skip (run_model=0)"
            },
            uc.aggregator.join(","),
            uc.target.join(","),
            uc.count_method.as_str(),
            uc.trigger.on.as_str(),
            uc.trigger.method.as_str(),
            uc.trigger.sensitivity,
            if uc.whitelist.is_empty() {
                String::new()
            } else {
                "  (whitelists)".into()
            },
        );
    }
    for n in &cfg.notices {
        println!("  note: {}: {}", n.location, n.message);
    }
}

fn parse_now(now: Option<&str>) -> Result<OffsetDateTime, ExitStatus> {
    match now {
        None => Ok(OffsetDateTime::now_utc()),
        Some(s) => OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
            eprintln!("error: --now {s}: not an RFC 3339 time ({e}); e.g. 2026-11-28T00:00:00Z");
            ExitStatus::Usage
        }),
    }
}

fn plan_cmd(args: &PlanArgs) -> ExitStatus {
    let cfgs = match load_all(&args.config) {
        Ok(c) => c,
        Err(s) => return s,
    };
    let selected = match select_all(&cfgs, &args.selection) {
        Ok(u) => u,
        Err(s) => return s,
    };
    let now = match parse_now(args.now.as_deref()) {
        Ok(n) => n,
        Err(s) => return s,
    };
    let out = serde_json::json!(selected
        .iter()
        .flat_map(|(_, ucs)| ucs.iter().map(|uc| plan_json(uc, now)))
        .collect::<Vec<_>>());
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    ExitStatus::Success
}

/// The requests of one use case as `plan` prints them (and as snapshots record them).
pub fn plan_json(uc: &UseCase, now: OffsetDateTime) -> Value {
    let window = TimeWindow::ending_at(now, uc.history_window_hours);
    let p = plan::search(uc, window, DEFAULT_PAGE_SIZE);
    let params: BTreeMap<&str, String> = p.page_params().into_iter().collect();
    let after: AfterKey = p
        .sources
        .iter()
        .map(|s| (s.name.clone(), Value::String(format!("<{}>", s.name))))
        .collect();
    // The tagging request for one hypothetical outlier, placeholders for the values;
    // the fixed script source is named, not repeated.
    let example = Finding {
        aggregator: uc
            .aggregator
            .iter()
            .enumerate()
            .map(|(i, _)| format!("<a{i}>"))
            .collect(),
        target: (uc.count_method == config::CountMethod::WithinAggregator).then(|| {
            uc.target
                .iter()
                .enumerate()
                .map(|(i, _)| format!("<t{i}>"))
                .collect()
        }),
        term_count: 1,
        decision_frontier: 1.5,
        stats: evaluate::trigger::stats(&[150.0, 1.0]),
        non_outlier_values_sample: vec!["<usual target>".into()],
    };
    let mut tag_example = tag::requests(
        uc,
        &p.query,
        &[example],
        &[],
        &BTreeMap::new(),
        Limits::default(),
    )
    .pop()
    .map(|r| r.body)
    .unwrap_or_default();
    tag_example["script"]["source"] = Value::String("(src/tag/outliers.painless)".into());
    serde_json::json!({
        "use_case": uc.name,
        "count": {
            "method": "POST",
            "path": format!("/{}/_search", p.index),
            "params": params,
            "first_page": p.page_body(None),
            "next_page": p.page_body(Some(&after)),
        },
        "tag": {
            "method": "POST",
            "path": format!("/{}/_update_by_query", p.index),
            "params": { "wait_for_completion": "false", "conflicts": "proceed", "slices": "auto", "refresh": "true" },
            "example_body": tag_example,
        }
    })
}

fn cluster_options(url: &str, general_timeout: u64, insecure: bool) -> ClusterOptions {
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

async fn run(args: &RunArgs) -> Result<ExitStatus> {
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
async fn run_config(
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
    let page_size = max_buckets.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, 65_536);
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
        let targets: BTreeSet<(&str, &str, u64)> = ucs
            .iter()
            .map(|u| {
                (
                    u.index_pattern.as_str(),
                    u.timestamp_field.as_str(),
                    u.history_window_hours,
                )
            })
            .collect();
        for (index, ts, hours) in targets {
            let (gte, lt) = span.window(hours).bounds();
            let q = tag::tagged_events_query(Some((ts, &gte, &lt)));
            let req = tag::untag_request(index, &q, &tag::Removal::All);
            match cluster
                .update_by_query(&req.index, &req.body, &update, &mut |_| {})
                .await
            {
                Ok(r) => tracing::info!(
                    "es_wipe_all_existing_outliers: {} event(s) of {index} cleared in the window",
                    r.updated
                ),
                Err(e) => {
                    eprintln!("error: es_wipe_all_existing_outliers: {e}");
                    return ExitStatus::of(&e);
                }
            }
        }
    }

    for uc in ucs.iter().copied() {
        let window = span.window(uc.history_window_hours);
        let mut rep = empty_report(uc, window);
        let started = cluster.traffic();
        let mut res = Ok(());
        if cfg.general.wipe_all_whitelisted_outliers && !dry_run && !uc.whitelist.is_empty() {
            res = pipeline::tagging::wipe_whitelisted(&cluster, uc, window, &update).await;
        }
        if res.is_ok() {
            let baseline = args
                .baseline
                .map(|d| d.saturating_mul(24))
                .or(uc.baseline_window_hours);
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
        if let Err(e) = res {
            tracing::error!("use case {}: {e}", uc.name);
            rep.status = Status::Failed;
            rep.error = Some(e.to_string());
            status = ExitStatus::of(&e);
        } else if rep
            .tagging
            .as_ref()
            .is_some_and(|t| !t.failures.is_empty() || t.version_conflicts > 0)
        {
            rep.status = Status::Failed;
            rep.error = Some("tagging did not complete; see the failures".into());
            if status == ExitStatus::Success {
                status = ExitStatus::UseCaseFailed;
            }
        }
        summary.use_cases.push(rep);
    }

    status
}

/// One run per config at a time: an exclusive lock on a file named after the config's
/// canonical path, in the system's temporary folder. Released when the process ends,
/// however it ends.
fn lock(cfg: &Config) -> Result<std::fs::File, String> {
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
fn spawn_signal_handler(stop: tokio_util::sync::CancellationToken) {
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

pub(crate) fn empty_report(uc: &UseCase, window: TimeWindow) -> UseCaseReport {
    let (start, end) = window.bounds();
    UseCaseReport {
        name: uc.name.clone(),
        status: Status::Ok,
        error: None,
        index: uc.index_pattern.clone(),
        window_start: start,
        window_end: end,
        aggregator: uc.aggregator.clone(),
        target: uc.target.clone(),
        trigger: match uc.model {
            config::ModelSpec::Terms => format!(
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
        detection_ms: 0,
        tagging_ms: 0,
        whitelisted_events: 0,
        outliers: Vec::new(),
        tagging: None,
        charts: Vec::new(),
        baseline_start: None,
        sudden: None,
    }
}

#[cfg(test)]
mod tests {
    use super::{glob_match, parse_time};
    use time::macros::datetime;

    #[test]
    fn use_case_globs_know_only_star_and_question_mark() {
        assert!(glob_match("terms_*", "terms_rare_childname"));
        assert!(glob_match("*_b", "terms_rare_b"));
        assert!(glob_match("rare_?hild*", "rare_childname"));
        assert!(
            !glob_match("rare_?", "rare_ab"),
            "? is exactly one character"
        );
        assert!(
            !glob_match("terms", "terms_rare"),
            "the whole name must match"
        );
        // Class and alternation syntax is literal, and never a pattern error.
        assert!(glob_match("a[b]*", "a[b]c"));
        assert!(!glob_match("a[b]*", "abc"));
        assert!(glob_match("{x,y}", "{x,y}"));
        assert!(!glob_match("{x,y}", "x"));
        assert!(glob_match("a[", "a["));
        assert!(glob_match(r"a\*", r"a\bc"), "a backslash escapes nothing");
    }

    #[test]
    fn since_and_until_take_rfc3339_or_a_duration_before_the_base() {
        let base = datetime!(2026-11-28 12:00:00 UTC);
        let at = |s| parse_time("--since", s, base).ok();
        assert_eq!(at("90m"), Some(datetime!(2026-11-28 10:30:00 UTC)));
        assert_eq!(at("24h"), Some(datetime!(2026-11-27 12:00:00 UTC)));
        assert_eq!(at("7d"), Some(datetime!(2026-11-21 12:00:00 UTC)));
        assert_eq!(at("+2h"), Some(datetime!(2026-11-28 10:00:00 UTC)));
        assert_eq!(at("0m"), Some(base));
        assert_eq!(at("1h 30m"), Some(datetime!(2026-11-28 10:30:00 UTC)));
        assert_eq!(
            at("2026-11-01T00:00:00Z"),
            Some(datetime!(2026-11-01 00:00:00 UTC))
        );
    }

    #[test]
    fn since_and_until_refuse_a_bare_number_a_negative_duration_and_an_overflow() {
        let base = datetime!(2026-11-28 12:00:00 UTC);
        for bad in ["yesterday", "5", "-5m", "", "99999999999999d"] {
            assert!(parse_time("--until", bad, base).is_err(), "{bad:?}");
        }
    }
}
