//! Tests of the streaming [`Evaluator`] and of [`findings`], including a property test
//! against an independent, naive evaluation.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::config::{TriggerMethod, TriggerOn};

fn obs(a: &str, t: &str, n: u64) -> Observation {
    Observation {
        aggregator: vec![a.into()],
        target: vec![t.into()],
        doc_count: n,
    }
}

fn spec(method: TriggerMethod, on: TriggerOn, s: f64) -> TriggerSpec {
    TriggerSpec {
        on,
        method,
        sensitivity: s,
    }
}

#[test]
fn each_parent_has_its_own_frontier() {
    // p1 [199, 1]: mean 100; p2 [100, 1]: mean 50.5.
    // 1%: frontiers 1 and 0.505 -> nothing (1 is not < 1).
    // 10%: frontiers 100 * 0.1 = 10 and 50.5 * 0.1 = 5.050000000000001 (ee-outliers'
    // `mean * (s / 100)` in f64) -> both count-1 children.
    let o = [
        obs("p1", "a", 199),
        obs("p1", "b", 1),
        obs("p2", "a", 100),
        obs("p2", "b", 1),
    ];
    let one = spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 1.0);
    assert!(findings(CountMethod::WithinAggregator, one, None, &o).is_empty());
    let ten = spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 10.0);
    let f = findings(CountMethod::WithinAggregator, ten, None, &o);
    assert_eq!(
        f.iter()
            .map(|f| (f.aggregator_joined(), f.decision_frontier))
            .collect::<Vec<_>>(),
        vec![
            ("p1".to_string(), 10.0),
            ("p2".to_string(), 50.5 * (10.0 / 100.0))
        ]
    );
}

#[test]
fn within_emits_a_group_when_the_next_aggregator_starts() {
    // p1 [100, 100]: nothing flagged -> outcome with no findings and no observations.
    // p2 [100, 1]: mean 50.5, 10% -> 5.05: b flagged; observations kept.
    let mut ev = Evaluator::new(
        CountMethod::WithinAggregator,
        spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 10.0),
        None,
    );
    assert!(ev.push(obs("p1", "a", 100)).is_empty());
    assert!(ev.push(obs("p1", "b", 100)).is_empty());
    let done = ev.push(obs("p2", "a", 100));
    assert_eq!(done.len(), 1);
    assert!(done[0].findings.is_empty());
    assert!(done[0].observations.is_empty());
    assert!(ev.push(obs("p2", "b", 1)).is_empty());
    let last = ev.finish();
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].findings.len(), 1);
    assert_eq!(
        last[0].observations,
        vec![obs("p2", "a", 100), obs("p2", "b", 1)]
    );
}

#[test]
fn within_keeps_only_the_current_aggregator() {
    // After p2 starts, p1's observations are gone from the evaluator.
    let mut ev = Evaluator::new(
        CountMethod::WithinAggregator,
        spec(TriggerMethod::Float, TriggerOn::Low, 0.5),
        None,
    );
    for t in ["a", "b", "c"] {
        ev.push(obs("p1", t, 3));
    }
    ev.push(obs("p2", "a", 3));
    assert_eq!(ev.current, vec![obs("p2", "a", 3)]);
    assert!(ev.counts.is_empty());
}

#[test]
fn zero_count_observations_are_skipped() {
    let mut ev = Evaluator::new(
        CountMethod::WithinAggregator,
        spec(TriggerMethod::Float, TriggerOn::High, 0.5),
        None,
    );
    assert!(ev.push(obs("p1", "a", 0)).is_empty());
    assert!(ev.finish().is_empty());
}

#[test]
fn finish_without_input_gives_nothing() {
    for m in [
        CountMethod::WithinAggregator,
        CountMethod::AcrossAggregators,
    ] {
        let ev = Evaluator::new(m, spec(TriggerMethod::Float, TriggerOn::Low, 1.0), None);
        assert!(ev.finish().is_empty());
    }
}

