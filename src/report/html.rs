//! Stage `report` (PURE): the self-contained HTML page for the morning review. Per use
//! case a table of outliers and, per flagged aggregator, an SVG bar chart of its targets'
//! counts with the decision frontier drawn (terms), or an SVG timeline of when each of
//! its target values first appeared and when one appeared suddenly
//! (sudden_appearance). No scripts, no external assets.
//!
//! Invariant: every value from data is HTML-escaped by construction: the page is built
//! with maud's `html!`, which escapes every interpolated value (`&`, `<`, `>`, `"`); no
//! `PreEscaped` is used here. Line breaks between blocks are only there so that the
//! snapshot of a page reads (and diffs) line by line.

use std::io::{self, Write};

use maud::{html, Markup, DOCTYPE};

use super::history::HistoryView;
use super::review::{self, HtmlOptions};
use super::{human_bytes, num, Chart, RunSummary, Status, SuddenReport, Timeline, UseCaseReport};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}\
td.n{text-align:right}.failed,ul.failures{color:#b00}.chart{margin:1em 0 2em}.meta{color:#555}\
ul.warnings{color:#a60}figure{max-width:100%;overflow-x:auto;margin-left:0;margin-right:0}\
.mark{font-size:80%;padding:0 4px;border-radius:3px}\
.mark.new{background:#d62728;color:#fff}.mark.recurring{background:#ddd}.mark.gone{background:#eee;color:#555}\
@media(max-width:600px){body{margin:.5em}table.outliers{display:block;overflow-x:auto}}";

/// Writes the page with linear bars.
pub fn render(s: &RunSummary, out: &mut impl Write) -> io::Result<()> {
    render_with(s, HtmlOptions::default(), out)
}

/// Writes the page with the given options (`--log-scale`).
pub fn render_with(s: &RunSummary, opts: HtmlOptions, out: &mut impl Write) -> io::Result<()> {
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "esoutliers report - " (s.config) }
                style { (STYLE) }
            }
            "\n"
            body {
                h1 { "esoutliers report" }
                "\n"
                p.meta {
                    "config " (s.config) " · cluster " (s.cluster_url) " ("
                    (s.cluster_product.as_deref().unwrap_or("not reached")) ")"
                    @if s.dry_run { " · dry run: nothing written" }
                }
                "\n"
                @for uc in &s.use_cases {
                    (use_case(uc, s.history.as_ref(), opts))
                    "\n"
                }
                @if let Some(n) = &s.notifications {
                    (review::notifications(n))
                    "\n"
                }
            }
        }
    };
    out.write_all(page.into_string().as_bytes())?;
    writeln!(out)
}

