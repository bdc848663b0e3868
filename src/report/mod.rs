//! Stage `report` (PURE): a [`RunSummary`] rendered as a terminal table, as one
//! versioned JSON object or as an HTML page ([`html`]). Writes to any `Write`; decides
//! nothing about the run. The three renderings of a fixed summary are insta snapshots
//! (`src/report/snapshots/`).
//!
//! Invariant: nothing here can see a credential; the summary holds URLs already redacted.

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

pub mod history;
pub mod html;
pub mod review;
#[cfg(test)]
mod tests_support;
pub mod tune;

pub use history::{HistoryView, Mark, Night, UseCaseHistory};

/// Version of the JSON report's shape; bumped on any incompatible change.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// Output format of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Html,
}

/// Everything a run did, for the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunSummary {
    pub schema_version: u32,
    pub esoutliers_version: String,
    pub config: String,
    /// Cluster URL without credentials.
    pub cluster_url: String,
    /// "Elasticsearch 7.10.2"; `None` when the cluster was not reached.
    pub cluster_product: Option<String>,
    /// True when `--dry-run` or `es_save_results=0`: nothing was written.
    pub dry_run: bool,
    pub use_cases: Vec<UseCaseReport>,
    /// What `[notifier]` sent; `None` (absent from the JSON) when no channel is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notifications: Option<NotificationReport>,
    /// New, recurring and gone outliers against earlier runs (`run --history`); `None`
    /// (absent from the JSON) without a history folder.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryView>,
}

/// What the notifier did after the run (every config's `[notifier]` added up).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NotificationReport {
    /// The channels, without credentials: `e-mail via host:port (tls)`, `webhook
    /// https://host/…` (a webhook's path and query are secret-bearing, never shown).
    pub channels: Vec<String>,
    /// Outlier summaries not notified before (one message each).
    pub new: u64,
    /// Outlier summaries left out because they are still in the cache
    /// (`max_cache_ignore`).
    pub already_notified: u64,
    pub emails_sent: u64,
    pub webhook_posts: u64,
    /// True with `--dry-run`: nothing was sent, `new` says what would have been.
    pub dry_run: bool,
    /// The cache's state files (one per config), in the system's temporary folder.
    pub state_files: Vec<String>,
    /// Notes such as a state file that could not be read (every summary was new again).
    pub notes: Vec<String>,
    /// What was not sent, and why. Not empty = exit status 4.
    pub failures: Vec<String>,
}

/// The tagged events of a use case over its window (`date_histogram`, one request).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverTime {
    /// Bucket width (`30m`, `3h`, `1d`, ...).
    pub interval: String,
    /// (bucket start as RFC 3339, tagged events), every bucket of the window.
    pub buckets: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    Failed,
}

impl UseCaseReport {
    /// `count_passes` from the events visited and the events in the window (`None`
    /// without events).
    pub fn set_count_passes(&mut self) {
        self.count_passes = match self.events_in_window {
            Some(n) if n > 0 => Some(self.events_visited as f64 / n as f64),
            _ => None,
        };
    }
}

/// What counting cost the cluster, in one line (`None` when nothing was counted):
/// passes over the matching events, partitions, and the lead request that sized them;
/// or the use case whose count was used.
pub fn counting_line(uc: &UseCaseReport) -> Option<String> {
    if let Some(other) = &uc.count_shared_with {
        return Some(format!(
            "counts shared with {other} (counted once for both)"
        ));
    }
    if uc.partitions == 0 {
        return None;
    }
    let passes = uc
        .count_passes
        .map(|p| format!("{p:.2}"))
        .unwrap_or_else(|| "-".into());
    let lead = if uc.lead_requests > 0 {
        format!(", sized by a lead request of {} page(s)", uc.lead_requests)
    } else {
        String::new()
    };
    Some(format!(
        "count passes {passes} (events visited / events in window) in {} partition(s){lead}",
        uc.partitions
    ))
}

