//! `app`: the `plan` command: the requests of every selected use case, printed, no network.

use std::collections::BTreeMap;

use serde_json::Value;
use time::OffsetDateTime;

use super::select::{load_all, parse_now, select_all};
use super::ExitStatus;
use crate::cli::PlanArgs;
use crate::config::{self, UseCase};
use crate::es::AfterKey;
use crate::evaluate::{self, Finding};
use crate::plan::{self, TimeWindow, DEFAULT_PAGE_SIZE};
use crate::tag::{self, Limits};

/// `plan`: prints the requests of every selected use case as JSON; no network.
pub(crate) fn plan_cmd(args: &PlanArgs) -> ExitStatus {
    let cfgs = match load_all(&args.config) {
        Ok(c) => c,
        Err(s) => return s,
    };
    let selected = match select_all(&cfgs, &args.selection) {
        Ok(u) => u,
        Err(s) => return s,
    };
    let now = match parse_now(args.now.as_deref()) {
        Ok(n) => n,
        Err(s) => return s,
    };
    let out = serde_json::json!(selected
        .iter()
        .flat_map(|(_, ucs)| ucs.iter().map(|uc| plan_json(uc, now)))
        .collect::<Vec<_>>());
    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    ExitStatus::Success
}

/// The requests of one use case as `plan` prints them (and as snapshots record them).
pub fn plan_json(uc: &UseCase, now: OffsetDateTime) -> Value {
    let window = TimeWindow::ending_at(now, uc.history_window_hours);
    let p = plan::search(uc, window, DEFAULT_PAGE_SIZE);
    let params: BTreeMap<&str, String> = p.page_params().into_iter().collect();
    let after: AfterKey = p
        .sources
        .iter()
        .map(|s| (s.name.clone(), Value::String(format!("<{}>", s.name))))
        .collect();
    // The tagging request for one hypothetical outlier, placeholders for the values;
    // the fixed script source is named, not repeated.
    let example = Finding {
        aggregator: uc
            .aggregator
            .iter()
            .enumerate()
            .map(|(i, _)| format!("<a{i}>"))
            .collect(),
        target: (uc.count_method == config::CountMethod::WithinAggregator).then(|| {
            uc.target
                .iter()
                .enumerate()
                .map(|(i, _)| format!("<t{i}>"))
                .collect()
        }),
        term_count: 1,
        decision_frontier: 1.5,
        stats: evaluate::trigger::stats(&[150.0, 1.0]),
        non_outlier_values_sample: vec!["<usual target>".into()],
    };
    let mut tag_example = tag::requests(
        uc,
        &p.query,
        &[example],
        &[],
        &BTreeMap::new(),
        Limits::default(),
    )
    .pop()
    .map(|r| r.body)
    .unwrap_or_default();
    tag_example["script"]["source"] = Value::String("(src/tag/outliers.painless)".into());
    serde_json::json!({
        "use_case": uc.name,
        "count": {
            "method": "POST",
            "path": format!("/{}/_search", p.index),
            "params": params,
            "first_page": p.page_body(None),
            "next_page": p.page_body(Some(&after)),
        },
        "tag": {
            "method": "POST",
            "path": format!("/{}/_update_by_query", p.index),
            "params": { "wait_for_completion": "false", "conflicts": "proceed", "slices": "auto", "refresh": "true" },
            "example_body": tag_example,
        }
    })
}
