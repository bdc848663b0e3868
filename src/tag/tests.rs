//! Property tests of the chunking in [`super::requests`]: for random findings, field
//! counts and cluster limits, the tagging requests split the findings into disjoint
//! chunks that together select exactly the findings' events, and every request stays
//! within the clause and terms limits it was given.
//!
//! Queries are checked by evaluating them on one synthetic event per finding with a small
//! matcher written here (bool filter/should/must_not, term, terms), not by reading the
//! chunking code's own bookkeeping.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use proptest::prelude::*;
use serde_json::Value;
use time::macros::datetime;

use super::{requests, Limits, UpdateByQuery};
use crate::config::{self, UseCase};
use crate::evaluate::{join, Finding, Stats};
use crate::plan::{self, TimeWindow};

/// A terms use case with `aggs` aggregator and `targets` target fields.
fn use_case(aggs: usize, targets: usize, across: bool) -> UseCase {
    let agg: Vec<String> = (0..aggs).map(|i| format!("a{i}")).collect();
    let tgt: Vec<String> = (0..targets).map(|i| format!("t{i}")).collect();
    let text = format!(
        "[general]\nes_index_pattern=logs\nhistory_window_days=1\n\n\
         [terms_chunks]\naggregator={}\ntarget={}\ntarget_count_method={}\n\
         trigger_on=low\ntrigger_method=float\ntrigger_sensitivity=3\n\
         outlier_type=t\noutlier_reason=r\noutlier_summary=rare {{{}}}\n",
        agg.join(","),
        tgt.join(","),
        if across {
            "across_aggregators"
        } else {
            "within_aggregator"
        },
        tgt[0],
    );
    let cfg = config::parse(Path::new("chunks.conf"), &text).unwrap_or_else(|e| panic!("{e}"));
    cfg.use_cases.into_iter().next().expect("one use case")
}

/// Findings sorted by aggregator (as `evaluate` returns them): one per distinct
/// (aggregator, target) pair, or one per aggregator when `across`.
fn findings(pairs: &[(Vec<String>, Vec<String>)], across: bool) -> Vec<Finding> {
    let mut by_agg: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (a, t) in pairs {
        by_agg.entry(a.clone()).or_default().insert(t.clone());
    }
    let finding = |aggregator: &Vec<String>, target: Option<Vec<String>>| Finding {
        aggregator: aggregator.clone(),
        target,
        term_count: 1,
        decision_frontier: 3.0,
        stats: Stats {
            n: 1,
            mean: 1.0,
            median: 1.0,
            max: 1.0,
            stdev: 0.0,
            coeff_of_variation: Some(0.0),
        },
        non_outlier_values_sample: Vec::new(),
    };
    by_agg
        .iter()
        .flat_map(|(a, ts)| {
            if across {
                vec![finding(a, None)]
            } else {
                ts.iter().map(|t| finding(a, Some(t.clone()))).collect()
            }
        })
        .collect()
}

/// Leaf queries (term, terms, range, exists, ids, ...) in a query: what the cluster's
/// clause limit counts (Lucene 9 counts every clause of the tree; on Lucene 8 the limit
/// is per bool, which a bound on all of them also keeps).
fn leaf_clauses(q: &Value) -> usize {
    match q.get("bool") {
        Some(b) => ["filter", "must", "should", "must_not"]
            .iter()
            .filter_map(|k| b.get(*k).and_then(Value::as_array))
            .flatten()
            .map(leaf_clauses)
            .sum(),
        None => 1,
    }
}

/// The largest value list of any `terms` query in `q`.
fn largest_terms(q: &Value) -> usize {
    match q {
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| match (k.as_str(), v) {
                ("terms", Value::Object(t)) => t
                    .values()
                    .filter_map(Value::as_array)
                    .map(Vec::len)
                    .max()
                    .unwrap_or(0),
                _ => largest_terms(v),
            })
            .max()
            .unwrap_or(0),
        Value::Array(a) => a.iter().map(largest_terms).max().unwrap_or(0),
        _ => 0,
    }
}

/// Whether the event (field -> value) matches `q`; only the query kinds tagging uses.
fn matches(q: &Value, event: &BTreeMap<String, String>) -> bool {
    let field_value = |m: &Value| -> (String, Value) {
        let (f, v) = m.as_object().unwrap().iter().next().unwrap();
        (f.clone(), v.clone())
    };
    if let Some(b) = q.get("bool") {
        let all = |k: &str| {
            b.get(k)
                .and_then(Value::as_array)
                .map(|v| v.iter().filter(|c| matches(c, event)).count())
        };
        let len = |k: &str| b.get(k).and_then(Value::as_array).map_or(0, Vec::len);
        all("filter").unwrap_or(0) == len("filter")
            && all("must").unwrap_or(0) == len("must")
            && all("must_not").unwrap_or(0) == 0
            && (len("should") == 0 || all("should").unwrap_or(0) >= 1)
    } else if let Some(t) = q.get("term") {
        let (f, v) = field_value(t);
        event.get(&f).map(String::as_str) == v.as_str()
    } else if let Some(t) = q.get("terms") {
        let (f, v) = field_value(t);
        let e = event.get(&f);
        v.as_array()
            .unwrap()
            .iter()
            .any(|x| e.map(String::as_str) == x.as_str())
    } else {
        panic!("query kind the matcher does not know: {q}")
    }
}