/// The result of one use case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UseCaseReport {
    pub name: String,
    /// `terms`, `simplequery`, `sudden_appearance` or `metrics` (`outliers.model_type`).
    pub model_type: String,
    pub status: Status,
    /// The error that stopped this use case; `None` when it succeeded.
    pub error: Option<String>,
    pub index: String,
    pub window_start: String,
    pub window_end: String,
    /// Start of the baseline window the counts came from (it ends with the detection
    /// window); `None` when counts come from the detection window itself.
    pub baseline_start: Option<String>,
    pub aggregator: Vec<String>,
    pub target: Vec<String>,
    pub trigger: String,
    /// Events matching the use case's filter in the window; `None` if never counted.
    pub events_in_window: Option<u64>,
    pub pages: u64,
    pub buckets_read: u64,
    pub requests: u64,
    /// Requests sent again after a transient failure (429, 502-504, dropped connection).
    pub retries: u64,
    pub bytes_received: u64,
    /// Sum of Elasticsearch's `took` over the counting pages (and the lead request).
    pub es_took_ms: u64,
    /// Partitions the counts were read in, summed over the counts of the use case (1: the
    /// count was one range, read by plain paging; 0: nothing was counted).
    #[serde(default)]
    pub partitions: u64,
    /// Pages of the lead request that sized the partitions: it reads one field per event,
    /// so it is not counted in `events_visited`.
    #[serde(default)]
    pub lead_requests: u64,
    /// Events Elasticsearch visited for counting: each counting page visits every event
    /// its query matches (a partition's page only the events of its range).
    #[serde(default)]
    pub events_visited: u64,
    /// `events_visited / events_in_window`: 1.0 is one pass over the matching events;
    /// plain paging costs one pass per page. `None` without a count (or no events).
    #[serde(default)]
    pub count_passes: Option<f64>,
    /// The use case whose count this one used (same index, window, filter, aggregator and
    /// target: counted once for both); `None` when it counted for itself.
    #[serde(default)]
    pub count_shared_with: Option<String>,
    pub detection_ms: u64,
    pub tagging_ms: u64,
    /// Candidate events dropped because a whitelist covers them.
    pub whitelisted_events: u64,
    pub outliers: Vec<OutlierReport>,
    /// `None` when nothing was written (dry run or `es_save_results=0`).
    pub tagging: Option<TaggingReport>,
    /// One chart per flagged aggregator: its targets' counts and the frontier.
    pub charts: Vec<Chart>,
    /// sudden_appearance only: windows, requests, truncation and timelines; `None` for
    /// the other models (and absent from the JSON).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sudden: Option<SuddenReport>,
    /// Indices the pattern matches that were not searched (closed ones), and why; left
    /// out of the JSON when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped_indices: Vec<SkippedIndex>,
    /// The tagged events over time; `None` (absent from the JSON) in a dry run, when
    /// nothing was tagged, or when the request failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub over_time: Option<OverTime>,
}

/// An index matched by the pattern but not searched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedIndex {
    pub index: String,
    /// Why, e.g. `closed`.
    pub reason: String,
}

/// What a sudden_appearance use case evaluated, and how.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SuddenReport {
    /// `sliding_window_size` and `sliding_window_step_size` as Python prints a timedelta.
    pub window: String,
    pub step: String,
    /// Window positions evaluated (0.2.17 sends one aggregation request per position).
    pub windows_evaluated: u64,
    /// Requests detection sent: the mapping check, composite pages, first-event batches,
    /// tie scans and fetches of tie winners' events (a scan counts once, whatever its
    /// scroll pages). Does not grow with the window positions.
    pub detection_requests: u64,
    /// Of those, first-event batches.
    pub first_event_requests: u64,
    /// Findings whose earliest millisecond held more events than one batch returns, so
    /// that their ids were listed by a scan.
    pub ties: u64,
    /// Findings whose first event was gone when fetched (deleted or changed since counting).
    pub gone: u64,
    /// Where 0.2.17 would have truncated its terms aggregations
    /// (`max_num_aggregators` / `max_num_targets`), and other notes, as sentences.
    pub warnings: Vec<String>,
    /// Per flagged aggregator value, when each of its target values first appeared.
    pub timelines: Vec<Timeline>,
}

