//! Snapshot tests of the exact requests `plan` produces for every shipped use case in
//! `queries/` and every test use case in `tests/cases/`. No node needed: the window ends
//! at a fixed time. Review changes with `cargo insta review`.

use time::macros::datetime;

fn check(path: &std::path::Path) {
    let cfg = esoutliers::config::load(path).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !cfg.use_cases.is_empty(),
        "{} defines no use case",
        path.display()
    );
    // The settings `plan` uses by default: what `run` sends when the cluster's
    // search.max_buckets cannot be read, no throttle, no baseline.
    let settings = esoutliers::pipeline::printed::Settings {
        now: datetime!(2026-11-28 03:00:00 UTC),
        baseline_days: None,
        page_size: esoutliers::plan::DEFAULT_PAGE_SIZE,
        update: esoutliers::execute::UpdateOptions::default(),
        limits: esoutliers::tag::Limits::default(),
    };
    let plans: Vec<serde_json::Value> = cfg
        .use_cases
        .iter()
        .map(|uc| esoutliers::pipeline::printed::use_case(uc, &settings))
        .collect();
    let name = path.file_stem().unwrap().to_string_lossy().to_string();
    insta::with_settings!({ snapshot_path => concat!(env!("CARGO_MANIFEST_DIR"), "/snapshots"), prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_json_snapshot!(format!("plan-{name}"), plans);
    });
}

#[test]
fn shipped_queries_produce_the_reviewed_requests() {
    insta::glob!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/queries"),
        "*.conf",
        check
    );
}

#[test]
fn test_cases_produce_the_reviewed_requests() {
    insta::glob!(
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cases"),
        "*.conf",
        check
    );
}
