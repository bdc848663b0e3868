//! Stage `evaluate` (PURE): `target_count_method = within_aggregator` for ONE aggregator
//! value (SPEC section 4).
//!
//! Must not: look at other aggregators (each aggregator has its own frontier), keep state
//! between calls, or depend on the order of its input.
//!
//! Invariants:
//! - `values` = the event count of each distinct target of the aggregator; each pair is
//!   judged by its own count;
//! - observations with `doc_count = 0` are no events and are ignored; a target given twice
//!   has its counts added (composite buckets never do that; merging keeps the result
//!   independent of how the input was cut);
//! - findings come sorted by target (`Vec<String>` order); `non_outlier_values_sample` is
//!   deterministic.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use crate::config::{TriggerMethod, TriggerSpec};
use crate::evaluate::{join, trigger, Finding, Observation};

/// How many non-outlier targets `non_outlier_values_sample` holds at most (ee-outliers
/// samples 3).
pub const SAMPLE_SIZE: usize = 3;

/// Evaluates one aggregator's observations (all with the same `aggregator`).
///
/// - `min_target_buckets = Some(n)`: an aggregator with fewer than n distinct targets
///   gives nothing (it is not evaluated at all).
/// - Every other method: a pair is a finding when `is_outlier(on, doc_count, frontier)`;
///   `decision_frontier` = that frontier, `term_count` = the pair's count.
/// - `coeff_of_variation`: when the aggregator's ratio pstdev / mean is an outlier against
///   s, EVERY pair of the aggregator is a finding, `term_count` = its own count,
///   `decision_frontier` = the ratio; otherwise none is.
/// - `stats` = statistics of the aggregator's counts; `non_outlier_values_sample` = up to
///   [`SAMPLE_SIZE`] non-outlier targets (joined with ` - `), most frequent first, ties by
///   the joined string ascending.
///
/// Returns findings sorted by target; empty when nothing is flagged or the group is empty.
pub fn evaluate_aggregator(
    spec: &TriggerSpec,
    min_target_buckets: Option<u64>,
    group: &[Observation],
) -> Vec<Finding> {
    debug_assert!(
        group.windows(2).all(|w| w[0].aggregator == w[1].aggregator),
        "evaluate_aggregator takes the observations of one aggregator value"
    );
    let Some(aggregator) = group.first().map(|o| &o.aggregator) else {
        return Vec::new();
    };
    // target -> count, in target order: the values' order and the findings' order.
    let mut counts: BTreeMap<&Vec<String>, u64> = BTreeMap::new();
    for o in group.iter().filter(|o| o.doc_count > 0) {
        *counts.entry(&o.target).or_insert(0) += o.doc_count;
    }
    if min_target_buckets.is_some_and(|n| (counts.len() as u64) < n) {
        return Vec::new();
    }
    let values: Vec<f64> = counts.values().map(|c| *c as f64).collect();
    let Some(frontier) = trigger::frontier(spec, &values) else {
        return Vec::new();
    };
    let flagged: Vec<bool> = if spec.method == TriggerMethod::CoeffOfVariation {
        vec![trigger::coeff_of_variation_is_outlier(spec, &values); values.len()]
    } else {
        values
            .iter()
            .map(|v| trigger::is_outlier(spec.on, *v, frontier))
            .collect()
    };
    if !flagged.contains(&true) {
        return Vec::new();
    }
    let stats = trigger::stats(&values);
    let sample = sample(
        counts
            .iter()
            .zip(&flagged)
            .filter(|(_, f)| !**f)
            .map(|((t, c), _)| (join(t), *c)),
    );
    counts
        .iter()
        .zip(&flagged)
        .filter(|(_, f)| **f)
        .map(|((target, count), _)| Finding {
            aggregator: aggregator.clone(),
            target: Some((*target).clone()),
            term_count: *count,
            decision_frontier: frontier,
            stats,
            non_outlier_values_sample: sample.clone(),
        })
        .collect()
}

