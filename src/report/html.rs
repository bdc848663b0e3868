//! Stage `report` (PURE): the self-contained HTML page for the morning review. Per use
//! case a table of outliers and, per flagged aggregator, an SVG bar chart of its targets'
//! counts with the decision frontier drawn. No scripts, no external assets.
//!
//! Invariant: every value from data is HTML-escaped.

use std::io::{self, Write};

use super::{RunSummary, Status};

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Writes the page.
pub fn render(s: &RunSummary, out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    )?;
    writeln!(out, "<title>esoutliers report - {}</title>", esc(&s.config))?;
    writeln!(
        out,
        "<style>body{{font-family:system-ui,sans-serif;margin:2em;color:#222}}table{{border-collapse:collapse;margin:1em 0}}\
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}td.n{{text-align:right}}.failed,ul.failures{{color:#b00}}\
.chart{{margin:1em 0 2em}}.meta{{color:#555}}</style></head><body>"
    )?;
    writeln!(out, "<h1>esoutliers report</h1>")?;
    writeln!(
        out,
        "<p class=\"meta\">config {} &middot; cluster {} ({}){}</p>",
        esc(&s.config),
        esc(&s.cluster_url),
        esc(s.cluster_product.as_deref().unwrap_or("not reached")),
        if s.dry_run {
            " &middot; dry run: nothing written"
        } else {
            ""
        }
    )?;
    for uc in &s.use_cases {
        let failed = uc.status == Status::Failed;
        writeln!(
            out,
            "<section class=\"use-case\" data-name=\"{}\"><h2{}>{}{}</h2>",
            esc(&uc.name),
            if failed { " class=\"failed\"" } else { "" },
            esc(&uc.name),
            if failed { " (failed)" } else { "" }
        )?;
        if let Some(e) = &uc.error {
            writeln!(out, "<p class=\"failed\">{}</p>", esc(e))?;
        }
        writeln!(
            out,
            "<p class=\"meta\">index {} &middot; window {} .. {} &middot; {} &middot; events in window {} &middot; buckets read {} &middot; {} bytes received</p>",
            esc(&uc.index),
            esc(&uc.window_start),
            esc(&uc.window_end),
            esc(&uc.trigger),
            uc.events_in_window.map(|n| n.to_string()).unwrap_or_else(|| "-".into()),
            uc.buckets_read,
            uc.bytes_received
        )?;
        match &uc.tagging {
            Some(t) => {
                writeln!(
                    out,
                    "<p class=\"tagging\">tagged: {} events updated, {} already tagged &middot; checked after tagging: {} of {} carry the entry{}</p>",
                    t.updated,
                    t.noops,
                    t.verified,
                    t.checked,
                    if t.passes > 1 {
                        format!(" &middot; {} passes", t.passes)
                    } else {
                        String::new()
                    }
                )?;
                if !t.failures.is_empty() {
                    writeln!(out, "<ul class=\"failures\">")?;
                    for f in &t.failures {
                        writeln!(out, "<li>{}</li>", esc(f))?;
                    }
                    writeln!(out, "</ul>")?;
                }
            }
            None if !uc.outliers.is_empty() => {
                writeln!(out, "<p class=\"tagging\">nothing written</p>")?;
            }
            None => {}
        }
        if uc.outliers.is_empty() {
            writeln!(out, "<p>No outliers.</p></section>")?;
            continue;
        }
        writeln!(
            out,
            "<table class=\"outliers\"><thead><tr><th>aggregator</th><th>target</th><th>count</th><th>average</th><th>frontier</th><th>summary</th></tr></thead><tbody>"
        )?;
        for o in &uc.outliers {
            writeln!(
                out,
                "<tr class=\"outlier\"><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                esc(&o.aggregator),
                esc(o.target.as_deref().unwrap_or("(all)")),
                o.term_count,
                num(o.average),
                num(o.decision_frontier),
                esc(&o.summary)
            )?;
        }
        writeln!(out, "</tbody></table>")?;
        for c in &uc.charts {
            chart(c, out)?;
        }
        writeln!(out, "</section>")?;
    }
    writeln!(out, "</body></html>")
}

fn chart(c: &super::Chart, out: &mut impl Write) -> io::Result<()> {
    let bar_h = 18.0;
    let label_w = 220.0;
    let plot_w = 480.0;
    let max = c
        .bars
        .iter()
        .map(|b| b.count as f64)
        .fold(c.frontier.max(1.0), f64::max);
    let scale = |v: f64| label_w + plot_w * (v / max).clamp(0.0, 1.0);
    let h = bar_h * c.bars.len() as f64 + 30.0;
    writeln!(
        out,
        "<figure class=\"chart\" data-aggregator=\"{}\"><figcaption>{} &mdash; targets by count; the line is the frontier ({})</figcaption>",
        esc(&c.aggregator),
        esc(&c.aggregator),
        num(c.frontier)
    )?;
    writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{h}\" role=\"img\">",
        label_w + plot_w + 60.0
    )?;
    for (i, b) in c.bars.iter().enumerate() {
        let y = 5.0 + i as f64 * bar_h;
        let fill = if b.outlier { "#d62728" } else { "#1f77b4" };
        let w = (scale(b.count as f64) - label_w).max(1.0);
        writeln!(
            out,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text><rect class=\"bar{}\" x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"{}\" fill=\"{fill}\"/><text x=\"{:.1}\" y=\"{}\" font-size=\"11\">{}</text>",
            label_w - 6.0,
            y + 13.0,
            esc(&b.target),
            if b.outlier { " outlier" } else { "" },
            bar_h - 4.0,
            label_w + w + 4.0,
            y + 13.0,
            b.count
        )?;
    }
    let fx = scale(c.frontier);
    writeln!(
        out,
        "<line class=\"frontier\" x1=\"{fx:.1}\" x2=\"{fx:.1}\" y1=\"0\" y2=\"{}\" stroke=\"#000\" stroke-dasharray=\"4 3\"/></svg></figure>",
        h - 20.0
    )
}
