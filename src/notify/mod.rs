//! Stage `notify`: tells a person about new outliers, as ee-outliers' `[notifier]` does,
//! by e-mail and by a webhook.
//!
//! This file is PURE: which outlier summaries are new ([`Cache`], ee-outliers'
//! `last_seen_ignore_queue`), the e-mail of one outlier ([`email`]) and the JSON of the
//! webhook ([`webhook_body`]). [`send`] is the only part that talks to the network (SMTP
//! through lettre with rustls, the webhook through reqwest); it never reads the cluster.
//!
//! ee-outliers 0.2.17 semantics kept: one message per outlier whose summary is not in
//! the cache of the last `max_cache_ignore` summaries (default 1000, oldest forgotten
//! first; 0 remembers nothing, so every outlier is notified); the subject is
//! `Eagle Eye - outlier alert: <summary>`; the body lists the outlier's fields, then the
//! raw event as sorted, indented JSON. Differences, on purpose: the cache is a state
//! file that survives between runs (ee-outliers keeps it in memory, so an interactive
//! run notified every time); a summary enters the cache only when every channel took
//! it (ee-outliers added it before sending, so a failed e-mail was never sent again).
//!
//! Invariant: nothing built here contains a credential; the SMTP password is only handed
//! to lettre's login.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub mod send;

/// The summaries already notified, oldest first, at most `max` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    summaries: VecDeque<String>,
    max: usize,
}

/// The state file's shape (versioned so that a later change can read an older file).
#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    version: u32,
    summaries: Vec<String>,
}

impl Cache {
    /// An empty cache that remembers at most `max` summaries.
    pub fn new(max: usize) -> Cache {
        Cache {
            summaries: VecDeque::new(),
            max,
        }
    }

    /// The cache in a state file's `text`; `None` when the text is not one (a lost or
    /// corrupt state file means "notify again": the caller starts from an empty cache).
    /// Keeps the newest `max` summaries when the file holds more.
    pub fn parse(text: &str, max: usize) -> Option<Cache> {
        let f: CacheFile = serde_json::from_str(text).ok()?;
        if f.version != 1 {
            return None;
        }
        let mut c = Cache::new(max);
        for s in f.summaries {
            c.remember(s);
        }
        Some(c)
    }

    /// The state file's text.
    pub fn to_text(&self) -> String {
        let f = CacheFile {
            version: 1,
            summaries: self.summaries.iter().cloned().collect(),
        };
        serde_json::to_string_pretty(&f).expect("strings serialise") + "\n"
    }

    /// True when `summary` was notified and is still remembered.
    pub fn contains(&self, summary: &str) -> bool {
        self.summaries.iter().any(|s| s == summary)
    }

    /// Remembers `summary`, forgetting the oldest beyond `max` (Python's
    /// `deque(maxlen=max).append`: with `max` 0 nothing is kept). Remembering a summary
    /// already there does not move it.
    pub fn remember(&mut self, summary: String) {
        if self.max == 0 || self.contains(&summary) {
            return;
        }
        if self.summaries.len() == self.max {
            self.summaries.pop_front();
        }
        self.summaries.push_back(summary);
    }
}

/// One outlier to tell about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// The use case's section name.
    pub use_case: String,
    pub model_type: String,
    pub outlier_type: String,
    pub outlier_reason: String,
    pub summary: String,
    pub aggregator: String,
    /// `None` for across_aggregators and simplequery.
    pub target: Option<String>,
    /// Events of the pair (the matching events for simplequery).
    pub events: u64,
    /// One tagged event of the outlier (`_index`, `_id`, `_source`); `None` when it
    /// could not be read (dry run, or the read failed).
    pub event: Option<Value>,
}

/// The new alerts among `alerts`, in order, each summary once: those whose summary is
/// not in `cache`.
pub fn new_alerts(cache: &Cache, alerts: Vec<Alert>) -> Vec<Alert> {
    let mut seen = std::collections::BTreeSet::new();
    alerts
        .into_iter()
        .filter(|a| !cache.contains(&a.summary) && seen.insert(a.summary.clone()))
        .collect()
}

/// An e-mail: one line of subject, a plain-text body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub subject: String,
    pub body: String,
}

/// The e-mail of one alert: ee-outliers' subject (line breaks of a wrapped summary become
/// spaces), then `key -> value` lines of the outlier, then the raw event as JSON with
/// sorted keys and an indent of 4, as ee-outliers writes it.
pub fn email(a: &Alert) -> Mail {
    let one_line = a.summary.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut body = String::from("=======\noutlier\n=======\n");
    let mut line = |k: &str, v: &str| {
        body.push_str(k);
        body.push_str("\t -> ");
        body.push_str(v);
        body.push('\n');
    };
    line("summary", &a.summary);
    line("type", &a.outlier_type);
    line("reason", &a.outlier_reason);
    line("model_name", &a.use_case);
    line("model_type", &a.model_type);
    line("aggregator", &a.aggregator);
    if let Some(t) = &a.target {
        line("target", t);
    }
    line("term_count", &a.events.to_string());
    body.push_str("\n\n========RAW EVENT========\n\n");
    match &a.event {
        Some(e) => body.push_str(&json_sorted_indent4(e)),
        None => body.push_str("(not read: nothing was tagged in this run, or the read failed)"),
    }
    body.push('\n');
    Mail {
        subject: format!("Eagle Eye - outlier alert: {one_line}"),
        body,
    }
}