/// Up to [`SAMPLE_SIZE`] of `(joined target, count)`: most frequent first, ties by the
/// joined string ascending. (ee-outliers takes a random sample; this is the deterministic
/// replacement SPEC section 6 asks for.)
fn sample(non_outliers: impl Iterator<Item = (String, u64)>) -> Vec<String> {
    let mut all: Vec<(String, u64)> = non_outliers.collect();
    all.sort_by(|a, b| (Reverse(a.1), &a.0).cmp(&(Reverse(b.1), &b.0)));
    all.into_iter().take(SAMPLE_SIZE).map(|(t, _)| t).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TriggerOn;

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

    const LOW_1PCT_AVG: TriggerSpec = TriggerSpec {
        on: TriggerOn::Low,
        method: TriggerMethod::PctOfAvgValue,
        sensitivity: 1.0,
    };

    #[test]
    fn rare_child_process_is_flagged_with_its_explanation() {
        // SPEC section 1: adobe.exe's children [a 399, b 200, cmd 1] average 600 / 3 = 200;
        // frontier 200 * 1% = 2; cmd.exe (1) < 2.
        let group = [
            obs("adobe.exe", "a.exe", 399),
            obs("adobe.exe", "b.exe", 200),
            obs("adobe.exe", "cmd.exe", 1),
        ];
        let f = evaluate_aggregator(&LOW_1PCT_AVG, None, &group);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].aggregator, vec!["adobe.exe".to_string()]);
        assert_eq!(f[0].target_joined().as_deref(), Some("cmd.exe"));
        assert_eq!(f[0].term_count, 1);
        assert_eq!(f[0].decision_frontier, 2.0);
        assert_eq!(f[0].stats.n, 3);
        assert_eq!(f[0].stats.mean, 200.0);
        assert_eq!(f[0].non_outlier_values_sample, vec!["a.exe", "b.exe"]);
    }

    #[test]
    fn child_at_exact_frontier_is_not_flagged() {
        // [398, 2]: mean 200, frontier 2; 2 is not < 2.
        let group = [obs("p", "a", 398), obs("p", "b", 2)];
        assert!(evaluate_aggregator(&LOW_1PCT_AVG, None, &group).is_empty());
    }

    #[test]
    fn several_outliers_come_sorted_by_target() {
        // [z 1, m 1, big 998]: mean 1000 / 3 = 333.33; 1% = 3.33; z and m flagged.
        let group = [obs("p", "z", 1), obs("p", "big", 998), obs("p", "m", 1)];
        let f = evaluate_aggregator(&LOW_1PCT_AVG, None, &group);
        let targets: Vec<String> = f.iter().filter_map(|f| f.target_joined()).collect();
        assert_eq!(targets, vec!["m", "z"]);
        // both share the same frontier, stats and sample.
        assert_eq!(f[0].decision_frontier, f[1].decision_frontier);
        assert_eq!(f[0].non_outlier_values_sample, vec!["big"]);
    }

    #[test]
    fn min_target_buckets_skips_aggregators_with_too_few_targets() {
        // [a 100, b 1]: mean 50.5, 10% = 5.05; b flagged with 2 targets.
        let group = [obs("p", "a", 100), obs("p", "b", 1)];
        let s = spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 10.0);
        assert_eq!(evaluate_aggregator(&s, None, &group).len(), 1);
        assert_eq!(evaluate_aggregator(&s, Some(2), &group).len(), 1);
        assert!(evaluate_aggregator(&s, Some(3), &group).is_empty());
    }

    #[test]
    fn min_target_buckets_counts_distinct_targets_with_events() {
        // a zero-count observation is no target: 2 distinct targets, not 3.
        let group = [obs("p", "a", 100), obs("p", "b", 1), obs("p", "c", 0)];
        let s = spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 10.0);
        assert!(evaluate_aggregator(&s, Some(3), &group).is_empty());
    }

    #[test]
    fn coeff_of_variation_flags_every_pair_of_the_aggregator() {
        // counts [2, 4, 4, 4, 5, 5, 7, 9]: pstdev 2 / mean 5 = 0.4 < 0.5 -> all 8 pairs,
        // each with its own count and decision_frontier = the ratio 0.4 (ee-outliers).
        let group: Vec<Observation> = [2, 4, 4, 4, 5, 5, 7, 9]
            .iter()
            .enumerate()
            .map(|(i, n)| obs("p", &format!("t{i}"), *n))
            .collect();
        let low = spec(TriggerMethod::CoeffOfVariation, TriggerOn::Low, 0.5);
        let f = evaluate_aggregator(&low, None, &group);
        assert_eq!(f.len(), 8);
        assert!(f.iter().all(|x| (x.decision_frontier - 0.4).abs() < 1e-12));
        assert_eq!(
            f.iter().map(|x| x.term_count).collect::<Vec<_>>(),
            vec![2, 4, 4, 4, 5, 5, 7, 9]
        );
        assert!(f.iter().all(|x| x.non_outlier_values_sample.is_empty()));
        // high 0.5: 0.4 is not above it -> nothing.
        let high = spec(TriggerMethod::CoeffOfVariation, TriggerOn::High, 0.5);
        assert!(evaluate_aggregator(&high, None, &group).is_empty());
    }

    #[test]
    fn sample_is_most_frequent_first_ties_by_value_at_most_three() {
        // flagged: x (1) under max 10% = 40 * 10% = 4. Non-outliers: d 40, b 20, c 20, a 20, e 5.
        // by count desc then name: d, a, b (c and e left out).
        let group = [
            obs("p", "e", 5),
            obs("p", "c", 20),
            obs("p", "a", 20),
            obs("p", "d", 40),
            obs("p", "b", 20),
            obs("p", "x", 1),
        ];
        let s = spec(TriggerMethod::PctOfMaxValue, TriggerOn::Low, 10.0);
        let f = evaluate_aggregator(&s, None, &group);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].non_outlier_values_sample, vec!["d", "a", "b"]);
    }

    #[test]
    fn multi_field_targets_are_joined_in_the_sample() {
        let o = |t: [&str; 2], n| Observation {
            aggregator: vec!["host".into()],
            target: t.iter().map(|s| s.to_string()).collect(),
            doc_count: n,
        };
        let group = [o(["alice", "cmd.exe"], 500), o(["bob", "x.exe"], 1)];
        let f = evaluate_aggregator(&LOW_1PCT_AVG, None, &group);
        // mean 250.5, 1% = 2.505: bob - x.exe flagged.
        assert_eq!(f[0].target_joined().as_deref(), Some("bob - x.exe"));
        assert_eq!(f[0].non_outlier_values_sample, vec!["alice - cmd.exe"]);
    }

    #[test]
    fn result_does_not_depend_on_input_order() {
        let a = [obs("p", "a", 50), obs("p", "b", 1), obs("p", "c", 70)];
        let b = [obs("p", "c", 70), obs("p", "a", 50), obs("p", "b", 1)];
        let s = spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 10.0);
        assert_eq!(
            evaluate_aggregator(&s, None, &a),
            evaluate_aggregator(&s, None, &b)
        );
    }

    #[test]
    fn repeated_target_counts_are_added() {
        // b given as 1 + 1 = 2: [a 398, b 2] -> frontier 2, b not flagged (2 < 2 false).
        let group = [obs("p", "a", 398), obs("p", "b", 1), obs("p", "b", 1)];
        assert!(evaluate_aggregator(&LOW_1PCT_AVG, None, &group).is_empty());
    }

    #[test]
    fn empty_group_and_all_zero_counts_give_nothing() {
        assert!(evaluate_aggregator(&LOW_1PCT_AVG, None, &[]).is_empty());
        let s = spec(TriggerMethod::Float, TriggerOn::Low, 5.0);
        assert!(evaluate_aggregator(&s, None, &[obs("p", "a", 0)]).is_empty());
    }

    #[test]
    fn high_flags_pairs_strictly_above_the_frontier() {
        // float 10 high: 11 flagged, 10 not.
        let group = [obs("p", "a", 10), obs("p", "b", 11), obs("p", "c", 3)];
        let s = spec(TriggerMethod::Float, TriggerOn::High, 10.0);
        let f = evaluate_aggregator(&s, None, &group);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].target_joined().as_deref(), Some("b"));
        assert_eq!(f[0].non_outlier_values_sample, vec!["a", "c"]);
    }
}