/// The part of a tagging request that selects the findings' events (the use case's own
/// filter is the other part).
fn pair_part(r: &UpdateByQuery) -> &Value {
    &r.body["query"]["bool"]["filter"][1]
}

fn event(
    uc: &UseCase,
    aggregator: &[String],
    target: Option<&[String]>,
) -> BTreeMap<String, String> {
    let mut e: BTreeMap<String, String> = uc
        .aggregator
        .iter()
        .cloned()
        .zip(aggregator.iter().cloned())
        .collect();
    for (i, f) in uc.target.iter().enumerate() {
        let v = target.map_or_else(|| format!("any{i}"), |t| t[i].clone());
        e.insert(f.clone(), v);
    }
    e
}

fn pairs_strategy() -> impl Strategy<Value = Vec<(Vec<String>, Vec<String>)>> {
    // Few aggregator values, many targets: groups of every size, some larger than a
    // request's budget.
    prop::collection::vec((0u8..12, 0u8..2, 0u8..90, 0u8..3), 1..400).prop_map(|v| {
        v.into_iter()
            .map(|(a0, a1, t0, t1)| {
                (
                    vec![format!("p{a0}.exe"), format!("u{a1}")],
                    vec![format!("c{t0}.exe"), format!("h{t1}")],
                )
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn tagging_chunks_are_disjoint_cover_every_finding_and_stay_within_the_limits(
        aggs in 1usize..=2,
        targets in 1usize..=2,
        across in any::<bool>(),
        max_clauses in 32usize..300,
        max_terms in 1usize..60,
        with_whitelist in any::<bool>(),
        pairs in pairs_strategy(),
    ) {
        let uc = use_case(aggs, targets, across);
        let pairs: Vec<_> = pairs
            .into_iter()
            .map(|(mut a, mut t)| { a.truncate(aggs); t.truncate(targets); (a, t) })
            .collect();
        let findings = findings(&pairs, across);
        let window = TimeWindow::ending_at(datetime!(2026-11-28 03:00:00 UTC), 24);
        let query = plan::filter_query(&uc, window);
        let whitelisted: Vec<String> = if with_whitelist { vec!["w1".into(), "w2".into()] } else { Vec::new() };
        let limits = Limits { max_clauses, max_terms };
        let reqs = requests(&uc, &query, &findings, &whitelisted, &BTreeMap::new(), limits);

        prop_assert_eq!(reqs.iter().map(|r| r.pairs).sum::<usize>(), findings.len());
        for r in &reqs {
            prop_assert!(r.pairs > 0, "no empty request");
            let pair_clauses = leaf_clauses(pair_part(r));
            prop_assert!(
                pair_clauses <= max_clauses * 3 / 4,
                "{} pair clauses for a limit of {} ({} pairs)", pair_clauses, max_clauses, r.pairs
            );
            prop_assert!(leaf_clauses(&r.body["query"]) <= max_clauses);
            prop_assert!(largest_terms(&r.body["query"]) <= max_terms);
        }
        // Each finding's event is selected by exactly one request, and that request
        // carries the finding's entry.
        for f in &findings {
            let ev = event(&uc, &f.aggregator, f.target.as_deref());
            let hits: Vec<&UpdateByQuery> = reqs.iter().filter(|r| matches(pair_part(r), &ev)).collect();
            prop_assert_eq!(hits.len(), 1, "finding {:?} {:?}", f.aggregator, f.target);
            let key = f.target.as_deref().map(join).unwrap_or_default();
            prop_assert!(
                hits[0].body["script"]["params"]["entries"][f.aggregator_joined()].get(&key).is_some(),
                "the request selecting {:?} carries its entry", f.aggregator
            );
        }
        // An event of a flagged aggregator with a target no finding names is selected by
        // no request (within_aggregator), or by exactly one (across_aggregators: every
        // event of the aggregator is an outlier).
        for f in &findings {
            let other: Vec<String> = (0..targets).map(|i| format!("none{i}")).collect();
            let ev = event(&uc, &f.aggregator, Some(&other));
            let hits = reqs.iter().filter(|r| matches(pair_part(r), &ev)).count();
            prop_assert_eq!(hits, usize::from(across));
        }
    }
}
