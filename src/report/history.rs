//! Stage `report` (PURE): what is new tonight. Earlier runs' JSON reports (read from a
//! history folder by `app`) against this run: each outlier summary is **new** (in no
//! earlier run of its use case), **recurring** (in at least one), and a summary of the
//! most recent earlier run of the use case that is not in this one is **gone**; plus the
//! outliers per night of each use case for a chart.
//!
//! Reads only the few fields it needs from an earlier report ([`PastRun`]), so reports
//! of other versions of the same `schema_version` read too; a file that does not parse
//! is left out by the caller (and said so).
//!
//! Invariants: a summary is compared as written (exact string); a night is the UTC date
//! of a run's `window_end`, and a night with several runs counts the last of them.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::RunSummary;

/// The fields of an earlier JSON report that history reads.
#[derive(Debug, Clone, Deserialize)]
pub struct PastRun {
    #[serde(default)]
    pub use_cases: Vec<PastUseCase>,
}

/// One use case of an earlier report.
#[derive(Debug, Clone, Deserialize)]
pub struct PastUseCase {
    pub name: String,
    #[serde(default)]
    pub window_end: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub outliers: Vec<PastOutlier>,
}

/// One outlier of an earlier report.
#[derive(Debug, Clone, Deserialize)]
pub struct PastOutlier {
    pub summary: String,
}

/// New or recurring, for one summary of this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    New,
    Recurring,
}

/// This run against the earlier ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct HistoryView {
    /// Earlier runs read.
    pub earlier_runs: usize,
    /// Files of the folder that could not be read as a report (their names).
    pub unreadable: Vec<String>,
    pub use_cases: Vec<UseCaseHistory>,
}

/// One use case's outliers against its earlier runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UseCaseHistory {
    pub name: String,
    /// This run's summaries, each with its mark, in report order.
    pub marks: Vec<(String, Mark)>,
    /// Summaries of the most recent earlier run of this use case that are not in this one.
    pub gone: Vec<String>,
    /// Outliers per night, oldest first, this run included.
    pub nights: Vec<Night>,
}

/// The outliers of a use case on one night.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Night {
    /// UTC date `YYYY-MM-DD` of the run's window end.
    pub date: String,
    pub outliers: u64,
}

impl HistoryView {
    /// The mark of `summary` in use case `name`; `None` without history for it.
    pub fn mark(&self, name: &str, summary: &str) -> Option<Mark> {
        self.of(name)?
            .marks
            .iter()
            .find(|(s, _)| s == summary)
            .map(|(_, m)| *m)
    }

    /// The history of use case `name`.
    pub fn of(&self, name: &str) -> Option<&UseCaseHistory> {
        self.use_cases.iter().find(|u| u.name == name)
    }
}

/// The run `now` against `earlier` (oldest first). A failed use case of an earlier run
/// counts for neither recurring nor gone (its outliers are not known); one of this run
/// gets no marks and no gone list, only its nights.
pub fn compare(earlier: &[PastRun], now: &RunSummary) -> HistoryView {
    let mut view = HistoryView {
        earlier_runs: earlier.len(),
        ..HistoryView::default()
    };
    for uc in &now.use_cases {
        let past: Vec<&PastUseCase> = earlier
            .iter()
            .flat_map(|r| r.use_cases.iter())
            .filter(|p| p.name == uc.name && p.status != "failed")
            .collect();
        let seen: BTreeSet<&str> = past
            .iter()
            .flat_map(|p| p.outliers.iter().map(|o| o.summary.as_str()))
            .collect();
        let failed = uc.status == super::Status::Failed;
        let mut h = UseCaseHistory {
            name: uc.name.clone(),
            ..UseCaseHistory::default()
        };
        let current: BTreeSet<&str> = uc.outliers.iter().map(|o| o.summary.as_str()).collect();
        if !failed {
            let mut done = BTreeSet::new();
            for o in &uc.outliers {
                if done.insert(o.summary.as_str()) {
                    let m = if seen.contains(o.summary.as_str()) {
                        Mark::Recurring
                    } else {
                        Mark::New
                    };
                    h.marks.push((o.summary.clone(), m));
                }
            }
            if let Some(last) = past.last() {
                let mut gone = BTreeSet::new();
                for o in &last.outliers {
                    if !current.contains(o.summary.as_str()) && gone.insert(o.summary.as_str()) {
                        h.gone.push(o.summary.clone());
                    }
                }
            }
        }
        let mut nights: BTreeMap<String, u64> = BTreeMap::new();
        for p in &past {
            nights.insert(date_of(&p.window_end), p.outliers.len() as u64);
        }
        if !failed {
            nights.insert(date_of(&uc.window_end), uc.outliers.len() as u64);
        }
        h.nights = nights
            .into_iter()
            .filter(|(d, _)| !d.is_empty())
            .map(|(date, outliers)| Night { date, outliers })
            .collect();
        view.use_cases.push(h);
    }
    view
}

