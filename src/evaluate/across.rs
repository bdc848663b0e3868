//! Stage `evaluate` (PURE): `target_count_method = across_aggregators` (SPEC section 4).
//!
//! Must not: keep observations. Across needs only one [`AggregatorCount`] per aggregator
//! value, so memory grows with the number of aggregators, never with pairs or events.
//!
//! Invariants:
//! - `values` = for each aggregator, its number of distinct targets with events; ONE
//!   frontier over all aggregators;
//! - `min_target_buckets = Some(n)`: aggregators with fewer than n distinct targets are
//!   left out of the values list (and so never flagged). ee-outliers ignores the key here
//!   (it warns that it only applies to within_aggregator); esoutliers gives it this
//!   meaning so that tiny aggregators do not drag the frontier;
//! - an outlier aggregator is one finding with `target = None` (every event of it is
//!   flagged), `term_count` = its distinct-target count, and an EMPTY
//!   `non_outlier_values_sample` (a sample of other aggregators' targets, as ee-outliers
//!   writes, says little and would cost memory);
//! - findings come sorted by aggregator.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::{TriggerMethod, TriggerSpec};
use crate::evaluate::{trigger, Finding, Observation};

/// One aggregator value's summary: all across_aggregators needs.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct AggregatorCount {
    pub aggregator: Vec<String>,
    /// Number of distinct targets with at least one event.
    pub distinct_targets: u64,
    /// Number of events (sum of the pairs' `doc_count`), the events an outlier
    /// aggregator's tagging touches.
    pub doc_count: u64,
}

impl AggregatorCount {
    /// An aggregator all of whose events are whitelisted: 0 distinct targets, 0 events.
    pub fn emptied(aggregator: Vec<String>) -> AggregatorCount {
        AggregatorCount {
            aggregator,
            distinct_targets: 0,
            doc_count: 0,
        }
    }

    /// Summarises ONE aggregator's observations; `None` when none has an event.
    /// Zero-count observations are ignored; a target given twice counts once.
    pub fn of_group(group: &[Observation]) -> Option<AggregatorCount> {
        let aggregator = group.first()?.aggregator.clone();
        let with_events = group.iter().filter(|o| o.doc_count > 0);
        let targets: BTreeSet<&Vec<String>> = with_events.clone().map(|o| &o.target).collect();
        if targets.is_empty() {
            return None;
        }
        Some(AggregatorCount {
            aggregator,
            distinct_targets: targets.len() as u64,
            doc_count: with_events.map(|o| o.doc_count).sum(),
        })
    }
}

/// Evaluates all aggregators at once (one frontier).
///
/// - values = `distinct_targets` of every aggregator kept by `min_target_buckets`,
///   including aggregators emptied by whitelists ([`AggregatorCount::emptied`], 0): they
///   move the frontier, as in ee-outliers, but are never findings (no event);
/// - every method but `coeff_of_variation`: an aggregator is a finding when
///   `is_outlier(on, distinct_targets, frontier)`;
/// - `coeff_of_variation`: when the ratio pstdev / mean over the values is an outlier
///   against s, EVERY kept aggregator is a finding (`decision_frontier` = the ratio); otherwise
///   none is.
///
/// Returns findings sorted by aggregator.
pub fn evaluate_aggregators(
    spec: &TriggerSpec,
    min_target_buckets: Option<u64>,
    counts: &[AggregatorCount],
) -> Vec<Finding> {
    // An aggregator whose events were all whitelisted stays in the values with 0 distinct
    // targets (ee-outliers keeps its emptied batch entry), but has no event to flag.
    let mut kept: Vec<&AggregatorCount> = counts
        .iter()
        .filter(|c| min_target_buckets.is_none_or(|n| c.distinct_targets >= n))
        .collect();
    kept.sort();
    let values: Vec<f64> = kept.iter().map(|c| c.distinct_targets as f64).collect();
    let Some(frontier) = trigger::frontier(spec, &values) else {
        return Vec::new();
    };
    let stats = trigger::stats(&values);
    let whole_list = spec.method == TriggerMethod::CoeffOfVariation;
    let all_flagged = whole_list && trigger::coeff_of_variation_is_outlier(spec, &values);
    kept.into_iter()
        .filter(|c| c.doc_count > 0)
        .filter(|c| {
            all_flagged
                || (!whole_list
                    && trigger::is_outlier(spec.on, c.distinct_targets as f64, frontier))
        })
        .map(|c| Finding {
            aggregator: c.aggregator.clone(),
            target: None,
            term_count: c.distinct_targets,
            decision_frontier: frontier,
            stats,
            non_outlier_values_sample: Vec::new(),
        })
        .collect()
}