/// The target values of one flagged aggregator value on the history window's time axis.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Timeline {
    pub aggregator: String,
    /// The history window: start and end of the axis (RFC 3339, UTC).
    pub start: String,
    pub end: String,
    /// Earliest first appearance first; every target that appeared suddenly, and up to
    /// 30 others.
    pub targets: Vec<FirstSeen>,
    /// Targets of this aggregator left out of `targets`.
    pub more_targets: u64,
}

/// One target value of a [`Timeline`].
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FirstSeen {
    pub target: String,
    /// Its earliest event in the history window (RFC 3339, UTC).
    pub first_seen: String,
    /// Its events in the history window.
    pub events: u64,
    /// The timestamps of the events where it appeared suddenly (RFC 3339); empty when
    /// it never did.
    pub sudden_at: Vec<String>,
}

/// The counts of one flagged aggregator's targets, for the HTML report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Chart {
    pub aggregator: String,
    pub frontier: f64,
    /// Largest counts first, then outliers; at most 40 bars.
    pub bars: Vec<Bar>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bar {
    pub target: String,
    pub count: u64,
    pub outlier: bool,
}

/// One outlier (pair, or aggregator for across_aggregators) and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutlierReport {
    pub aggregator: String,
    /// `None` for across_aggregators (every target of the aggregator).
    pub target: Option<String>,
    pub term_count: u64,
    /// Mean of the values the frontier came from (the parent's average child count).
    pub average: f64,
    pub decision_frontier: f64,
    /// Number of values the frontier came from.
    pub values: usize,
    pub non_outlier_values_sample: Vec<String>,
    /// The summary written on the events (or a sample when filled per event).
    pub summary: String,
}

/// What `_update_by_query` did for one use case.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TaggingReport {
    pub requests: u64,
    /// Events that matched the tagging queries.
    pub matched: u64,
    /// Events that gained an entry, in any pass; including those a pass wrote but
    /// reported as version conflicts (a bulk retried after its primary moved), which the
    /// next pass finds tagged (`updated + noops` stays exact).
    pub updated: u64,
    /// Events that already carried the entry (left unchanged). When a task was lost or
    /// failed and was sent again, this includes the events it wrote after its last
    /// progress report (`updated + noops` stays exact).
    pub noops: u64,
    /// Version conflicts left after the re-check passes.
    pub version_conflicts: u64,
    /// Passes made: 1, plus one re-check per round of version conflicts or transient
    /// failures.
    pub passes: u64,
    /// Transient failures (a node away, a lost scroll context, a full queue) that a later
    /// pass made good; those still there after the last pass are in `failures`.
    pub retried_failures: u64,
    /// Events the tagging queries select, read again after tagging.
    pub checked: u64,
    /// Of those, the events that carry the use case's entry.
    pub verified: u64,
    /// Failures reported by Elasticsearch, as `index: type: reason`, and events the check
    /// after tagging found without the entry, as `index (document id): why`.
    pub failures: Vec<String>,
}

impl UseCaseReport {
    /// Events of the outlier pairs (sum of their counts); for sudden_appearance, whose
    /// `term_count` is the pair's events in its window, one event per outlier (only the
    /// first is tagged).
    pub fn outlier_events(&self) -> u64 {
        if self.sudden.is_some() {
            return self.outliers.len() as u64;
        }
        self.outliers.iter().map(|o| o.term_count).sum()
    }
}

