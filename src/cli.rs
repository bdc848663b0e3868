//! Command-line types (clap derive only; no logic).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::report::Format;

/// Finds rare events inside Elasticsearch with ee-outliers' terms model, computed by
/// aggregations: only buckets cross the network, and only outlier events are tagged.
#[derive(Debug, Parser)]
#[command(name = "esoutliers", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// More logging (-v debug, -vv trace). RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only errors on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

pub const EXIT_CODES: &str = "Exit codes:
  0  success (whether or not outliers were found)
  1  one or more use cases failed (the report says which and why)
  2  configuration or usage error (nothing was sent to the cluster)
  3  cluster unreachable or credentials refused
  4  detection and tagging succeeded, but a notification ([notifier]) was not sent

Environment: ES_URL (cluster, default: the config's es_url, else http://127.0.0.1:9200),
ES_USER/ES_PASSWORD (basic auth), ES_API_KEY (Elasticsearch API key), ES_CA_CERT (PEM CA).";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate a config file and list the use cases it defines.
    Check(ConfigArgs),
    /// Print every request `run` would send, without touching the network.
    Plan(PlanArgs),
    /// Count in Elasticsearch, evaluate, tag the outlier events, and report.
    Run(RunArgs),
    /// Remove esoutliers' entries (of the selected use cases, or all) and the `outlier`
    /// tag when no entry is left. Other tags and fields are never touched.
    Untag(UntagArgs),
    /// Render the HTML report of the last runs kept in a history folder (`run
    /// --history`), without touching the cluster.
    Report(ReportArgs),
    /// Count once, then evaluate a terms use case for several sensitivities (and
    /// optionally every trigger method) to pick one before the first nightly run.
    /// Never writes to the cluster; costs it the same as one `run --dry-run`.
    Tune(TuneArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The history folder `run --history` writes into.
    #[arg(long, value_name = "DIR")]
    pub history: PathBuf,
    /// Only the last N runs (the newest is the one shown; the others are its history).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub last: Option<u64>,
    /// Write the page to this file instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Logarithmic bars, so a count of 1 next to 10,000 is visible.
    #[arg(long)]
    pub log_scale: bool,
}

#[derive(Debug, Args)]
pub struct TuneArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The use case to tune (section name or model name; exactly one must match).
    #[arg(long = "use-case")]
    pub use_case: String,
    /// Sensitivities to evaluate, comma-separated (default: 0.5,1,2,5,10,25,50).
    #[arg(long, value_delimiter = ',')]
    pub sensitivities: Vec<f64>,
    /// Also evaluate every trigger method (each with the same sensitivities).
    #[arg(long)]
    pub methods: bool,
    /// Report format (table or html; json gives every step's pairs).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// As `run --now`.
    #[arg(long)]
    pub now: Option<String>,
    /// Accept any TLS certificate (dangerous; for test clusters only).
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Args)]
pub struct UntagArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub selection: Selection,
    /// Remove every outlier entry in the config's indices, whatever model wrote it.
    #[arg(long, conflicts_with = "use_cases")]
    pub all: bool,
    /// Accept any TLS certificate (dangerous; for test clusters only).
    #[arg(long)]
    pub insecure: bool,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// ee-outliers style INI file, or a folder whose `.conf` files are loaded in name order.
    #[arg(long, short = 'c')]
    pub config: PathBuf,
}

#[derive(Debug, Args)]
pub struct Selection {
    /// Only use cases whose section name (terms_rare_childname) or model name
    /// (rare_childname) matches; `*` and `?` are wildcards. Repeatable.
    #[arg(long = "use-case")]
    pub use_cases: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub selection: Selection,
    /// End of the window as RFC 3339 (default: now). Makes the output reproducible.
    #[arg(long)]
    pub now: Option<String>,
    /// As `run --baseline`: counts and frontiers from this many days.
    #[arg(long, value_name = "DAYS")]
    pub baseline: Option<u64>,
    /// Buckets per composite page. `run` uses the cluster's `search.max_buckets` (capped at
    /// 65,536), or 10,000 when it cannot read it; this shows the requests for a given size.
    #[arg(long, default_value_t = crate::plan::DEFAULT_PAGE_SIZE)]
    pub page_size: u32,
    /// As `run --requests-per-second`: the tagging throttle.
    #[arg(long, value_name = "N")]
    pub requests_per_second: Option<f64>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub selection: Selection,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report to this file instead of stdout.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Evaluate and report, write nothing to the cluster.
    #[arg(long)]
    pub dry_run: bool,
    /// Requests in flight at once over the whole run: partitions of a count and the
    /// detection of several use cases share it. 1 runs one request after the other.
    #[arg(long, value_name = "N", default_value_t = crate::execute::policy::DEFAULT_MAX_CONCURRENT as u16,
          value_parser = clap::value_parser!(u16).range(1..=64))]
    pub max_concurrent_requests: u16,
    /// The current time as RFC 3339 (default: the clock); windows end here.
    #[arg(long)]
    pub now: Option<String>,
    /// Start of the window instead of history_window_days/hours: RFC 3339 or a duration
    /// before --until (90m, 24h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// End of the window: RFC 3339 or a duration before now (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// Counts and frontiers from this many days before the end of the window (overrides
    /// each use case's baseline_window_days); only events inside the window are flagged.
    #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u64).range(1..))]
    pub baseline: Option<u64>,
    /// Accept any TLS certificate (dangerous; for test clusters only).
    #[arg(long)]
    pub insecure: bool,
    /// Throttle tagging to this many documents per second (`requests_per_second`).
    #[arg(long)]
    pub requests_per_second: Option<f64>,
    /// Keep this run's JSON report in DIR (mode 0600) and mark each outlier new,
    /// recurring or gone against the earlier runs kept there.
    #[arg(long, value_name = "DIR")]
    pub history: Option<PathBuf>,
    /// HTML: logarithmic bars, so a count of 1 next to 10,000 is visible.
    #[arg(long)]
    pub log_scale: bool,
}