#[test]
fn across_counts_distinct_targets_per_aggregator_in_finish() {
    // distinct targets: h1 2, h2 4, h3 3; float 3 high -> h2 only.
    let mut o = vec![obs("h1", "x", 3), obs("h1", "y", 1)];
    for t in ["a", "b", "c", "d"] {
        o.push(obs("h2", t, 1));
    }
    for t in ["a", "b", "c"] {
        o.push(obs("h3", t, 2));
    }
    let mut ev = Evaluator::new(
        CountMethod::AcrossAggregators,
        spec(TriggerMethod::Float, TriggerOn::High, 3.0),
        None,
    );
    for x in &o {
        assert!(
            ev.push(x.clone()).is_empty(),
            "across decides only at the end"
        );
    }
    // only one count per completed aggregator is kept, plus the current one's pairs.
    assert_eq!(ev.counts.len(), 2);
    let out = ev.finish();
    assert_eq!(out.len(), 1);
    let g = &out[0];
    assert_eq!(g.findings.len(), 1);
    assert_eq!(g.findings[0].aggregator_joined(), "h2");
    assert_eq!(g.findings[0].target, None);
    assert_eq!(g.findings[0].term_count, 4);
    assert!(g.observations.is_empty());
}

#[test]
fn across_counts_an_aggregator_emptied_by_whitelists_with_zero_targets() {
    // ws-1's only event was whitelisted, so no observation of it arrives any more; it
    // still counts with 0: [0, 2, 3, 3], 80% of 2 = 1.6 -> nothing (ws-1 has no event).
    // Without it: [2, 3, 3], 80% of 2.67 = 2.13 -> ws-2 flagged.
    let s = spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 80.0);
    let obs_all = [
        obs("ws-2", "a", 1),
        obs("ws-2", "b", 1),
        obs("ws-3", "a", 1),
        obs("ws-3", "b", 1),
        obs("ws-3", "c", 1),
        obs("ws-4", "a", 1),
        obs("ws-4", "b", 1),
        obs("ws-4", "c", 1),
    ];
    let run = |emptied: Vec<Vec<String>>| {
        let mut e = Evaluator::new(CountMethod::AcrossAggregators, s, None).with_emptied(emptied);
        for o in &obs_all {
            assert!(e.push(o.clone()).is_empty());
        }
        e.finish()
            .into_iter()
            .flat_map(|g| g.findings)
            .map(|f| f.aggregator_joined())
            .collect::<Vec<_>>()
    };
    assert!(run(vec![vec!["ws-1".to_string()]]).is_empty());
    assert_eq!(run(Vec::new()), vec!["ws-2"]);
    // An emptied aggregator that does have observations again counts as observed.
    assert_eq!(run(vec![vec!["ws-2".to_string()]]), vec!["ws-2"]);
}

#[test]
fn across_without_findings_keeps_no_aggregators() {
    let o = [obs("h1", "x", 3), obs("h2", "y", 1)];
    let mut ev = Evaluator::new(
        CountMethod::AcrossAggregators,
        spec(TriggerMethod::Float, TriggerOn::High, 3.0),
        None,
    );
    for x in o {
        ev.push(x);
    }
    let out = ev.finish();
    assert_eq!(out.len(), 1);
    assert!(out[0].findings.is_empty());
}

#[test]
fn contiguity_not_string_order_is_what_streaming_needs() {
    // A numeric aggregator sorted numerically: "9" before "10" (not string order).
    let o = [
        obs("9", "a", 100),
        obs("9", "b", 1),
        obs("10", "a", 100),
        obs("10", "b", 1),
    ];
    let f = findings(
        CountMethod::WithinAggregator,
        spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 10.0),
        None,
        &o,
    );
    assert_eq!(
        f.iter().map(|f| f.aggregator_joined()).collect::<Vec<_>>(),
        vec!["9", "10"]
    );
}

#[test]
#[cfg(debug_assertions)]
#[should_panic(expected = "not contiguous")]
fn reappearing_aggregator_is_caught_in_debug_builds() {
    let mut ev = Evaluator::new(
        CountMethod::WithinAggregator,
        spec(TriggerMethod::Float, TriggerOn::Low, 1.0),
        None,
    );
    ev.push(obs("p1", "a", 1));
    ev.push(obs("p2", "a", 1));
    ev.push(obs("p1", "b", 1));
}

#[test]
fn multi_field_values_are_joined_with_dash() {
    let o = Observation {
        aggregator: vec!["h1".into(), "p".into()],
        target: vec!["a".into()],
        doc_count: 1,
    };
    assert_eq!(join(&o.aggregator), "h1 - p");
}