/// Writes the report; the HTML with `opts` (the other formats ignore them).
pub fn render_with(
    summary: &RunSummary,
    format: Format,
    opts: review::HtmlOptions,
    out: &mut impl Write,
) -> io::Result<()> {
    match format {
        Format::Html => html::render_with(summary, opts, out),
        f => render(summary, f, out),
    }
}

/// Writes the report.
pub fn render(summary: &RunSummary, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, summary)?;
            writeln!(out)
        }
        Format::Table => table(summary, out),
        Format::Html => html::render(summary, out),
    }
}

/// Bytes in binary units with one decimal: `512 B`, `2.0 KiB`, `1.5 MiB`.
fn human_bytes(b: u64) -> String {
    bytesize::ByteSize(b).display().iec().to_string()
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn table(s: &RunSummary, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "esoutliers {} - {}", s.esoutliers_version, s.config)?;
    writeln!(
        out,
        "cluster: {} ({}){}",
        s.cluster_url,
        s.cluster_product.as_deref().unwrap_or("not reached"),
        if s.dry_run {
            "  [dry run: nothing written]"
        } else {
            ""
        }
    )?;
    for uc in &s.use_cases {
        use_case_lines(uc, out)?;
        tagging_lines(uc.tagging.as_ref(), out)?;
        if let Some(sr) = &uc.sudden {
            sudden_lines(sr, out)?;
        }
        // simplequery has no pairs: its one line of outliers says how many events matched.
        if !uc.outliers.is_empty() && uc.model_type != "simplequery" {
            outlier_rows(uc, out)?;
        }
        if let Some(h) = s.history.as_ref().and_then(|h| h.of(&uc.name)) {
            review::history_lines(h, s.history.as_ref().map_or(0, |v| v.earlier_runs), out)?;
        }
    }
    if let Some(n) = &s.notifications {
        review::notification_lines(n, out)?;
    }
    Ok(())
}

/// The header lines of one use case: status, window, counts, timings.
fn use_case_lines(uc: &UseCaseReport, out: &mut impl Write) -> io::Result<()> {
    writeln!(out)?;
    let status = match uc.status {
        Status::Ok => "ok",
        Status::Failed => "FAILED",
    };
    writeln!(out, "== {}  [{}]", uc.name, status)?;
    writeln!(
        out,
        "   index {}   window {} .. {}",
        uc.index, uc.window_start, uc.window_end
    )?;
    for s in &uc.skipped_indices {
        writeln!(out, "   skipped index {}: {}", s.index, s.reason)?;
    }
    if let Some(b) = &uc.baseline_start {
        writeln!(
            out,
            "   counts and frontiers from the baseline window {b} .. {}",
            uc.window_end
        )?;
    }
    if uc.aggregator.is_empty() && uc.target.is_empty() {
        writeln!(out, "   model {}", uc.model_type)?;
    } else {
        writeln!(
            out,
            "   aggregator {}  target {}  trigger {}",
            uc.aggregator.join(","),
            uc.target.join(","),
            uc.trigger
        )?;
    }
    if let Some(e) = &uc.error {
        writeln!(out, "   error: {e}")?;
    }
    writeln!(
        out,
        "   events in window {}   buckets read {} in {} page(s)   requests {}   received {}",
        uc.events_in_window
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".into()),
        uc.buckets_read,
        uc.pages,
        uc.requests,
        human_bytes(uc.bytes_received)
    )?;
    if let Some(line) = counting_line(uc) {
        writeln!(out, "   {line}")?;
    }
    if uc.retries > 0 {
        writeln!(
            out,
            "   {} request(s) retried after transient failures (429, 5xx, dropped connections)",
            uc.retries
        )?;
    }
    writeln!(
        out,
        "   detection {} ms (Elasticsearch took {} ms)   tagging {} ms",
        uc.detection_ms, uc.es_took_ms, uc.tagging_ms
    )?;
    writeln!(
        out,
        "   outliers: {} ({} events){}",
        uc.outliers.len(),
        uc.outlier_events(),
        if uc.whitelisted_events > 0 {
            format!("   whitelisted events {}", uc.whitelisted_events)
        } else {
            String::new()
        }
    )?;
    Ok(())
}

