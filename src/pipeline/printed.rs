//! Pipeline: the requests a use case sends, as `esoutliers plan` prints them (and as the
//! snapshots in `snapshots/` record them), built by the same functions `run` calls with
//! the same settings: window, baseline window, page size, update-by-query parameters.
//! Values that only the data can give (aggregator and target values, document ids) are
//! placeholders (`<a0>`, `<t0>`, `<document id>`); the fixed painless source is named by its
//! file, not repeated.
//!
//! Must not: do I/O (it runs without a cluster).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use time::OffsetDateTime;

use crate::config::{CountMethod, ModelSpec, UseCase};
use crate::es::AfterKey;
use crate::evaluate::{trigger, Finding};
use crate::execute::{UpdateOptions, SCAN_SIZE};
use crate::plan::partition::{LeadPlan, Partition};
use crate::plan::{self, PageRequest, Printed, TimeWindow};
use crate::tag::{self, Limits};

/// The settings of a run that shape its requests.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The end of every window (`--now`).
    pub now: OffsetDateTime,
    /// `--baseline DAYS`, for every use case.
    pub baseline_days: Option<u64>,
    /// Buckets per composite page (`run` reads the cluster's `search.max_buckets`).
    pub page_size: u32,
    pub update: UpdateOptions,
    pub limits: Limits,
}

/// The printed plan of one use case.
pub fn use_case(uc: &UseCase, s: &Settings) -> Value {
    let window = TimeWindow::ending_at(s.now, uc.history_window_hours);
    let baseline = super::baseline_hours(uc, s.baseline_days);
    let counting = super::counting_window(window, baseline);
    let mut requests = match &uc.model {
        ModelSpec::Terms => terms(uc, s, window, baseline.is_some()),
        ModelSpec::SimpleQuery(q) => simplequery(uc, s, window, q.highlight_match),
        ModelSpec::SuddenAppearance(spec) => sudden(uc, s, spec),
        ModelSpec::Metrics(m) => metrics(uc, s, window, m.metric),
    };
    if !requests.is_empty() {
        requests.splice(0..0, index_check(uc));
    }
    let (start, end) = window.bounds();
    json!({
        "use_case": uc.name,
        "model_type": uc.model.model_type(),
        "window": { "start": start, "end": end },
        "baseline_window": baseline.map(|_| json!({ "start": counting.bounds().0, "end": end })),
        "page_size": s.page_size,
        "requests": requests,
    })
}

fn search_path(uc: &UseCase) -> String {
    format!("/{}/_search", uc.index_pattern)
}

/// The index check every model starts with ([`super::indices::check_indices`]): the
/// pattern's indices and their state, then the indices the user can read and the
/// timestamp field's type.
fn index_check(uc: &UseCase) -> Vec<Printed> {
    vec![
        Printed::new(
            "indices of the pattern, open or closed (index check)",
            "GET",
            format!("/_cluster/state/metadata/{}", uc.index_pattern),
            plan::index_states_params(),
            Value::Null,
        ),
        Printed::new(
            "indices the user can read, timestamp field type (index check)",
            "GET",
            format!("/{}/_field_caps", uc.index_pattern),
            plan::field_caps_params(&plan::index_check_fields(&uc.timestamp_field)),
            Value::Null,
        ),
    ]
}

fn field_caps(uc: &UseCase, fields: &[String]) -> Printed {
    Printed::new(
        "field capabilities (mapping check)",
        "GET",
        format!("/{}/_field_caps", uc.index_pattern),
        plan::field_caps_params(fields),
        Value::Null,
    )
}

/// The tagging request `body` with the script named instead of repeated.
fn tagging(uc: &UseCase, s: &Settings, r: &tag::UpdateByQuery, what: &str) -> Vec<Printed> {
    let mut body = r.body.clone();
    body["script"]["source"] = json!("(src/tag/outliers.painless)");
    vec![
        Printed::new(
            what,
            "POST",
            format!("/{}/_update_by_query", uc.index_pattern),
            s.update.params(),
            body,
        ),
        Printed::new(
            "check after tagging: the selected events' outliers (scroll)",
            "POST",
            search_path(uc),
            plan::scan_params(),
            plan::scan_body(&r.query, SCAN_SIZE, Some(&["outliers".to_string()])),
        ),
    ]
}

/// A finding with placeholders for its values.
fn example_finding(uc: &UseCase) -> Finding {
    let ph = |p: &str, n: usize| (0..n).map(|i| format!("<{p}{i}>")).collect::<Vec<_>>();
    Finding {
        aggregator: ph("a", uc.aggregator.len()),
        target: (uc.count_method == CountMethod::WithinAggregator)
            .then(|| ph("t", uc.target.len())),
        term_count: 1,
        decision_frontier: 1.5,
        stats: trigger::stats(&[150.0, 1.0]),
        non_outlier_values_sample: vec!["<usual target>".into()],
    }
}

