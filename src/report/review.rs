//! Stage `report` (PURE): the morning review's parts of the table and the HTML page:
//! new / recurring / gone outliers and outliers per night ([`super::history`]), the
//! tagged events over time, what the notifier sent, and the bar scale (linear or log).
//!
//! Invariant: as in [`super::html`], every value from data is escaped by maud; no
//! scripts, no external assets, so a page renders with no network.

use std::io::{self, Write};

use maud::{html, Markup};

use super::history::{Mark, UseCaseHistory};
use super::{NotificationReport, OverTime};

/// How bar lengths are scaled in the HTML charts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HtmlOptions {
    /// Logarithmic bars: a count of 1 next to 10,000 stays visible.
    pub log_scale: bool,
}

/// The fraction of the full bar length for `v` when the largest value is `max`:
/// linear `v / max`; log `log10(1 + v) / log10(1 + max)` (0 stays 0, `max` is 1).
/// Clamped to [0, 1]; a `max` of 0 or less (all bars empty) gives 0.
pub fn fraction(v: f64, max: f64, log: bool) -> f64 {
    if max <= 0.0 || v <= 0.0 {
        return 0.0;
    }
    let f = if log {
        (1.0 + v).log10() / (1.0 + max).log10()
    } else {
        v / max
    };
    f.clamp(0.0, 1.0)
}

impl Mark {
    /// The word shown in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Mark::New => "new",
            Mark::Recurring => "recurring",
        }
    }
}

/// The table's lines of a use case's history: counts, then one line per summary.
pub fn history_lines(h: &UseCaseHistory, earlier: usize, out: &mut impl Write) -> io::Result<()> {
    let new = h.marks.iter().filter(|(_, m)| *m == Mark::New).count();
    writeln!(
        out,
        "   against {earlier} earlier run(s): {new} new, {} recurring, {} gone",
        h.marks.len() - new,
        h.gone.len()
    )?;
    for (s, m) in &h.marks {
        writeln!(out, "     {:<9}  {}", m.as_str(), s.replace('\n', " "))?;
    }
    for s in &h.gone {
        writeln!(out, "     {:<9}  {}", "gone", s.replace('\n', " "))?;
    }
    Ok(())
}

/// The table's lines of what the notifier did.
pub fn notification_lines(n: &NotificationReport, out: &mut impl Write) -> io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "notifications ({}): {} new outlier(s){}; {} e-mail(s) sent, {} webhook post(s); {} already notified (cache)",
        n.channels.join(", "),
        n.new,
        if n.dry_run { ", dry run: nothing sent" } else { "" },
        n.emails_sent,
        n.webhook_posts,
        n.already_notified
    )?;
    for x in &n.notes {
        writeln!(out, "   note: {x}")?;
    }
    for f in &n.failures {
        writeln!(out, "   NOT SENT: {f}")?;
    }
    Ok(())
}

/// The HTML of what the notifier did.
pub fn notifications(n: &NotificationReport) -> Markup {
    html! {
        section.notifications {
            h2 { "Notifications" }
            p.meta {
                (n.channels.join(", ")) " · " (n.new) " new outlier(s)"
                @if n.dry_run { " · dry run: nothing sent" }
                " · " (n.emails_sent) " e-mail(s) sent · " (n.webhook_posts) " webhook post(s) · "
                (n.already_notified) " already notified"
            }
            @if !n.notes.is_empty() { ul.warnings { @for x in &n.notes { li { (x) } } } }
            @if !n.failures.is_empty() { ul.failures { @for f in &n.failures { li { "not sent: " (f) } } } }
        }
    }
}

