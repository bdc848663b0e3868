//! Stage `plan` (PURE): the small read-only requests of the morning review, sent after
//! a use case was tagged: one tagged event per notified summary, and the histogram over
//! time of the use case's tagged events for the HTML report.
//!
//! Both select the events by what tagging wrote on them (`outliers.model_name` and
//! `outliers.model_type`, and `outliers.summary` for one outlier), inside the detection
//! window. `match_phrase` works on ee-outliers' dynamic mapping (text with a `keyword`
//! sub-field) and on a keyword mapping alike.
//! <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/query-dsl-match-query-phrase.html>

use serde_json::{json, Value};

use super::TimeWindow;
use crate::config::UseCase;

/// The use case's tagged events in `window`.
pub fn tagged_query(uc: &UseCase, window: TimeWindow) -> Value {
    let (gte, lt) = window.bounds();
    json!({ "bool": { "filter": [
        { "range": { uc.timestamp_field.as_str(): { "gte": gte, "lt": lt, "format": "strict_date_optional_time" } } },
        { "match_phrase": { "outliers.model_name": uc.model_name } },
        { "match_phrase": { "outliers.model_type": uc.model.model_type() } },
    ] } })
}

/// One tagged event of the outlier whose summary is `summary` (newest first).
pub fn event_of(uc: &UseCase, window: TimeWindow, summary: &str) -> Value {
    let mut q = tagged_query(uc, window);
    q["bool"]["filter"]
        .as_array_mut()
        .expect("tagged_query builds a filter list")
        .push(json!({ "match_phrase": { "outliers.summary": summary } }));
    json!({ "size": 1, "query": q, "sort": [{ uc.timestamp_field.as_str(): "desc" }] })
}

/// The fixed interval of the histogram of a window of `hours`: the shortest of 1 minute,
/// 5, 15, 30 minutes, 1, 3, 6, 12 hours, 1 day, 7 days that gives at most 60 buckets
/// (7 days beyond; a window of 0 hours gets 1 minute).
pub fn histogram_interval(hours: u64) -> (&'static str, u64) {
    const STEPS: [(&str, u64); 10] = [
        ("1m", 1),
        ("5m", 5),
        ("15m", 15),
        ("30m", 30),
        ("1h", 60),
        ("3h", 180),
        ("6h", 360),
        ("12h", 720),
        ("1d", 1440),
        ("7d", 10080),
    ];
    let minutes = hours.saturating_mul(60);
    STEPS
        .iter()
        .copied()
        .find(|(_, m)| minutes.div_ceil(*m) <= 60)
        .unwrap_or(STEPS[STEPS.len() - 1])
}

/// The histogram of the use case's tagged events over `window`: a `date_histogram` with
/// every bucket of the window present (`min_doc_count` 0, `extended_bounds`), no hits.
/// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-aggregations-bucket-datehistogram-aggregation.html>
pub fn histogram(uc: &UseCase, window: TimeWindow) -> Value {
    let hours = ((window.end - window.start).whole_minutes().max(0) as u64).div_ceil(60);
    let (interval, _) = histogram_interval(hours);
    let (gte, lt) = window.bounds();
    json!({
        "size": 0,
        "track_total_hits": true,
        "query": tagged_query(uc, window),
        "aggs": { "over_time": { "date_histogram": {
            "field": uc.timestamp_field,
            "fixed_interval": interval,
            "min_doc_count": 0,
            "extended_bounds": { "min": gte, "max": lt },
            "format": "strict_date_optional_time"
        } } }
    })
}

/// The buckets of a [`histogram`] answer as (start as RFC 3339, events); empty when the
/// answer has none.
pub fn histogram_buckets(resp: &Value) -> Vec<(String, u64)> {
    resp["aggregations"]["over_time"]["buckets"]
        .as_array()
        .map(|bs| {
            bs.iter()
                .map(|b| {
                    (
                        b["key_as_string"].as_str().unwrap_or_default().to_string(),
                        b["doc_count"].as_u64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_is_the_shortest_step_with_at_most_60_buckets() {
        assert_eq!(histogram_interval(0), ("1m", 1));
        assert_eq!(histogram_interval(1), ("1m", 1)); // 60 buckets
        assert_eq!(histogram_interval(2), ("5m", 5)); // 24
        assert_eq!(histogram_interval(24), ("30m", 30)); // 48
        assert_eq!(histogram_interval(24 * 7), ("3h", 180)); // 56
        assert_eq!(histogram_interval(24 * 30), ("12h", 720)); // 60
        assert_eq!(histogram_interval(24 * 31), ("1d", 1440)); // 31
        assert_eq!(histogram_interval(24 * 3650), ("7d", 10080)); // more than 60: the last
    }

    #[test]
    fn histogram_buckets_read_key_and_count_and_tolerate_no_aggregation() {
        let resp = json!({"aggregations": {"over_time": {"buckets": [
            {"key_as_string": "2026-11-28T00:00:00.000Z", "key": 1, "doc_count": 3},
            {"key_as_string": "2026-11-28T00:30:00.000Z", "key": 2, "doc_count": 0}
        ]}}});
        assert_eq!(
            histogram_buckets(&resp),
            vec![
                ("2026-11-28T00:00:00.000Z".to_string(), 3),
                ("2026-11-28T00:30:00.000Z".to_string(), 0)
            ]
        );
        assert!(histogram_buckets(&json!({})).is_empty());
    }
}