/// How `run` counts with `sp` when the lead field can be split: the lead request, and a
/// copy of `sp` narrowed to one partition (placeholder bounds); `None` and `sp` itself for
/// a count that cannot be split (its lead is a script).
fn partitioned<P: PageRequest + Clone>(uc: &UseCase, sp: &P) -> (Option<Printed>, P) {
    let Some(lp) = LeadPlan::of(sp) else {
        return (None, sp.clone());
    };
    let field = &lp.field;
    let lead = Printed::new(
        format!(
            "lead request: events and pairs per {field} value, to split the count into \
             partitions (when {field} is keyword or numeric)"
        ),
        "POST",
        search_path(uc),
        lp.page_params(),
        lp.page_body(None),
    );
    let bounds = Partition {
        gt: Some(json!("<previous partition's last value>")),
        lte: Some(json!("<partition's last value>")),
    };
    let mut narrowed = sp.clone();
    narrowed.set_query(bounds.narrow(sp.query(), field));
    (Some(lead), narrowed)
}

fn terms(uc: &UseCase, s: &Settings, window: TimeWindow, baseline: bool) -> Vec<Printed> {
    let counting = super::counting_window(window, super::baseline_hours(uc, s.baseline_days));
    let sp = plan::search(uc, counting, s.page_size);
    let after: AfterKey = sp
        .sources
        .iter()
        .map(|src| (src.name.clone(), json!(format!("<{}>", src.name))))
        .collect();
    let detection_query = plan::filter_query(uc, window);
    let example = example_finding(uc);
    let (lead, part) = partitioned(uc, &sp);
    let mut out = vec![field_caps(uc, &["*".to_string()])];
    out.extend(lead);
    out.extend([
        Printed::new(
            "count pairs: first composite page (of one partition; one partition has no range)",
            "POST",
            search_path(uc),
            part.page_params(),
            part.page_body(None),
        ),
        Printed::new(
            "count pairs: next composite page",
            "POST",
            search_path(uc),
            part.page_params(),
            part.page_body(Some(&after)),
        ),
    ]);
    if !uc.whitelist.is_empty() || tag::needs_event(uc) {
        let q = plan::restrict(
            &sp.query,
            &plan::pair_clauses(uc, std::slice::from_ref(&example)),
            &[],
        );
        let source =
            super::terms::candidate_source(uc, &BTreeMap::new(), &tag::event_placeholders(uc));
        out.push(Printed::new(
            "events of candidate pairs (whitelists, per-event summaries; scroll)",
            "POST",
            search_path(uc),
            plan::scan_params(),
            plan::scan_body(&q, SCAN_SIZE, source.as_deref()),
        ));
    }
    if baseline {
        out.push(Printed::new(
            "count findings in the detection window",
            "POST",
            search_path(uc),
            vec![("allow_partial_search_results", "false".into())],
            plan::findings_count_body(uc, &detection_query, std::slice::from_ref(&example)),
        ));
    }
    let requests = tag::requests(
        uc,
        &detection_query,
        &[example],
        &[],
        &BTreeMap::new(),
        s.limits,
    );
    for r in &requests {
        out.extend(tagging(uc, s, r, "tag the outlier pairs' events"));
    }
    out
}

fn simplequery(uc: &UseCase, s: &Settings, window: TimeWindow, highlight: bool) -> Vec<Printed> {
    use crate::plan::simplequery as sq;
    let entry = sq::EntryFields {
        model_name: "outliers.model_name.keyword".into(),
        model_type: "outliers.model_type.keyword".into(),
    };
    let query = sq::query(uc, window, Some(&entry));
    let mut out = vec![
        field_caps(uc, &super::simplequery::entry_field_names()),
        Printed::new(
            "count matching events",
            "POST",
            search_path(uc),
            vec![("allow_partial_search_results", "false".into())],
            sq::count_body(&query),
        ),
    ];
    if highlight || !uc.whitelist.is_empty() || !uc.assets.is_empty() {
        out.push(Printed::new(
            "matching events (whitelists, highlights, assets; scroll)",
            "POST",
            search_path(uc),
            plan::scan_params(),
            sq::events_body(uc, &query, highlight, SCAN_SIZE),
        ));
    }
    let per_event = highlight || !uc.assets.is_empty();
    let r = if per_event {
        let per = tag::simplequery::PerEvent {
            matched: highlight.then(|| {
                (
                    json!({ "<field>": ["<value>matched</value>"] }),
                    "{'<field>': ['matched']}".to_string(),
                )
            }),
            assets: uc
                .assets
                .iter()
                .map(|(_, t)| format!("{t}: <value>"))
                .collect(),
        };
        let by_id = BTreeMap::from([("<document id>".to_string(), per)]);
        tag::simplequery::requests_by_id(uc, &query, &by_id).remove(0)
    } else {
        tag::simplequery::request_all(uc, &query, &[])
    };
    out.extend(tagging(uc, s, &r, "tag the matching events"));
    out
}

