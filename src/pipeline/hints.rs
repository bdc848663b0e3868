//! Pipeline: what the last run of a config learned about its counts, so a nightly run
//! skips the lead request where it is pure overhead.
//!
//! The lead request sizes partitions; for a count whose buckets fit one page anyway it
//! only adds work (about as much as the page itself for 20,000 pairs over a million
//! events). The buckets each count read last time are kept per count (the use case and
//! its requests without their time range); when they were at most half a page, the
//! count is read by plain paging at once. A count that grew since simply pages: the
//! numbers stay exact either way, and the next run learns the new size.
//!
//! The hints live in the run folder beside the lock (`app::files::run_file`); a missing
//! or unreadable file is no hint, never an error.
//!
//! Must not: change what is counted (only how it is read).

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::plan::PageRequest;

/// The buckets each count read in the last run, by count ([`Hints::key`]).
#[derive(Debug, Default)]
pub struct Hints {
    last: BTreeMap<String, u64>,
    /// What this run read, written back at its end.
    now: Mutex<BTreeMap<String, u64>>,
}

impl Hints {
    /// The hints in `text` (the file's content); no hint when it is not what [`save`]
    /// wrote.
    ///
    /// [`save`]: Hints::save
    pub fn parse(text: &str) -> Hints {
        Hints {
            last: serde_json::from_str(text).unwrap_or_default(),
            now: Mutex::default(),
        }
    }

    /// What to write back: the counts of this run, and the others of the last run (a
    /// use case not selected this time keeps its hint).
    pub fn save(&self) -> String {
        let mut all = self.last.clone();
        all.extend(self.now.lock().unwrap_or_else(|e| e.into_inner()).clone());
        serde_json::to_string(&all).unwrap_or_default()
    }

    /// A count's identity from one run to the next: the use case, the index and the
    /// first page's body without the time range (it moves every night) and without the
    /// page size (the hint is compared with this run's).
    pub fn key(plan: &dyn PageRequest) -> String {
        let mut body = plan.page_body(None);
        drop_time_ranges(&mut body);
        if let Some(c) = body["aggs"][crate::es::PAIRS_AGG]["composite"].as_object_mut() {
            c.remove("size");
        }
        format!("{}\u{1f}{}\u{1f}{body}", plan.use_case(), plan.index())
    }

    /// True when the count of `key` read at most `limit` buckets last time.
    pub fn small(&self, key: &str, limit: u64) -> bool {
        self.last.get(key).is_some_and(|n| *n <= limit)
    }

    /// Records what the count of `key` read in this run.
    pub fn record(&self, key: String, buckets: u64) {
        self.now
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, buckets);
    }
}

/// Removes what moves with the window from a body: every time range (a `range` whose
/// bounds carry a `format`) and a date histogram's `offset` (the window's start modulo
/// its interval).
fn drop_time_ranges(v: &mut Value) {
    if let Some(h) = v.get_mut("date_histogram").and_then(Value::as_object_mut) {
        h.remove("offset");
    }
    match v {
        Value::Array(items) => {
            items.retain(|c| {
                !c.get("range")
                    .and_then(Value::as_object)
                    .is_some_and(|r| r.values().any(|b| b.get("format").is_some()))
            });
            items.iter_mut().for_each(drop_time_ranges);
        }
        Value::Object(m) => m.values_mut().for_each(drop_time_ranges),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn time_ranges_are_left_out_of_the_key_and_other_ranges_kept() {
        let mut body = json!({ "query": { "bool": { "filter": [
            { "range": { "@timestamp": { "gte": "2026-11-27", "lte": "2026-11-28", "format": "strict_date_optional_time" } } },
            { "range": { "host.name": { "gt": "h1" } } },
            { "exists": { "field": "x" } }
        ] } } });
        drop_time_ranges(&mut body);
        assert_eq!(
            body,
            json!({ "query": { "bool": { "filter": [
                { "range": { "host.name": { "gt": "h1" } } },
                { "exists": { "field": "x" } }
            ] } } })
        );
    }

    #[test]
    fn a_date_histograms_offset_is_left_out_of_the_key() {
        let mut body = json!({ "sources": [ { "time": { "date_histogram": {
            "field": "@timestamp", "fixed_interval": "1440m", "offset": "+47572475ms" } } } ] });
        drop_time_ranges(&mut body);
        assert_eq!(
            body,
            json!({ "sources": [ { "time": { "date_histogram": {
                "field": "@timestamp", "fixed_interval": "1440m" } } } ] })
        );
    }

    #[test]
    fn a_saved_hint_is_read_back_and_unreadable_text_is_no_hint() {
        let h = Hints::parse("");
        assert!(!h.small("k", 10));
        h.record("k".into(), 7);
        let again = Hints::parse(&h.save());
        assert!(again.small("k", 10));
        assert!(!again.small("k", 6));
        assert!(!Hints::parse("{not json").small("k", 10));
        // A count not read this time keeps its hint.
        again.record("other".into(), 1);
        let third = Hints::parse(&again.save());
        assert!(third.small("k", 10) && third.small("other", 1));
    }
}
