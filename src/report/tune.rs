//! Stage `report` (PURE): what `esoutliers tune` found: per trigger method, outlier pairs
//! and events against sensitivity, with the pairs that appear at each step, as a table,
//! JSON or an HTML page with one SVG chart per method (no scripts, no external assets;
//! every value escaped by maud).

use std::io::{self, Write};

use maud::{html, Markup, DOCTYPE};
use serde::Serialize;

use crate::evaluate::tune::Step;

/// Everything `tune` did.
#[derive(Debug, Clone, Serialize)]
pub struct TuneReport {
    pub schema_version: u32,
    pub use_case: String,
    pub index: String,
    pub window_start: String,
    pub window_end: String,
    /// The use case's own trigger, e.g. `low pct_of_avg_value 1`.
    pub configured: String,
    pub events_in_window: Option<u64>,
    pub pages: u64,
    pub buckets_read: u64,
    /// Requests sent to the cluster (field check and counting pages): those of one
    /// `run --dry-run` of this use case without whitelists.
    pub requests: u64,
    pub bytes_received: u64,
    pub steps: Vec<Step>,
}

/// The sentence on what tune cost the cluster.
fn cost(r: &TuneReport) -> String {
    format!(
        "cost: one counting pass ({} request(s), {} page(s), {} bucket(s)), the same as one `run --dry-run`; nothing was written; counts before whitelists",
        r.requests, r.pages, r.buckets_read
    )
}

/// The table: one line per step.
pub fn table(r: &TuneReport, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "tune {}  index {}  window {} .. {}",
        r.use_case, r.index, r.window_start, r.window_end
    )?;
    writeln!(
        out,
        "configured: {}   events in window {}",
        r.configured,
        r.events_in_window.map_or("-".into(), |n| n.to_string())
    )?;
    writeln!(out, "{}", cost(r))?;
    writeln!(out)?;
    writeln!(
        out,
        "   {:<20} {:>11} {:>7} {:>8}  appeared",
        "method", "sensitivity", "pairs", "events"
    )?;
    for s in &r.steps {
        let mut appeared = s.appeared.join(", ");
        if s.more_appeared > 0 {
            appeared.push_str(&format!(" (+{} more)", s.more_appeared));
        }
        let line = format!(
            "   {:<20} {:>11} {:>7} {:>8}  {}",
            s.method,
            super::num(s.sensitivity),
            s.pairs,
            s.events,
            appeared
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The HTML page: the table and one chart per method (pairs against sensitivity, the
/// sensitivities evenly spaced in order).
pub fn html_page(r: &TuneReport, out: &mut impl Write) -> io::Result<()> {
    let mut methods: Vec<&str> = Vec::new();
    for s in &r.steps {
        if !methods.contains(&s.method.as_str()) {
            methods.push(&s.method);
        }
    }
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "esoutliers tune - " (r.use_case) }
                style { "body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 6px}td.n{text-align:right}.meta{color:#555}svg{max-width:100%;height:auto}" }
            }
            body {
                "\n"
                h1 { "tune " (r.use_case) }
                "\n"
                p.meta { "index " (r.index) " · window " (r.window_start) " .. " (r.window_end) " · configured: " (r.configured) }
                "\n"
                p.cost { (cost(r)) }
                "\n"
                @for m in &methods {
                    (method_chart(m, r.steps.iter().filter(|s| s.method == *m).collect()))
                    "\n"
                }
                table.steps {
                    thead { tr { th { "method" } th { "sensitivity" } th { "pairs" } th { "events" } th { "appeared" } } }
                    tbody {
                        @for s in &r.steps {
                            tr { td { (s.method) } td.n { (super::num(s.sensitivity)) } td.n { (s.pairs) } td.n { (s.events) }
                                 td { (s.appeared.join(", ")) @if s.more_appeared > 0 { " (+" (s.more_appeared) " more)" } } }
                            "\n"
                        }
                    }
                }
            }
        }
    };
    out.write_all(page.into_string().as_bytes())?;
    writeln!(out)
}