/// What the whitelist removed from one aggregator (across_aggregators re-evaluation).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AcrossRemoval {
    /// Targets ALL of whose events are whitelisted: they no longer count as distinct
    /// targets of the aggregator.
    pub emptied_targets: u64,
    /// Whitelisted events of the aggregator.
    pub events: u64,
}

/// The counts with whitelisted events taken out (SPEC section 5), for
/// [`evaluate_aggregators`] to run again. Counts saturate at 0; an aggregator left with
/// no target stays with 0 distinct targets, as ee-outliers keeps it (it moves the
/// frontier; it is never a finding).
///
/// The caller's loop for across_aggregators: evaluate -> fetch the events of the outlier
/// aggregators -> for each such aggregator count the targets whose events are all
/// whitelisted and the whitelisted events -> `subtract_across` (always from the ORIGINAL
/// counts with the cumulative removals) -> evaluate again -> repeat while a round finds
/// whitelisted events that were not removed yet.
pub fn subtract_across(
    counts: &[AggregatorCount],
    removed: &BTreeMap<Vec<String>, AcrossRemoval>,
) -> Vec<AggregatorCount> {
    counts
        .iter()
        .map(|c| {
            let r = removed.get(&c.aggregator).copied().unwrap_or_default();
            let distinct_targets = c.distinct_targets.saturating_sub(r.emptied_targets);
            AggregatorCount {
                aggregator: c.aggregator.clone(),
                distinct_targets,
                doc_count: c.doc_count.saturating_sub(r.events),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TriggerOn;

    fn count(a: &str, distinct: u64) -> AggregatorCount {
        AggregatorCount {
            aggregator: vec![a.into()],
            distinct_targets: distinct,
            doc_count: distinct * 10,
        }
    }

    fn spec(method: TriggerMethod, on: TriggerOn, s: f64) -> TriggerSpec {
        TriggerSpec {
            on,
            method,
            sensitivity: s,
        }
    }

    fn names(f: &[Finding]) -> Vec<String> {
        f.iter().map(|f| f.aggregator_joined()).collect()
    }

    #[test]
    fn aggregator_with_many_distinct_targets_is_flagged_high() {
        // values [2, 4, 3]: float 3 high -> only h2 (4 > 3); h3 at exactly 3 is not.
        let counts = [count("h1", 2), count("h2", 4), count("h3", 3)];
        let f = evaluate_aggregators(
            &spec(TriggerMethod::Float, TriggerOn::High, 3.0),
            None,
            &counts,
        );
        assert_eq!(names(&f), vec!["h2"]);
        assert_eq!(f[0].target, None);
        assert_eq!(f[0].term_count, 4);
        assert_eq!(f[0].decision_frontier, 3.0);
        assert!(f[0].non_outlier_values_sample.is_empty());
        assert_eq!(f[0].stats.n, 3);
    }

    #[test]
    fn one_frontier_for_all_aggregators() {
        // values [10, 10, 10, 1]: mean 31 / 4 = 7.75; 50% -> 3.875; only h4 (1) below.
        let counts = [
            count("h1", 10),
            count("h2", 10),
            count("h3", 10),
            count("h4", 1),
        ];
        let f = evaluate_aggregators(
            &spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 50.0),
            None,
            &counts,
        );
        assert_eq!(names(&f), vec!["h4"]);
        assert_eq!(f[0].decision_frontier, 3.875);
    }

    #[test]
    fn min_target_buckets_leaves_small_aggregators_out_of_the_values() {
        // without: [2, 4, 3] mean 3 -> 100% high: h2 (4 > 3).
        // with 3: h1 left out; [4, 3] mean 3.5 -> h2 (4 > 3.5); h1 never flagged.
        let counts = [count("h1", 2), count("h2", 4), count("h3", 3)];
        let s = spec(TriggerMethod::PctOfAvgValue, TriggerOn::High, 100.0);
        let f = evaluate_aggregators(&s, Some(3), &counts);
        assert_eq!(names(&f), vec!["h2"]);
        assert_eq!(f[0].decision_frontier, 3.5);
        assert_eq!(f[0].stats.n, 2);
        // low: h1 (2) would be below mean 3 without the key; with it, nothing is.
        let low = spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 100.0);
        assert_eq!(
            names(&evaluate_aggregators(&low, None, &counts)),
            vec!["h1"]
        );
        assert_eq!(
            names(&evaluate_aggregators(&low, Some(3), &counts)),
            vec!["h3"]
        );
    }

    #[test]
    fn coeff_of_variation_flags_every_aggregator() {
        // values [2, 4, 4, 4, 5, 5, 7, 9]: ratio 2 / 5 = 0.4 > 0.3 -> all 8 (high).
        let counts: Vec<AggregatorCount> = [2, 4, 4, 4, 5, 5, 7, 9]
            .iter()
            .enumerate()
            .map(|(i, n)| count(&format!("h{i}"), *n))
            .collect();
        let high = spec(TriggerMethod::CoeffOfVariation, TriggerOn::High, 0.3);
        let f = evaluate_aggregators(&high, None, &counts);
        assert_eq!(f.len(), 8);
        assert!(
            f.iter().all(|x| (x.decision_frontier - 0.4).abs() < 1e-12),
            "decision_frontier is the ratio"
        );
        let low = spec(TriggerMethod::CoeffOfVariation, TriggerOn::Low, 0.3);
        assert!(evaluate_aggregators(&low, None, &counts).is_empty());
    }

    #[test]
    fn no_aggregators_give_nothing() {
        let s = spec(TriggerMethod::Float, TriggerOn::Low, 5.0);
        assert!(evaluate_aggregators(&s, None, &[]).is_empty());
    }

    #[test]
    fn group_summary_counts_distinct_targets_and_events() {
        let o = |t: &str, n| Observation {
            aggregator: vec!["h".into()],
            target: vec![t.into()],
            doc_count: n,
        };
        let c = AggregatorCount::of_group(&[o("a", 3), o("b", 0), o("c", 2), o("a", 1)]);
        assert_eq!(
            c,
            Some(AggregatorCount {
                aggregator: vec!["h".into()],
                distinct_targets: 2,
                doc_count: 6,
            })
        );
        assert_eq!(AggregatorCount::of_group(&[o("a", 0)]), None);
        assert_eq!(AggregatorCount::of_group(&[]), None);
    }

    #[test]
    fn subtract_across_removes_emptied_targets_and_keeps_empty_aggregators_at_zero() {
        let counts = [count("h1", 2), count("h2", 4)];
        let removed = BTreeMap::from([
            (
                vec!["h1".to_string()],
                AcrossRemoval {
                    emptied_targets: 2,
                    events: 20,
                },
            ),
            (
                vec!["h2".to_string()],
                AcrossRemoval {
                    emptied_targets: 1,
                    events: 15,
                },
            ),
        ]);
        assert_eq!(
            subtract_across(&counts, &removed),
            vec![
                AggregatorCount::emptied(vec!["h1".into()]),
                AggregatorCount {
                    aggregator: vec!["h2".into()],
                    distinct_targets: 3,
                    doc_count: 25,
                }
            ]
        );
    }

    #[test]
    fn an_emptied_aggregator_moves_the_frontier_but_is_never_flagged() {
        // ee-outliers: h1's events all whitelisted, its batch entry stays with 0 targets.
        // values [0, 2, 2]: mean 4/3, 100% low -> 1.33: only h1 (0) is below, and it has
        // no event. Without the 0, [2, 2] mean 2: nothing either; with high 100%,
        // [0, 2, 2] flags h2 and h3 (2 > 1.33) where [2, 2] flags nothing.
        let counts = [
            AggregatorCount::emptied(vec!["h1".into()]),
            count("h2", 2),
            count("h3", 2),
        ];
        let low = spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 100.0);
        assert!(evaluate_aggregators(&low, None, &counts).is_empty());
        let high = spec(TriggerMethod::PctOfAvgValue, TriggerOn::High, 100.0);
        assert_eq!(
            names(&evaluate_aggregators(&high, None, &counts)),
            vec!["h2", "h3"]
        );
        assert!(evaluate_aggregators(&high, None, &counts[1..]).is_empty());
    }

    #[test]
    fn whitelist_loop_across_moves_the_frontier() {
        // values [10, 10, 10, 30]: mean 60 / 4 = 15; 150% high -> 22.5: h4 (30) flagged.
        // The whitelist empties 18 of h4's targets (30 -> 12): [10, 10, 10, 12], mean 10.5,
        // frontier 15.75: nothing flagged any more.
        let counts = [
            count("h1", 10),
            count("h2", 10),
            count("h3", 10),
            count("h4", 30),
        ];
        let s = spec(TriggerMethod::PctOfAvgValue, TriggerOn::High, 150.0);
        let first = evaluate_aggregators(&s, None, &counts);
        assert_eq!(names(&first), vec!["h4"]);
        assert_eq!(first[0].decision_frontier, 22.5);
        let removed = BTreeMap::from([(
            vec!["h4".to_string()],
            AcrossRemoval {
                emptied_targets: 18,
                events: 180,
            },
        )]);
        let again = evaluate_aggregators(&s, None, &subtract_across(&counts, &removed));
        assert!(again.is_empty());
    }
}
