//! Test-only constructors of report values, shared by the report's unit tests.

use super::*;

/// A terms use case that succeeded with no outliers.
pub(crate) fn use_case(name: &str) -> UseCaseReport {
    UseCaseReport {
        name: name.into(),
        model_type: "terms".into(),
        status: Status::Ok,
        error: None,
        index: "logs-*".into(),
        window_start: "2026-11-28T03:00:00.000Z".into(),
        window_end: "2026-11-29T03:00:00.000Z".into(),
        baseline_start: None,
        aggregator: vec!["process.parent.name".into()],
        target: vec!["process.name".into()],
        trigger: "low pct_of_avg_value 1".into(),
        events_in_window: Some(100),
        pages: 1,
        buckets_read: 3,
        requests: 2,
        retries: 0,
        bytes_received: 100,
        es_took_ms: 1,
        partitions: 0,
        lead_requests: 0,
        events_visited: 0,
        count_passes: None,
        count_shared_with: None,
        detection_ms: 1,
        tagging_ms: 1,
        whitelisted_events: 0,
        outliers: Vec::new(),
        tagging: None,
        charts: Vec::new(),
        sudden: None,
        over_time: None,
        skipped_indices: Vec::new(),
    }
}

/// An outlier pair with `summary`.
pub(crate) fn outlier(summary: &str) -> OutlierReport {
    OutlierReport {
        aggregator: "winword.exe".into(),
        target: Some(summary.into()),
        term_count: 1,
        average: 100.0,
        decision_frontier: 1.0,
        values: 2,
        non_outlier_values_sample: Vec::new(),
        summary: summary.into(),
    }
}

/// A run of `use_cases`.
pub(crate) fn summary(use_cases: Vec<UseCaseReport>) -> RunSummary {
    RunSummary {
        schema_version: JSON_SCHEMA_VERSION,
        esoutliers_version: "0.1.0".into(),
        config: "q.conf".into(),
        cluster_url: "http://127.0.0.1:9200".into(),
        cluster_product: Some("Elasticsearch 7.10.2".into()),
        dry_run: false,
        use_cases,
        notifications: None,
        history: None,
    }
}