/// `YYYY-MM-DD` of an RFC 3339 timestamp (its first 10 characters when they look like a
/// date); empty otherwise.
fn date_of(ts: &str) -> String {
    match ts.get(..10) {
        Some(d) if d.as_bytes().get(4) == Some(&b'-') && d.as_bytes().get(7) == Some(&b'-') => {
            d.to_string()
        }
        _ => String::new(),
    }
}

/// An earlier run from its JSON report's text; `None` when it is not one.
pub fn parse_past(text: &str) -> Option<PastRun> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    if v.get("schema_version")?.as_u64()? != u64::from(super::JSON_SCHEMA_VERSION) {
        return None;
    }
    serde_json::from_value(v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn past(name: &str, end: &str, summaries: &[&str]) -> PastRun {
        PastRun {
            use_cases: vec![PastUseCase {
                name: name.into(),
                window_end: end.into(),
                status: "ok".into(),
                outliers: summaries
                    .iter()
                    .map(|s| PastOutlier {
                        summary: s.to_string(),
                    })
                    .collect(),
            }],
        }
    }

    fn now(summaries: &[&str]) -> RunSummary {
        let mut uc = super::super::tests_support::use_case("terms_rare");
        uc.window_end = "2026-11-29T03:00:00.000Z".into();
        uc.outliers = summaries
            .iter()
            .map(|s| super::super::tests_support::outlier(s))
            .collect();
        super::super::tests_support::summary(vec![uc])
    }

    #[test]
    fn a_summary_in_no_earlier_run_is_new_one_seen_before_is_recurring() {
        let earlier = [
            past("terms_rare", "2026-11-27T03:00:00Z", &["a"]),
            past("terms_other", "2026-11-28T03:00:00Z", &["b"]),
        ];
        let v = compare(&earlier, &now(&["a", "b"]));
        assert_eq!(v.mark("terms_rare", "a"), Some(Mark::Recurring));
        // "b" was seen, but under another use case.
        assert_eq!(v.mark("terms_rare", "b"), Some(Mark::New));
        assert_eq!(v.earlier_runs, 2);
    }

    #[test]
    fn gone_lists_what_the_last_earlier_run_had_and_this_one_has_not() {
        let earlier = [
            past("terms_rare", "2026-11-27T03:00:00Z", &["old"]),
            past("terms_rare", "2026-11-28T03:00:00Z", &["a", "x", "x"]),
        ];
        let v = compare(&earlier, &now(&["a"]));
        // "old" was gone already last night: not gone again tonight.
        assert_eq!(v.of("terms_rare").unwrap().gone, vec!["x".to_string()]);
    }

    #[test]
    fn nights_count_the_last_run_of_each_date_oldest_first_this_run_included() {
        let earlier = [
            past("terms_rare", "2026-11-28T01:00:00Z", &["a", "b", "c"]),
            past("terms_rare", "2026-11-28T03:00:00Z", &["a"]),
            past("terms_rare", "2026-11-27T03:00:00Z", &[]),
        ];
        let v = compare(&earlier, &now(&["a", "b"]));
        let n = &v.of("terms_rare").unwrap().nights;
        assert_eq!(
            n,
            &vec![
                Night {
                    date: "2026-11-27".into(),
                    outliers: 0
                },
                Night {
                    date: "2026-11-28".into(),
                    outliers: 1
                },
                Night {
                    date: "2026-11-29".into(),
                    outliers: 2
                },
            ]
        );
    }

    #[test]
    fn without_earlier_runs_everything_is_new_and_nothing_is_gone() {
        let v = compare(&[], &now(&["a"]));
        assert_eq!(v.mark("terms_rare", "a"), Some(Mark::New));
        assert!(v.of("terms_rare").unwrap().gone.is_empty());
    }

    #[test]
    fn a_report_of_another_schema_version_or_not_json_is_not_read() {
        assert!(parse_past("{\"schema_version\":2,\"use_cases\":[]}").is_none());
        assert!(parse_past("not json").is_none());
        let p = parse_past(
            "{\"schema_version\":1,\"extra\":true,\"use_cases\":[{\"name\":\"u\",\"window_end\":\"2026-11-28T00:00:00Z\",\"status\":\"ok\",\"outliers\":[{\"summary\":\"s\",\"term_count\":1}]}]}",
        )
        .unwrap();
        assert_eq!(p.use_cases[0].outliers[0].summary, "s");
    }
}