// ---- property test: streaming == a naive batch evaluation written independently ----

/// Naive frontier, written from SPEC section 3 without the production helpers.
fn naive_frontier(spec: &TriggerSpec, v: &[f64]) -> f64 {
    let n = v.len() as f64;
    let mut sorted = v.to_vec();
    sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let median_of = |s: &[f64]| {
        let k = s.len();
        if k % 2 == 1 {
            s[k / 2]
        } else {
            (s[k / 2 - 1] + s[k / 2]) / 2.0
        }
    };
    let mut total = 0.0;
    for x in v {
        total += x;
    }
    let mean = total / n;
    let mut sq = 0.0;
    for x in v {
        sq += (x - mean) * (x - mean);
    }
    let sd = (sq / n).sqrt();
    let median = median_of(&sorted);
    let sign = if spec.on == TriggerOn::High {
        1.0
    } else {
        -1.0
    };
    let s = spec.sensitivity;
    match spec.method {
        TriggerMethod::PctOfAvgValue => mean * (s / 100.0),
        TriggerMethod::PctOfMaxValue => sorted[sorted.len() - 1] * (s / 100.0),
        TriggerMethod::PctOfMedianValue => median * (s / 100.0),
        TriggerMethod::Percentile => {
            let distinct: Vec<f64> = sorted.chunk_by(|a, b| a == b).map(|c| c[0]).collect();
            let rank = s / 100.0 * (distinct.len() - 1) as f64;
            // numpy 1.16's linear interpolation, written as it writes it.
            let lo = rank.floor() as usize;
            let hi = (lo + 1).min(distinct.len() - 1);
            let w = rank - lo as f64;
            distinct[lo] * (1.0 - w) + distinct[hi] * w
        }
        TriggerMethod::Stdev => mean + sign * s * sd,
        TriggerMethod::Mad | TriggerMethod::Madpos => {
            let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
            dev.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let f = median + sign * s * median_of(&dev);
            let f = if f == median { mean + sign * sd } else { f };
            if spec.method == TriggerMethod::Madpos && f < 0.0 {
                0.0
            } else {
                f
            }
        }
        TriggerMethod::Float => s,
        TriggerMethod::CoeffOfVariation => sd / mean,
    }
}

/// (aggregator, target or None, term_count, frontier, sample) of every finding.
type Row = (String, Option<String>, u64, f64, Vec<String>);

fn naive_flag(spec: &TriggerSpec, value: f64, frontier: f64) -> bool {
    if spec.on == TriggerOn::Low {
        value < frontier
    } else {
        value > frontier
    }
}

fn naive_cov_flag(spec: &TriggerSpec, v: &[f64]) -> bool {
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if mean == 0.0 {
        return false;
    }
    let sd = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
    naive_flag(spec, sd / mean, spec.sensitivity)
}

fn naive(
    count_method: CountMethod,
    spec: &TriggerSpec,
    min: Option<u64>,
    o: &[Observation],
) -> Vec<Row> {
    let mut groups: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    for x in o {
        *groups
            .entry(x.aggregator[0].clone())
            .or_default()
            .entry(x.target[0].clone())
            .or_default() += x.doc_count;
    }
    let cov = spec.method == TriggerMethod::CoeffOfVariation;
    let mut rows = Vec::new();
    match count_method {
        CountMethod::WithinAggregator => {
            for (agg, targets) in &groups {
                if min.is_some_and(|n| (targets.len() as u64) < n) {
                    continue;
                }
                let v: Vec<f64> = targets.values().map(|c| *c as f64).collect();
                let f = naive_frontier(spec, &v);
                let all = cov && naive_cov_flag(spec, &v);
                let flagged: BTreeSet<&String> = targets
                    .iter()
                    .filter(|(_, c)| all || (!cov && naive_flag(spec, **c as f64, f)))
                    .map(|(t, _)| t)
                    .collect();
                let mut rest: Vec<(&String, u64)> = targets
                    .iter()
                    .filter(|(t, _)| !flagged.contains(t))
                    .map(|(t, c)| (t, *c))
                    .collect();
                rest.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                let sample: Vec<String> = rest.iter().take(3).map(|(t, _)| (*t).clone()).collect();
                for t in &flagged {
                    rows.push((
                        agg.clone(),
                        Some((*t).clone()),
                        targets[*t],
                        f,
                        sample.clone(),
                    ));
                }
            }
        }
        CountMethod::AcrossAggregators => {
            let kept: Vec<(&String, u64)> = groups
                .iter()
                .map(|(a, t)| (a, t.len() as u64))
                .filter(|(_, d)| min.is_none_or(|n| *d >= n))
                .collect();
            if kept.is_empty() {
                return rows;
            }
            let v: Vec<f64> = kept.iter().map(|(_, d)| *d as f64).collect();
            let f = naive_frontier(spec, &v);
            let all = cov && naive_cov_flag(spec, &v);
            for (a, d) in kept {
                if all || (!cov && naive_flag(spec, d as f64, f)) {
                    rows.push((a.clone(), None, d, f, Vec::new()));
                }
            }
        }
    }
    rows
}