fn sudden(uc: &UseCase, s: &Settings, spec: &crate::config::SuddenAppearanceSpec) -> Vec<Printed> {
    use crate::evaluate::sudden::{SuddenFinding, COMPUTED_KEYS};
    let sp = plan::sudden::search(uc, spec, s.now, s.page_size);
    let after: AfterKey = sp
        .sources
        .iter()
        .map(|src| (src.name.clone(), json!(format!("<{}>", src.name))))
        .chain([(
            plan::sudden::TIME_SOURCE.to_string(),
            json!("<time bucket>"),
        )])
        .collect();
    let window = sp.windows.window(0);
    let example = SuddenFinding {
        aggregator: (0..uc.aggregator.len())
            .map(|i| format!("<a{i}>"))
            .collect(),
        target: (0..uc.target.len()).map(|i| format!("<t{i}>")).collect(),
        window,
        first_ms: window.end_ms,
    };
    let source: Vec<String> = uc
        .outlier_summary
        .fields()
        .iter()
        .filter(|f| !COMPUTED_KEYS.contains(&f.to_lowercase().as_str()))
        .map(|f| f.to_string())
        .collect();
    let source = uc.whitelist.is_empty().then_some(&source[..]);
    let (lead, part) = partitioned(uc, &sp);
    let mut out = vec![field_caps(uc, &["*".to_string()])];
    out.extend(lead);
    out.extend([
        Printed::new(
            "count pairs per time bucket: first composite page (of one partition)",
            "POST",
            search_path(uc),
            part.page_params(),
            part.page_body(None),
        ),
        Printed::new(
            "count pairs per time bucket: next composite page",
            "POST",
            search_path(uc),
            part.page_params(),
            part.page_body(Some(&after)),
        ),
        Printed::new(
            "first events of sudden pairs (batch)",
            "POST",
            search_path(uc),
            sp.first_events_params(),
            sp.first_events_body(std::slice::from_ref(&example), source),
        ),
    ]);
    let entry = tag::sudden::entry(
        uc,
        "<summary filled from the event>",
        &example.extra_information(&uc.aggregator, &uc.target, sp.windows.window_minutes(), 1),
        &[],
    );
    let by_id = BTreeMap::from([("<document id>".to_string(), entry)]);
    for r in tag::sudden::requests(uc, &sp.query, &by_id) {
        out.extend(tagging(uc, s, &r, "tag the first events of sudden pairs"));
    }
    out
}

fn metrics(
    uc: &UseCase,
    s: &Settings,
    window: TimeWindow,
    metric: crate::config::Metric,
) -> Vec<Printed> {
    use crate::plan::metrics::{self as pm, TargetSource};
    use crate::tag::metrics as tm;
    let target = &uc.target[0];
    let filter = pm::filter(uc, window);
    let page = |sp: &plan::SearchPlan, what: &str| {
        Printed::new(
            what,
            "POST",
            search_path(uc),
            sp.page_params(),
            sp.page_body(None),
        )
    };
    let doc_values = pm::search(uc, window, s.page_size, target, TargetSource::DocValues);
    let from_source = pm::search(uc, window, s.page_size, target, TargetSource::Source);
    // The example outlier: a placeholder value whose measure is the metric of "<value>".
    let measure = crate::evaluate::metric::measure(metric, "<value>").unwrap_or(
        crate::evaluate::metric::Measure {
            value: 0.0,
            integral: true,
            observations: Vec::new(),
        },
    );
    let example = tm::PairOutlier {
        aggregator: (0..uc.aggregator.len())
            .map(|i| format!("<a{i}>"))
            .collect(),
        target: "<value>".into(),
        measure,
        doc_count: 1,
        decision_frontier: 1.5,
        confidence: 1.0,
        sample: vec!["<usual metric>".into()],
    };
    // An event holding a placeholder for every field the texts name.
    let mut event = json!({});
    for f in tag::event_placeholders(uc) {
        event[f.as_str()] = json!(format!("<{f}>"));
    }
    let entry = tm::entry(uc, &tm::model_keys(uc, &example), &event);
    let by_id = BTreeMap::from([("<document id>".to_string(), vec![entry])]);
    let mut out = vec![
        field_caps(uc, &["*".to_string()]),
        Printed::new(
            "the target's mapping (ignore_above, normalizer, type)",
            "GET",
            format!("/{}/_mapping/field/{target}", uc.index_pattern),
            Vec::new(),
            Value::Null,
        ),
        Printed::new(
            "count events whose target doc values are not their value (lists, values over ignore_above)",
            "POST",
            search_path(uc),
            vec![("allow_partial_search_results", "false".into())],
            pm::single_value_check_body(&filter, target, true),
        ),
    ];
    let (lead, doc_values) = partitioned(uc, &doc_values);
    let (_, from_source) = partitioned(uc, &from_source);
    out.extend(lead);
    out.extend([
        page(
            &doc_values,
            "count (aggregator, target value): first page (of one partition), target from doc values",
        ),
        page(
            &from_source,
            "count (aggregator, target value): first page (of one partition), target from _source (when doc values do not stand for every value)",
        ),
    ]);
    for r in tm::requests(uc, &filter, &by_id) {
        out.extend(tagging(
            uc,
            s,
            &r,
            "tag the events of outlier (aggregator, target value) pairs",
        ));
    }
    out
}