/// What tagging did, or that nothing was written.
fn tagging_lines(tagging: Option<&TaggingReport>, out: &mut impl Write) -> io::Result<()> {
    match tagging {
        Some(t) => {
            writeln!(
                out,
                "   tagged: {} events updated, {} already tagged (noop), {} request(s){}",
                t.updated,
                t.noops,
                t.requests,
                if t.version_conflicts > 0 {
                    format!(", {} version conflicts left", t.version_conflicts)
                } else {
                    String::new()
                }
            )?;
            if t.passes > 1 {
                writeln!(
                    out,
                    "   tagging passes: {}{}",
                    t.passes,
                    if t.retried_failures > 0 {
                        format!(
                            " ({} transient failure(s) tagged again after the cluster recovered)",
                            t.retried_failures
                        )
                    } else {
                        " (events changed by another writer tagged again)".to_string()
                    }
                )?;
            }
            writeln!(
                out,
                "   checked after tagging: {} of {} outlier events carry the entry",
                t.verified, t.checked
            )?;
            for f in &t.failures {
                writeln!(out, "   tagging failure: {f}")?;
            }
        }
        None => writeln!(out, "   tagged: nothing written")?,
    }
    Ok(())
}

/// What a sudden_appearance use case evaluated, and 0.2.17's truncations.
fn sudden_lines(sr: &SuddenReport, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "   windows evaluated {} (window {}, step {})   detection requests {} ({} first-event batch(es), {} tie scan(s)); ee-outliers 0.2.17 sends one aggregation per window",
        sr.windows_evaluated,
        sr.window,
        sr.step,
        sr.detection_requests,
        sr.first_event_requests,
        sr.ties
    )?;
    for w in &sr.warnings {
        writeln!(out, "   warning: {w}")?;
    }
    Ok(())
}