fn use_case(uc: &UseCaseReport, hist: Option<&HistoryView>, opts: HtmlOptions) -> Markup {
    let row_class = |summary: &str| match hist.and_then(|h| h.mark(&uc.name, summary)) {
        Some(m) => format!("outlier {}", m.as_str()),
        None => "outlier".to_string(),
    };
    let badge = |summary: &str| {
        hist.and_then(|h| h.mark(&uc.name, summary))
            .map(review::badge)
    };
    let failed = uc.status == Status::Failed;
    let events = uc
        .events_in_window
        .map(|n| n.to_string())
        .unwrap_or_else(|| "-".into());
    html! {
        section.use-case data-name=(uc.name) {
            h2 class=[failed.then_some("failed")] { (uc.name) @if failed { " (failed)" } }
            "\n"
            @if let Some(e) = &uc.error {
                p.failed { (e) }
                "\n"
            }
            @for s in &uc.skipped_indices {
                p.skipped { "skipped index " (s.index) ": " (s.reason) }
                "\n"
            }
            p.meta {
                "index " (uc.index) " · window " (uc.window_start) " .. " (uc.window_end)
                " · " (uc.trigger) " · events in window " (events) " · buckets read "
                (uc.buckets_read) " · received " (human_bytes(uc.bytes_received))
                @if let Some(line) = super::counting_line(uc) {
                    " · " (line)
                }
            }
            "\n"
            @if let Some(sr) = &uc.sudden {
                (sudden_meta(sr))
            }
            (tagging(uc))
            @if let Some(h) = hist.and_then(|h| h.of(&uc.name)) {
                (review::history(h, hist.map_or(0, |v| v.earlier_runs), opts))
                "\n"
            }
            @if let Some(o) = &uc.over_time {
                (review::over_time(o, opts))
                "\n"
            }
            @if uc.outliers.is_empty() {
                p { "No outliers." }
            } @else if let Some(sr) = &uc.sudden {
                table.outliers {
                    thead { tr {
                        th { "aggregator" } th { "target" } th { "events in window" } th { "summary" }
                    } }
                    "\n"
                    tbody {
                        @for o in &uc.outliers {
                            tr class=(row_class(&o.summary)) {
                                td { (o.aggregator) }
                                td { (o.target.as_deref().unwrap_or("(all)")) }
                                td.n { (o.term_count) }
                                td { @if let Some(b) = badge(&o.summary) { (b) " " } (o.summary) }
                            }
                            "\n"
                        }
                    }
                }
                "\n"
                @for t in &sr.timelines {
                    (timeline(t))
                    "\n"
                }
            } @else {
                table.outliers {
                    thead { tr {
                        th { "aggregator" } th { "target" } th { "count" }
                        th { "average" } th { "frontier" } th { "summary" }
                    } }
                    "\n"
                    tbody {
                        @for o in &uc.outliers {
                            tr class=(row_class(&o.summary)) {
                                td { (o.aggregator) }
                                td { (o.target.as_deref().unwrap_or("(all)")) }
                                td.n { (o.term_count) }
                                td.n { (num(o.average)) }
                                td.n { (num(o.decision_frontier)) }
                                td { @if let Some(b) = badge(&o.summary) { (b) " " } (o.summary) }
                            }
                            "\n"
                        }
                    }
                }
                "\n"
                @for c in &uc.charts {
                    (chart(c, opts))
                    "\n"
                }
            }
        }
    }
}

/// The sudden_appearance line: windows evaluated and requests sent, then the warnings.
fn sudden_meta(sr: &SuddenReport) -> Markup {
    html! {
        p.meta.sudden {
            "windows evaluated " (sr.windows_evaluated) " (window " (sr.window)
            ", step " (sr.step) ") · detection requests " (sr.detection_requests)
            " (" (sr.first_event_requests) " first-event batch(es), " (sr.ties)
            " tie scan(s)); ee-outliers 0.2.17 sends one aggregation per window"
        }
        "\n"
        @if !sr.warnings.is_empty() {
            ul.warnings { @for w in &sr.warnings { li { (w) } } }
            "\n"
        }
    }
}

/// What tagging did (or that nothing was written), with its failures.
fn tagging(uc: &UseCaseReport) -> Markup {
    html! {
        @match &uc.tagging {
            Some(t) => {
                p.tagging {
                    "tagged: " (t.updated) " events updated, " (t.noops)
                    " already tagged · checked after tagging: " (t.verified) " of "
                    (t.checked) " carry the entry"
                    @if t.passes > 1 { " · " (t.passes) " passes" }
                }
                "\n"
                @if !t.failures.is_empty() {
                    ul.failures { @for f in &t.failures { li { (f) } } }
                    "\n"
                }
            }
            None => {
                @if !uc.outliers.is_empty() {
                    p.tagging { "nothing written" }
                    "\n"
                }
            }
        }
    }
}

/// One horizontal bar per target (lengths linear, or log with `--log-scale`, see
/// [`review::fraction`]), scaled to the largest count (or the frontier, when it
/// is larger; at least 1 so that all-zero counts do not divide by zero), and a dashed
/// vertical line at the frontier.
fn chart(c: &Chart, opts: HtmlOptions) -> Markup {
    let bar_h = 18.0;
    let label_w = 220.0;
    let plot_w = 480.0;
    let max = c
        .bars
        .iter()
        .map(|b| b.count as f64)
        .fold(c.frontier.max(1.0), f64::max);
    let scale = |v: f64| label_w + plot_w * review::fraction(v, max, opts.log_scale);
    let h = bar_h * c.bars.len() as f64 + 30.0;
    let fx = format!("{:.1}", scale(c.frontier));
    html! {
        figure.chart data-aggregator=(c.aggregator) {
            figcaption {
                (c.aggregator) " — targets by count; the line is the frontier ("
                (num(c.frontier)) ")"
            }
            "\n"
            svg xmlns="http://www.w3.org/2000/svg" width=(label_w + plot_w + 60.0) height=(h) role="img" {
                "\n"
                @for (i, b) in c.bars.iter().enumerate() {
                    @let y = 5.0 + i as f64 * bar_h;
                    @let w = (scale(b.count as f64) - label_w).max(1.0);
                    text x=(label_w - 6.0) y=(y + 13.0) font-size="12" text-anchor="end" { (b.target) }
                    rect.bar.outlier[b.outlier] x=(label_w) y=(y) width=(format!("{w:.1}"))
                        height=(bar_h - 4.0) fill=(if b.outlier { "#d62728" } else { "#1f77b4" }) {}
                    text x=(format!("{:.1}", label_w + w + 4.0)) y=(y + 13.0) font-size="11" { (b.count) }
                    "\n"
                }
                line.frontier x1=(fx) x2=(fx) y1="0" y2=(h - 20.0) stroke="#000" stroke-dasharray="4 3" {}
            }
        }
    }
}

