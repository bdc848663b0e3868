//! The command line's commands: `check`, `plan`, `run`, `untag`, `report` (the HTML of
//! a history folder), `tune` (one counting pass, many sensitivities). Each loads the config
//! (`select`), then `run` hands every selected use case to [`crate::pipeline`], which runs
//! the stages in order; `plan` prints the requests the same builders produce.
//!
//! `anyhow` lives here and in `main` only. Exit statuses are decided in [`ExitStatus`].
//! One failing use case does not stop the others.

mod files;
mod plan;
mod report;
mod review;
mod run;
mod select;
mod tune;
mod untag;
mod waves;

use anyhow::Result;

use crate::cli::{Cli, Command, ConfigArgs};
use crate::config::{self, Config};
use crate::execute::EsError;
use select::load_all;

/// Process exit status, decided here only (documented in the README and `--help`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum ExitStatus {
    Success = 0,
    UseCaseFailed = 1,
    Usage = 2,
    Cluster = 3,
    /// Detection and tagging succeeded; a notification was not sent (never chosen over
    /// 1-3: `run` sets it only when everything else succeeded).
    NotifyFailed = 4,
}

impl ExitStatus {
    /// A cluster error's status: 3 when the cluster could not be reached or refused the
    /// credentials, else 1.
    pub(crate) fn of(e: &EsError) -> ExitStatus {
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
        Command::Plan(args) => plan::plan_cmd(&args),
        Command::Run(args) => block_on(run::run(&args)),
        Command::Untag(args) => block_on(untag::untag(&args)),
        Command::Report(args) => report::report_cmd(&args),
        Command::Tune(args) => block_on(tune::tune(&args)),
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

/// One line on what a use case does, per model type.
fn describe(uc: &config::UseCase) -> String {
    let trigger = |uc: &config::UseCase| {
        format!(
            "{} {} {}",
            uc.trigger.on.as_str(),
            uc.trigger.method.as_str(),
            uc.trigger.sensitivity
        )
    };
    let fields = format!(
        "aggregator={} target={}",
        uc.aggregator.join(","),
        uc.target.join(",")
    );
    match &uc.model {
        config::ModelSpec::Terms => format!(
            "terms {fields} {} {}",
            uc.count_method.as_str(),
            trigger(uc)
        ),
        config::ModelSpec::SimpleQuery(q) => format!(
            "simplequery query={}{}",
            uc.elasticsearch_filter,
            if q.highlight_match {
                " highlight_match"
            } else {
                ""
            }
        ),
        config::ModelSpec::SuddenAppearance(s) => format!(
            "sudden_appearance {fields} window={}m step={}m",
            s.window_minutes, s.step_minutes
        ),
        config::ModelSpec::Metrics(m) => format!(
            "metrics {fields} metric={} {}",
            m.metric.as_str(),
            trigger(uc)
        ),
    }
}

/// What `[notifier]` sends, and for which use cases; `None` when it sends nothing.
fn notifier_line(cfg: &Config) -> Option<String> {
    let n = &cfg.notifier;
    let mut ch = Vec::new();
    if let Some(m) = &n.email {
        ch.push(format!(
            "e-mail to {} via {}:{} ({})",
            m.to.join(", "),
            m.server,
            m.port,
            m.security.as_str()
        ));
    }
    if let Some(u) = &n.webhook_url {
        ch.push(format!("webhook {}", crate::notify::send::shown_url(u)));
    }
    if ch.is_empty() {
        return None;
    }
    let notified: Vec<&str> = cfg
        .use_cases
        .iter()
        .filter(|u| u.should_notify)
        .map(|u| u.name.as_str())
        .collect();
    Some(format!(
        "notifier: {}; use cases with should_notify=1: {}",
        ch.join(", "),
        if notified.is_empty() {
            "none".to_string()
        } else {
            notified.join(", ")
        }
    ))
}

fn check_one(cfg: &Config) {
    println!(
        "{}: ok, {} use case(s)",
        cfg.path.display(),
        cfg.use_cases.len()
    );
    for uc in &cfg.use_cases {
        let run = if uc.run_model {
            "run"
        } else {
            "skip (run_model=0)"
        };
        let whitelists = if uc.whitelist.is_empty() {
            ""
        } else {
            "  (whitelists)"
        };
        println!("  {}  {run}  {}{whitelists}", uc.name, describe(uc));
    }
    if let Some(line) = notifier_line(cfg) {
        println!("  {line}");
    }
    for n in &cfg.notices {
        println!("  note: {}: {}", n.location, n.message);
    }
}