/// The table of outliers (columns padded, long cells cut at 48 characters).
/// sudden_appearance has no average or frontier: its pair's events in the window and
/// the summary instead.
fn outlier_rows(uc: &UseCaseReport, out: &mut impl Write) -> io::Result<()> {
    let sudden = uc.sudden.is_some();
    let rows: Vec<Vec<String>> = uc
        .outliers
        .iter()
        .map(|o| {
            let target = o.target.clone().unwrap_or_else(|| "(all)".into());
            if sudden {
                vec![
                    o.aggregator.clone(),
                    target,
                    o.term_count.to_string(),
                    o.summary.replace('\n', " "),
                ]
            } else {
                vec![
                    o.aggregator.clone(),
                    target,
                    o.term_count.to_string(),
                    num(o.average),
                    num(o.decision_frontier),
                    o.non_outlier_values_sample.join(", "),
                ]
            }
        })
        .collect();
    let (head, numeric): (Vec<&str>, std::ops::Range<usize>) = if sudden {
        (vec!["aggregator", "target", "in window", "summary"], 2..3)
    } else {
        (
            vec![
                "aggregator",
                "target",
                "count",
                "average",
                "frontier",
                "usual targets",
            ],
            2..5,
        )
    };
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count()).min(48);
        }
    }
    let line = |cells: &[String]| -> String {
        let mut l = String::from("   ");
        for (i, c) in cells.iter().enumerate() {
            let c: String = if c.chars().count() > 48 {
                c.chars().take(47).chain(['…']).collect()
            } else {
                c.clone()
            };
            let pad = w[i].saturating_sub(c.chars().count());
            if numeric.contains(&i) {
                l.push_str(&" ".repeat(pad));
                l.push_str(&c);
            } else {
                l.push_str(&c);
                l.push_str(&" ".repeat(pad));
            }
            l.push_str("  ");
        }
        l.trim_end().to_string()
    };
    writeln!(out)?;
    let head: Vec<String> = head.iter().map(|h| h.to_string()).collect();
    writeln!(out, "{}", line(&head))?;
    for r in &rows {
        writeln!(out, "{}", line(r))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RunSummary {
        RunSummary {
            schema_version: JSON_SCHEMA_VERSION,
            esoutliers_version: "0.1.0".into(),
            config: "queries/x.conf".into(),
            cluster_url: "http://127.0.0.1:9200".into(),
            cluster_product: Some("Elasticsearch 7.10.2".into()),
            dry_run: false,
            use_cases: vec![
                UseCaseReport {
                    name: "terms_rare".into(),
                    model_type: "terms".into(),
                    status: Status::Ok,
                    error: None,
                    index: "logs-*".into(),
                    window_start: "2026-11-27T03:00:00.000Z".into(),
                    window_end: "2026-11-28T03:00:00.000Z".into(),
                    baseline_start: None,
                    aggregator: vec!["process.parent.name".into()],
                    target: vec!["process.name".into()],
                    trigger: "low pct_of_avg_value 1".into(),
                    events_in_window: Some(351),
                    pages: 1,
                    buckets_read: 3,
                    requests: 2,
                    retries: 0,
                    bytes_received: 2048,
                    es_took_ms: 3,
                    partitions: 2,
                    lead_requests: 1,
                    events_visited: 351,
                    count_passes: Some(1.0),
                    count_shared_with: None,
                    detection_ms: 5,
                    tagging_ms: 7,
                    whitelisted_events: 0,
                    outliers: vec![OutlierReport {
                        aggregator: "winword.exe".into(),
                        target: Some("cmd.exe".into()),
                        term_count: 1,
                        average: 117.0,
                        decision_frontier: 1.17,
                        values: 3,
                        non_outlier_values_sample: vec!["splwow64.exe".into()],
                        summary: "rare child process cmd.exe for winword.exe".into(),
                    }],
                    tagging: Some(TaggingReport {
                        requests: 1,
                        matched: 2,
                        updated: 1,
                        checked: 2,
                        verified: 1,
                        failures: vec![
                        "logs (document <odd>): its outliers field is not an object; left unchanged"
                            .into(),
                    ],
                        ..Default::default()
                    }),
                    charts: vec![Chart {
                        aggregator: "winword.exe".into(),
                        frontier: 1.17,
                        bars: vec![
                            Bar {
                                target: "splwow64.exe".into(),
                                count: 200,
                                outlier: false,
                            },
                            Bar {
                                target: "<b>cmd.exe".into(),
                                count: 1,
                                outlier: true,
                            },
                        ],
                    }],
                    sudden: None,
                    skipped_indices: Vec::new(),
                    over_time: None,
                },
                failed_use_case(),
                sudden_use_case(),
            ],
            notifications: None,
            history: None,
        }
    }

    /// A use case that stopped on a cluster error after counting from a baseline window,
    /// with retries: the lines and blocks only such a run shows.
    fn failed_use_case() -> UseCaseReport {
        UseCaseReport {
            name: "terms_broken \"quoted\"".into(),
            model_type: "terms".into(),
            status: Status::Failed,
            error: Some(
                "search logs-*: illegal_argument_exception: Text fields are not optimised; use process.name.keyword"
                    .into(),
            ),
            index: "logs-*".into(),
            window_start: "2026-11-27T00:00:00.000Z".into(),
            window_end: "2026-11-28T00:00:00.000Z".into(),
            baseline_start: Some("2026-10-29T00:00:00.000Z".into()),
            aggregator: vec!["host.name".into(), "user.name".into()],
            target: vec!["process.name".into()],
            trigger: "high stdev 3".into(),
            events_in_window: None,
            pages: 0,
            buckets_read: 0,
            requests: 4,
            retries: 3,
            bytes_received: 5 * 1024 * 1024 + 300 * 1024,
            es_took_ms: 0,
            partitions: 0,
            lead_requests: 0,
            events_visited: 0,
            count_passes: None,
            count_shared_with: None,
            detection_ms: 12,
            tagging_ms: 0,
            whitelisted_events: 0,
            outliers: Vec::new(),
            tagging: None,
            charts: Vec::new(),
            sudden: None,
            skipped_indices: vec![SkippedIndex {
                index: "logs-2019.01".into(),
                reason: "closed".into(),
            }],
            over_time: None,
        }
    }

    /// A sudden_appearance use case: its windows, requests, a truncation warning and the
    /// timeline of one flagged aggregator value.
    fn sudden_use_case() -> UseCaseReport {
        UseCaseReport {
            name: "sudden_appearance_new_process".into(),
            model_type: "sudden_appearance".into(),
            window_start: "2026-11-21T00:00:00.000Z".into(),
            trigger: "sudden_appearance".into(),
            aggregator: vec!["host.name".into()],
            target: vec!["process.executable".into()],
            events_in_window: Some(1200),
            pages: 1,
            buckets_read: 40,
            requests: 6,
            sudden: Some(SuddenReport {
                window: "1 day, 0:00:00".into(),
                step: "1:00:00".into(),
                windows_evaluated: 145,
                detection_requests: 3,
                first_event_requests: 1,
                ties: 0,
                gone: 0,
                warnings: vec!["1 aggregator value(s) have more than max_num_targets=2 target values in a window (ws-01 (3)): ee-outliers 0.2.17 would have kept only the most frequent ones, and missed rare ones; esoutliers counted them all".into()],
                timelines: vec![Timeline {
                    aggregator: "ws-01".into(),
                    start: "2026-11-21T00:00:00Z".into(),
                    end: "2026-11-28T00:00:00Z".into(),
                    targets: vec![
                        FirstSeen {
                            target: "C:\\Windows\\explorer.exe".into(),
                            first_seen: "2026-11-21T00:10:00Z".into(),
                            events: 300,
                            sudden_at: Vec::new(),
                        },
                        FirstSeen {
                            target: "C:\\Users\\<x>\\AppData\\Local\\Temp\\rclone.exe".into(),
                            first_seen: "2026-11-27T20:00:00Z".into(),
                            events: 2,
                            sudden_at: vec!["2026-11-27T20:00:00Z".into()],
                        },
                    ],
                    more_targets: 0,
                }],
            }),
            outliers: vec![OutlierReport {
                aggregator: "ws-01".into(),
                target: Some("C:\\Users\\<x>\\AppData\\Local\\Temp\\rclone.exe".into()),
                term_count: 2,
                average: 0.0,
                decision_frontier: 0.0,
                values: 0,
                non_outlier_values_sample: Vec::new(),
                summary: "new process C:\\Users\\<x>\\AppData\\Local\\Temp\\rclone.exe on ws-01".into(),
            }],
            ..failed_use_case_ok()
        }
    }

    /// The failed use case's fields with the status ok, as a base for others.
    fn failed_use_case_ok() -> UseCaseReport {
        UseCaseReport {
            status: Status::Ok,
            error: None,
            baseline_start: None,
            retries: 0,
            skipped_indices: Vec::new(),
            ..failed_use_case()
        }
    }

    fn rendered(format: Format) -> String {
        let mut out = Vec::new();
        render(&sample(), format, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    // The three reports of one fixed summary, reviewed like code (`cargo insta review`):
    // a change of layout, wording or escaping shows up here as a diff.
    #[test]
    fn table_report_of_a_fixed_summary_is_the_reviewed_one() {
        insta::assert_snapshot!("table", rendered(Format::Table));
    }

    #[test]
    fn json_report_of_a_fixed_summary_is_the_reviewed_one() {
        insta::assert_snapshot!("json", rendered(Format::Json));
    }

    #[test]
    fn html_report_of_a_fixed_summary_is_the_reviewed_one() {
        insta::assert_snapshot!("html", rendered(Format::Html));
    }

    #[test]
    fn table_shows_count_average_and_frontier_of_each_outlier() {
        let mut out = Vec::new();
        render(&sample(), Format::Table, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let row = text
            .lines()
            .find(|l| l.contains("winword.exe") && l.contains("cmd.exe"))
            .expect("outlier row");
        assert!(
            row.contains(" 117 ") && row.contains("1.17") && row.contains("splwow64.exe"),
            "{row}"
        );
        assert!(text.contains("events in window 351"));
        assert!(text.contains("2.0 KiB"));
        assert!(text.contains("1 events updated"));
    }

    #[test]
    fn html_has_a_row_per_outlier_and_a_chart_per_flagged_parent_with_values_escaped() {
        let mut out = Vec::new();
        render(&sample(), Format::Html, &mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        // One row of the terms use case, one of the sudden_appearance one.
        assert_eq!(page.matches("<tr class=\"outlier\">").count(), 2);
        assert_eq!(page.matches("<figure class=\"chart\"").count(), 1);
        assert_eq!(page.matches("class=\"bar outlier\"").count(), 1);
        assert!(page.contains("class=\"frontier\""));
        assert!(page.contains("&lt;b&gt;cmd.exe") && !page.contains("<b>cmd.exe"));
        assert!(page.contains("checked after tagging: 1 of 2 carry the entry"));
        assert!(page.contains("<li>logs (document &lt;odd&gt;): its outliers field"));
    }

    #[test]
    fn sudden_use_case_shows_windows_requests_warnings_and_a_timeline_per_flagged_aggregator() {
        let page = rendered(Format::Html);
        assert_eq!(page.matches("<figure class=\"timeline\"").count(), 1);
        assert_eq!(page.matches("<circle class=\"first\"").count(), 2);
        assert_eq!(page.matches("<rect class=\"sudden\"").count(), 1);
        assert!(page.contains("&lt;x&gt;") && !page.contains("<x>"));
        // A long label keeps its end, the whole value in its title.
        assert!(
            page.contains(">…&lt;x&gt;\\AppData\\Local\\Temp\\rclone.exe (2)</text>"),
            "{page}"
        );
        assert!(page.contains("windows evaluated 145"));
        assert!(page.contains("<ul class=\"warnings\"><li>1 aggregator value(s)"));
        let text = rendered(Format::Table);
        assert!(text.contains(
            "windows evaluated 145 (window 1 day, 0:00:00, step 1:00:00)   detection requests 3"
        ));
        assert!(text.contains("   warning: 1 aggregator value(s) have more than max_num_targets=2"));
        let row = text
            .lines()
            .find(|l| l.starts_with("   ws-01 "))
            .expect("sudden outlier row");
        assert!(row.contains(" 2  new process"), "{row}");
        // One tagged event per sudden outlier, whatever the pair's events in the window.
        assert!(text.contains("   outliers: 1 (1 events)"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&rendered(Format::Json)).unwrap();
        assert_eq!(
            json["use_cases"][2]["sudden"]["timelines"][0]["targets"][1]["sudden_at"][0],
            "2026-11-27T20:00:00Z"
        );
        assert!(
            json["use_cases"][0].get("sudden").is_none(),
            "terms: no sudden block"
        );
    }

    #[test]
    fn byte_counts_use_binary_units_with_one_decimal_above_a_kibibyte() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1024), "1.0 KiB");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }

    #[test]
    fn json_carries_the_schema_version_and_every_outlier() {
        let mut out = Vec::new();
        render(&sample(), Format::Json, &mut out).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v["use_cases"][0]["outliers"][0]["target"], "cmd.exe");
        assert_eq!(v["use_cases"][0]["status"], "ok");
    }
}