/// The HTML of a use case's history: the gone summaries and the chart of outliers per
/// night (one vertical bar per night, its count above it).
pub fn history(h: &UseCaseHistory, earlier: usize, opts: HtmlOptions) -> Markup {
    let new = h.marks.iter().filter(|(_, m)| *m == Mark::New).count();
    let bar_w = 28.0;
    let plot_h = 100.0;
    let max = h.nights.iter().map(|n| n.outliers).max().unwrap_or(0) as f64;
    let w = (bar_w * h.nights.len() as f64 + 20.0).max(200.0);
    html! {
        div.history {
            p.meta {
                "against " (earlier) " earlier run(s): " (new) " new, " (h.marks.len() - new)
                " recurring, " (h.gone.len()) " gone"
            }
            @if !h.gone.is_empty() {
                ul.gone { @for s in &h.gone { li { span.mark.gone { "gone" } " " (s) } } }
            }
            @if !h.nights.is_empty() {
                figure.nights {
                    figcaption { "outliers per night" @if opts.log_scale { " (log scale)" } }
                    svg xmlns="http://www.w3.org/2000/svg" width=(w) height=(plot_h + 40.0) role="img" {
                        @for (i, n) in h.nights.iter().enumerate() {
                            @let bh = (plot_h * fraction(n.outliers as f64, max, opts.log_scale)).max(if n.outliers > 0 { 1.0 } else { 0.0 });
                            @let x = 10.0 + i as f64 * bar_w;
                            rect.night x=(x) y=(format!("{:.1}", 14.0 + plot_h - bh)) width=(bar_w - 6.0)
                                height=(format!("{bh:.1}")) fill="#1f77b4" { title { (n.date) ": " (n.outliers) } }
                            text x=(x + (bar_w - 6.0) / 2.0) y=(format!("{:.1}", 11.0 + plot_h - bh)) font-size="10" text-anchor="middle" { (n.outliers) }
                            @if i == 0 || i + 1 == h.nights.len() || i % 7 == 0 {
                                text x=(x) y=(plot_h + 28.0) font-size="10" { (n.date.get(5..).unwrap_or(&n.date)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The HTML histogram of a use case's tagged events over its window.
pub fn over_time(o: &OverTime, opts: HtmlOptions) -> Markup {
    let plot_w = 720.0;
    let plot_h = 100.0;
    let n = o.buckets.len().max(1) as f64;
    let bw = plot_w / n;
    let max = o.buckets.iter().map(|(_, c)| *c).max().unwrap_or(0);
    let total: u64 = o.buckets.iter().map(|(_, c)| *c).sum();
    html! {
        figure.over-time {
            figcaption {
                "tagged events over the window: " (total) " in buckets of " (o.interval)
                ", at most " (max) " per bucket" @if opts.log_scale { " (log scale)" }
            }
            svg xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {} {}", plot_w + 20.0, plot_h + 34.0)) width="100%" style="max-width:760px" role="img" {
                @for (i, (start, c)) in o.buckets.iter().enumerate() {
                    @let bh = (plot_h * fraction(*c as f64, max as f64, opts.log_scale)).max(if *c > 0 { 1.0 } else { 0.0 });
                    rect.bucket x=(format!("{:.1}", 10.0 + i as f64 * bw)) y=(format!("{:.1}", 4.0 + plot_h - bh))
                        width=(format!("{:.1}", (bw - 1.0).max(0.5))) height=(format!("{bh:.1}")) fill="#d62728" {
                        title { (start) ": " (c) }
                    }
                }
                line x1="10" x2=(10.0 + plot_w) y1=(4.0 + plot_h) y2=(4.0 + plot_h) stroke="#000" {}
                @if let Some((first, _)) = o.buckets.first() {
                    text x="10" y=(plot_h + 20.0) font-size="11" { (first) }
                }
                @if let Some((last, _)) = o.buckets.last() {
                    text x=(10.0 + plot_w) y=(plot_h + 20.0) font-size="11" text-anchor="end" { (last) }
                }
            }
        }
    }
}

/// The badge of a summary's mark.
pub fn badge(m: Mark) -> Markup {
    html! { span class=(format!("mark {}", m.as_str())) { (m.as_str()) } }
}

#[cfg(test)]
mod tests {
    use super::super::history::{compare, PastOutlier, PastRun, PastUseCase};
    use super::super::tests_support::{outlier, summary, use_case};
    use super::super::{render, Bar, Chart, Format};
    use super::*;

    /// Tonight: "cmd.exe" seen last night too, "rclone.exe" new; last night's "psexec"
    /// is gone; events tagged over the window; one e-mail sent, the webhook refused.
    fn reviewed() -> super::super::RunSummary {
        let mut uc = use_case("terms_rare");
        uc.outliers = vec![outlier("cmd.exe"), outlier("rclone <x>.exe")];
        uc.charts = vec![Chart {
            aggregator: "winword.exe".into(),
            frontier: 1.0,
            bars: vec![
                Bar {
                    target: "splwow64.exe".into(),
                    count: 10_000,
                    outlier: false,
                },
                Bar {
                    target: "cmd.exe".into(),
                    count: 1,
                    outlier: true,
                },
            ],
        }];
        uc.over_time = Some(OverTime {
            interval: "6h".into(),
            buckets: vec![
                ("2026-11-28T00:00:00.000Z".into(), 0),
                ("2026-11-28T06:00:00.000Z".into(), 1),
                ("2026-11-28T12:00:00.000Z".into(), 1000),
                ("2026-11-28T18:00:00.000Z".into(), 0),
            ],
        });
        let mut s = summary(vec![uc]);
        let past = PastRun {
            use_cases: vec![PastUseCase {
                name: "terms_rare".into(),
                window_end: "2026-11-28T03:00:00.000Z".into(),
                status: "ok".into(),
                outliers: ["cmd.exe", "psexec"]
                    .iter()
                    .map(|x| PastOutlier {
                        summary: x.to_string(),
                    })
                    .collect(),
            }],
        };
        s.history = Some(compare(&[past], &s));
        s.notifications = Some(NotificationReport {
            channels: vec![
                "e-mail via 127.0.0.1:2465 (tls)".into(),
                "webhook http://127.0.0.1:9/…".into(),
            ],
            new: 1,
            already_notified: 1,
            emails_sent: 1,
            webhook_posts: 0,
            dry_run: false,
            state_files: vec!["/tmp/esoutliers-0.notified.json".into()],
            notes: Vec::new(),
            failures: vec!["1 new outlier(s): webhook http://127.0.0.1:9/…: answered 500".into()],
        });
        s
    }

    #[test]
    fn the_review_table_marks_new_recurring_and_gone_and_says_what_was_not_sent() {
        let mut out = Vec::new();
        render(&reviewed(), Format::Table, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("against 1 earlier run(s): 1 new, 1 recurring, 1 gone"),
            "{text}"
        );
        assert!(text.contains("     new        rclone <x>.exe\n"));
        assert!(text.contains("     gone       psexec\n"));
        assert!(text.contains("   NOT SENT: 1 new outlier(s): webhook"));
        insta::assert_snapshot!("review_table", text);
    }

    #[test]
    fn the_review_page_with_log_scale_shows_marks_nights_and_the_histogram() {
        let mut out = Vec::new();
        super::super::html::render_with(&reviewed(), HtmlOptions { log_scale: true }, &mut out)
            .unwrap();
        let page = String::from_utf8(out).unwrap();
        assert_eq!(page.matches("<tr class=\"outlier new\">").count(), 1);
        assert_eq!(page.matches("<tr class=\"outlier recurring\">").count(), 1);
        assert!(page.contains("<span class=\"mark gone\">gone</span> psexec"));
        assert_eq!(page.matches("<rect class=\"night\"").count(), 2);
        assert_eq!(page.matches("<rect class=\"bucket\"").count(), 4);
        // Log scale: the count of 1 next to 10,000 gets 36 px, not the 1 px minimum.
        assert!(
            page.contains("<rect class=\"bar outlier\" x=\"220\" y=\"23\" width=\"36.1\""),
            "{page}"
        );
        assert!(page.contains("rclone &lt;x&gt;.exe") && !page.contains("rclone <x>"));
        insta::assert_snapshot!("review_html", page);
    }

    #[test]
    fn linear_fraction_is_value_over_max_and_log_keeps_a_one_next_to_ten_thousand_visible() {
        assert_eq!(fraction(5.0, 10.0, false), 0.5);
        assert!(fraction(1.0, 10_000.0, false) < 0.001);
        let log = fraction(1.0, 10_000.0, true);
        // log10(2) / log10(10001) = 0.0753: 36 px of a 480 px bar instead of 0.05 px.
        assert!((log - 0.07526).abs() < 1e-4, "{log}");
        assert_eq!(fraction(10_000.0, 10_000.0, true), 1.0);
    }

    #[test]
    fn fraction_of_zero_or_an_empty_chart_is_zero_and_never_beyond_one() {
        assert_eq!(fraction(0.0, 10.0, true), 0.0);
        assert_eq!(fraction(3.0, 0.0, false), 0.0);
        assert_eq!(fraction(20.0, 10.0, false), 1.0);
    }
}