fn method_chart(method: &str, steps: Vec<&Step>) -> Markup {
    let w = 600.0;
    let h = 160.0;
    let max = steps.iter().map(|s| s.pairs).max().unwrap_or(0).max(1) as f64;
    let n = steps.len().max(1) as f64;
    let x = |i: usize| 40.0 + (w - 60.0) * (i as f64 + 0.5) / n;
    // 22 px above the highest point for its label, 30 below the lowest for the axis.
    let y = |v: usize| 22.0 + (h - 52.0) * (1.0 - v as f64 / max);
    let points: Vec<String> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| format!("{:.1},{:.1}", x(i), y(s.pairs)))
        .collect();
    html! {
        figure.tune data-method=(method) {
            figcaption { (method) ": outlier pairs against sensitivity" }
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {w} {h}")) width=(w) role="img" {
                polyline points=(points.join(" ")) fill="none" stroke="#1f77b4" stroke-width="2" {}
                @for (i, s) in steps.iter().enumerate() {
                    circle.step cx=(format!("{:.1}", x(i))) cy=(format!("{:.1}", y(s.pairs))) r="4" fill="#d62728" {
                        title { (super::num(s.sensitivity)) ": " (s.pairs) " pairs, " (s.events) " events" }
                    }
                    text x=(format!("{:.1}", x(i))) y=(h - 12.0) font-size="10" text-anchor="middle" { (super::num(s.sensitivity)) }
                    text x=(format!("{:.1}", x(i))) y=(format!("{:.1}", y(s.pairs) - 7.0)) font-size="10" text-anchor="middle" { (s.pairs) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TuneReport {
        TuneReport {
            schema_version: 1,
            use_case: "terms_rare <x>".into(),
            index: "logs-*".into(),
            window_start: "2026-11-28T00:00:00.000Z".into(),
            window_end: "2026-11-29T00:00:00.000Z".into(),
            configured: "low pct_of_avg_value 1".into(),
            events_in_window: Some(603),
            pages: 1,
            buckets_read: 4,
            requests: 2,
            bytes_received: 900,
            steps: vec![
                Step {
                    method: "pct_of_avg_value".into(),
                    sensitivity: 0.5,
                    pairs: 0,
                    events: 0,
                    appeared: vec![],
                    more_appeared: 0,
                    disappeared: 0,
                },
                Step {
                    method: "pct_of_avg_value".into(),
                    sensitivity: 1.0,
                    pairs: 2,
                    events: 2,
                    appeared: vec!["winword.exe -> cmd.exe".into(), "excel.exe -> <b>".into()],
                    more_appeared: 0,
                    disappeared: 0,
                },
                Step {
                    method: "pct_of_avg_value".into(),
                    sensitivity: 10.0,
                    pairs: 3,
                    events: 12,
                    appeared: vec!["excel.exe -> powershell.exe".into()],
                    more_appeared: 21,
                    disappeared: 0,
                },
            ],
        }
    }

    #[test]
    fn tune_table_of_a_fixed_sweep_is_the_reviewed_one() {
        let mut out = Vec::new();
        table(&sample(), &mut out).unwrap();
        insta::assert_snapshot!("tune_table", String::from_utf8(out).unwrap());
    }

    #[test]
    fn tune_html_of_a_fixed_sweep_is_the_reviewed_one_with_values_escaped() {
        let mut out = Vec::new();
        html_page(&sample(), &mut out).unwrap();
        let page = String::from_utf8(out).unwrap();
        assert_eq!(page.matches("<circle class=\"step\"").count(), 3);
        assert!(page.contains("excel.exe -&gt; &lt;b&gt;") && !page.contains("<b>"));
        assert!(page.contains("the same as one `run --dry-run`"));
        insta::assert_snapshot!("tune_html", page);
    }
}