/// The last `n` characters of `s`, after `…` when longer (a path keeps its file name).
fn tail(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n {
        return s.to_string();
    }
    std::iter::once('…')
        .chain(s.chars().skip(count - (n - 1)))
        .collect()
}

/// Seconds since the epoch of an RFC 3339 timestamp; `None` if it does not parse.
fn epoch_s(t: &str) -> Option<f64> {
    time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(|d| d.unix_timestamp_nanos() as f64 / 1e9)
}

/// One row per target value on the history window's time axis: a grey line from its
/// first appearance to the end of the window, a dot where it first appeared and a red
/// mark at each sudden appearance. Labels longer than 34 characters keep their end. Positions are clamped to the axis; an axis of zero
/// length (start = end, or a timestamp that does not parse) puts everything at its start.
fn timeline(t: &Timeline) -> Markup {
    let row_h = 18.0;
    let label_w = 260.0;
    let plot_w = 480.0;
    let start = epoch_s(&t.start).unwrap_or(0.0);
    let end = epoch_s(&t.end).unwrap_or(start);
    let x = |ts: &str| {
        let v = epoch_s(ts).unwrap_or(start);
        let frac = if end > start {
            ((v - start) / (end - start)).clamp(0.0, 1.0)
        } else {
            0.0
        };
        format!("{:.1}", label_w + plot_w * frac)
    };
    let h = row_h * t.targets.len() as f64 + 30.0;
    let axis_y = h - 22.0;
    html! {
        figure.timeline data-aggregator=(t.aggregator) {
            figcaption {
                (t.aggregator) " — first appearance of each target, " (t.start) " .. " (t.end)
                "; red: sudden appearance"
                @if t.more_targets > 0 { " (" (t.more_targets) " more targets not shown)" }
            }
            "\n"
            svg xmlns="http://www.w3.org/2000/svg" width=(label_w + plot_w + 20.0) height=(h) role="img" {
                "\n"
                @for (i, f) in t.targets.iter().enumerate() {
                    @let y = 5.0 + i as f64 * row_h + 9.0;
                    text x=(label_w - 6.0) y=(y + 4.0) font-size="12" text-anchor="end" {
                        title { (f.target) }
                        (tail(&f.target, 34)) " (" (f.events) ")"
                    }
                    line x1=(x(&f.first_seen)) x2=(label_w + plot_w) y1=(y) y2=(y) stroke="#ccc" {}
                    circle.first cx=(x(&f.first_seen)) cy=(y) r="4" fill="#1f77b4" {
                        title { (f.target) " first seen " (f.first_seen) }
                    }
                    @for s in &f.sudden_at {
                        rect.sudden x=(format!("{:.1}", x(s).parse::<f64>().unwrap_or(label_w) - 1.5)) y=(y - 8.0)
                            width="3" height="16" fill="#d62728" {
                            title { (f.target) " appeared suddenly " (s) }
                        }
                    }
                    "\n"
                }
                line.axis x1=(label_w) x2=(label_w + plot_w) y1=(axis_y) y2=(axis_y) stroke="#000" {}
                text x=(label_w) y=(axis_y + 14.0) font-size="11" { (t.start) }
                text x=(label_w + plot_w) y=(axis_y + 14.0) font-size="11" text-anchor="end" { (t.end) }
            }
        }
    }
}