/// `json.dumps(v, sort_keys=True, indent=4)`'s layout (serde_json's maps are sorted,
/// `BTreeMap` underneath, unless `preserve_order` is on, which this crate does not use).
fn json_sorted_indent4(v: &Value) -> String {
    let mut out = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut out, fmt);
    v.serialize(&mut ser).expect("a Value serialises");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The webhook's JSON: who sends, which config, and the new alerts.
pub fn webhook_body(version: &str, config: &str, alerts: &[Alert]) -> Value {
    serde_json::json!({
        "source": "esoutliers",
        "esoutliers_version": version,
        "config": config,
        "text": format!("{} new outlier(s): {}", alerts.len(),
            alerts.iter().map(|a| a.summary.as_str()).collect::<Vec<_>>().join("; ")),
        "outliers": alerts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(summary: &str) -> Alert {
        Alert {
            use_case: "terms_rare".into(),
            model_type: "terms".into(),
            outlier_type: "process execution".into(),
            outlier_reason: "rare child process".into(),
            summary: summary.into(),
            aggregator: "winword.exe".into(),
            target: Some("cmd.exe".into()),
            events: 1,
            event: None,
        }
    }

    #[test]
    fn a_summary_in_the_cache_is_not_notified_again_and_each_summary_once_per_run() {
        let mut c = Cache::new(10);
        c.remember("old".into());
        let got = new_alerts(&c, vec![alert("old"), alert("new"), alert("new")]);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].summary, "new");
    }

    #[test]
    fn the_cache_forgets_the_oldest_summary_beyond_max_cache_ignore() {
        let mut c = Cache::new(2);
        for s in ["a", "b", "a", "c"] {
            c.remember(s.into());
        }
        // "a" was not moved by its second remember, so it is the oldest and goes.
        assert!(!c.contains("a") && c.contains("b") && c.contains("c"));
    }

    #[test]
    fn a_cache_of_zero_remembers_nothing_so_every_outlier_is_notified() {
        let mut c = Cache::new(0);
        c.remember("a".into());
        assert!(!c.contains("a"));
        assert_eq!(new_alerts(&c, vec![alert("a")]).len(), 1);
    }

    #[test]
    fn the_state_file_round_trips_and_a_corrupt_one_reads_as_none() {
        let mut c = Cache::new(3);
        c.remember("x \"quoted\"\nwrapped".into());
        let back = Cache::parse(&c.to_text(), 3).unwrap();
        assert_eq!(back, c);
        assert!(Cache::parse("{\"version\":1,\"summ", 3).is_none());
        assert!(Cache::parse("{\"version\":2,\"summaries\":[]}", 3).is_none());
        // A smaller max_cache_ignore keeps the newest.
        let mut big = Cache::new(5);
        for s in ["1", "2", "3"] {
            big.remember(s.into());
        }
        let small = Cache::parse(&big.to_text(), 2).unwrap();
        assert!(!small.contains("1") && small.contains("3"));
    }

    #[test]
    fn the_email_has_ee_outliers_subject_on_one_line_the_fields_and_the_sorted_event() {
        let mut a = alert("rare child process cmd.exe\nfor winword.exe");
        a.event = Some(serde_json::json!({"_id": "e1", "_source": {"z": 1, "a": {"b": "c"}}}));
        let m = email(&a);
        assert_eq!(
            m.subject,
            "Eagle Eye - outlier alert: rare child process cmd.exe for winword.exe"
        );
        assert!(
            m.body.contains("reason\t -> rare child process\n"),
            "{}",
            m.body
        );
        assert!(m.body.contains("target\t -> cmd.exe\n"));
        let raw = m
            .body
            .split("========RAW EVENT========\n\n")
            .nth(1)
            .unwrap();
        assert!(
            raw.starts_with("{\n    \"_id\": \"e1\",\n    \"_source\": {\n        \"a\": {"),
            "{raw}"
        );
        assert!(raw.find("\"a\"").unwrap() < raw.find("\"z\"").unwrap());
    }

    #[test]
    fn the_webhook_lists_every_new_outlier_with_a_line_of_text() {
        let v = webhook_body("0.1.0", "q.conf", &[alert("s1"), alert("s2")]);
        assert_eq!(v["outliers"].as_array().unwrap().len(), 2);
        assert_eq!(v["outliers"][1]["summary"], "s2");
        assert_eq!(v["text"], "2 new outlier(s): s1; s2");
    }
}