fn rows(f: &[Finding]) -> Vec<Row> {
    f.iter()
        .map(|f| {
            (
                f.aggregator_joined(),
                f.target_joined(),
                f.term_count,
                f.decision_frontier,
                f.non_outlier_values_sample.clone(),
            )
        })
        .collect()
}

fn arb_spec() -> impl Strategy<Value = TriggerSpec> {
    let on = prop_oneof![Just(TriggerOn::Low), Just(TriggerOn::High)];
    let method_and_s = prop_oneof![
        (0.0..200.0f64).prop_map(|s| (TriggerMethod::PctOfAvgValue, s)),
        (0.0..100.0f64).prop_map(|s| (TriggerMethod::PctOfMaxValue, s)),
        (0.0..200.0f64).prop_map(|s| (TriggerMethod::PctOfMedianValue, s)),
        (0.0..=100.0f64).prop_map(|s| (TriggerMethod::Percentile, s)),
        (0u32..=4).prop_map(|s| (TriggerMethod::Percentile, s as f64 * 25.0)),
        (0.0..3.0f64).prop_map(|s| (TriggerMethod::Stdev, s)),
        (0u32..4).prop_map(|s| (TriggerMethod::Mad, s as f64)),
        (0.0..3.0f64).prop_map(|s| (TriggerMethod::Madpos, s)),
        (0u32..30).prop_map(|s| (TriggerMethod::Float, s as f64 / 2.0)),
        (0.0..1.5f64).prop_map(|s| (TriggerMethod::CoeffOfVariation, s)),
    ];
    (on, method_and_s).prop_map(|(on, (method, sensitivity))| TriggerSpec {
        on,
        method,
        sensitivity,
    })
}

/// Sorted, unique (aggregator, target) pairs with counts 1..40 (composite order).
fn arb_observations() -> impl Strategy<Value = Vec<Observation>> {
    prop::collection::btree_map((0u8..5, 0u8..6), 1u64..40, 0..25).prop_map(|m| {
        m.into_iter()
            .map(|((a, t), n)| obs(&format!("agg{a}"), &format!("t{t}"), n))
            .collect()
    })
}

proptest! {
    #[test]
    fn streaming_findings_equal_a_naive_batch_evaluation(
        o in arb_observations(),
        spec in arb_spec(),
        across in any::<bool>(),
        min in prop::option::of(0u64..5),
    ) {
        let method = if across { CountMethod::AcrossAggregators } else { CountMethod::WithinAggregator };
        let got = findings(method, spec, min, &o);
        prop_assert_eq!(rows(&got), naive(method, &spec, min, &o));
    }

    #[test]
    fn whitelisting_nothing_changes_nothing(
        o in arb_observations(),
        spec in arb_spec(),
        min in prop::option::of(0u64..5),
    ) {
        // Per aggregator, reevaluate_within with an empty whitelist = evaluate_aggregator.
        let mut by_agg: BTreeMap<Vec<String>, Vec<Observation>> = BTreeMap::new();
        for x in &o {
            by_agg.entry(x.aggregator.clone()).or_default().push(x.clone());
        }
        for group in by_agg.values() {
            let r = whitelist::reevaluate_within(&spec, min, group, |_| BTreeSet::<u64>::new());
            prop_assert_eq!(r.rounds, 1);
            prop_assert_eq!(r.findings, within::evaluate_aggregator(&spec, min, group));
        }
    }
}
