//! Stage `evaluate` (PURE): composite buckets (as [`Observation`]s) become [`Finding`]s
//! by the trigger math of SPEC sections 3-4. No I/O, no clock; output order is
//! deterministic (sorted by aggregator, then target).
//!
//! Streaming: buckets arrive sorted by the aggregator sources first, so an aggregator's
//! targets are consecutive. [`Evaluator`] keeps only the current aggregator's observations
//! (within_aggregator) or one count per aggregator (across_aggregators): memory grows with
//! the outlier candidates, not with the pairs or the events.

pub mod event;
mod model;
pub mod trigger;
pub mod whitelist;

use std::collections::BTreeSet;

pub use model::*;

use crate::config::{CountMethod, TriggerMethod, TriggerSpec};

/// The result of one evaluated group (one aggregator, or all aggregators for across).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupOutcome {
    /// Findings of this group (may be empty).
    pub findings: Vec<Finding>,
    /// The group's observations, kept only when `findings` is non-empty (for the report's
    /// charts); empty otherwise, so memory grows with candidates only.
    pub observations: Vec<Observation>,
}

/// Per-aggregator summary kept by across_aggregators.
#[derive(Debug, Clone)]
struct AcrossEntry {
    aggregator: Vec<String>,
    distinct_targets: u64,
}

/// Evaluates observations as they arrive in composite order.
#[derive(Debug)]
pub struct Evaluator {
    count_method: CountMethod,
    trigger: TriggerSpec,
    min_target_buckets: Option<u64>,
    current: Vec<Observation>,
    across: Vec<AcrossEntry>,
}

impl Evaluator {
    pub fn new(
        count_method: CountMethod,
        trigger: TriggerSpec,
        min_target_buckets: Option<u64>,
    ) -> Self {
        Evaluator {
            count_method,
            trigger,
            min_target_buckets,
            current: Vec::new(),
            across: Vec::new(),
        }
    }

    /// Feeds the next observation. Returns the groups this observation completed (the
    /// previous aggregator's, when a new aggregator starts, for within_aggregator).
    pub fn push(&mut self, obs: Observation) -> Vec<GroupOutcome> {
        if obs.doc_count == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        if let Some(last) = self.current.last() {
            if last.aggregator != obs.aggregator {
                debug_assert!(
                    last.aggregator < obs.aggregator,
                    "observations must come sorted by aggregator"
                );
                out.extend(self.close_group());
            }
        }
        self.current.push(obs);
        out
    }

    /// End of input: the last group (within) or the across-aggregators evaluation.
    pub fn finish(mut self) -> Vec<GroupOutcome> {
        let mut out: Vec<GroupOutcome> = self.close_group().into_iter().collect();
        if self.count_method == CountMethod::AcrossAggregators {
            out.push(across(&self.trigger, self.min_target_buckets, &self.across));
        }
        out
    }

    fn close_group(&mut self) -> Option<GroupOutcome> {
        if self.current.is_empty() {
            return None;
        }
        let group = std::mem::take(&mut self.current);
        match self.count_method {
            CountMethod::WithinAggregator => {
                let findings = within(&self.trigger, self.min_target_buckets, &group);
                let observations = if findings.is_empty() {
                    Vec::new()
                } else {
                    group
                };
                Some(GroupOutcome {
                    findings,
                    observations,
                })
            }
            CountMethod::AcrossAggregators => {
                let distinct: BTreeSet<&Vec<String>> = group.iter().map(|o| &o.target).collect();
                self.across.push(AcrossEntry {
                    aggregator: group[0].aggregator.clone(),
                    distinct_targets: distinct.len() as u64,
                });
                None
            }
        }
    }
}

/// All findings of a list of observations sorted by aggregator (batch convenience).
pub fn findings(
    count_method: CountMethod,
    trigger: TriggerSpec,
    min_target_buckets: Option<u64>,
    observations: &[Observation],
) -> Vec<Finding> {
    let mut ev = Evaluator::new(count_method, trigger, min_target_buckets);
    let mut out = Vec::new();
    for o in observations {
        out.extend(ev.push(o.clone()).into_iter().flat_map(|g| g.findings));
    }
    out.extend(ev.finish().into_iter().flat_map(|g| g.findings));
    out
}

/// within_aggregator for ONE aggregator's observations: values = the per-target counts;
/// each pair judged by its own count. With `min_target_buckets = n`, fewer than n distinct
/// targets means the aggregator is not evaluated. coeff_of_variation flags every pair of
/// an aggregator whose counts' stdev / mean is an outlier.
pub fn within(
    trigger: &TriggerSpec,
    min_target_buckets: Option<u64>,
    group: &[Observation],
) -> Vec<Finding> {
    if group.is_empty() || min_target_buckets.is_some_and(|n| (group.len() as u64) < n) {
        return Vec::new();
    }
    let values: Vec<f64> = group.iter().map(|o| o.doc_count as f64).collect();
    let Some(frontier) = trigger::frontier(trigger, &values) else {
        return Vec::new();
    };
    let stats = trigger::stats(&values);
    let flagged: Vec<bool> = if trigger.method == TriggerMethod::CoeffOfVariation {
        vec![trigger::cov_is_outlier(trigger, &values); group.len()]
    } else {
        if frontier < 0.0 {
            tracing::debug!(
                "negative frontier {frontier} for {}: nothing can be below it",
                join(&group[0].aggregator)
            );
        }
        values
            .iter()
            .map(|v| trigger::is_outlier(trigger.on, *v, frontier))
            .collect()
    };
    if !flagged.iter().any(|f| *f) {
        return Vec::new();
    }
    // The most frequent non-outlier targets, up to 3, ties by value: deterministic.
    let mut usual: Vec<&Observation> = group
        .iter()
        .zip(&flagged)
        .filter(|(_, f)| !**f)
        .map(|(o, _)| o)
        .collect();
    usual.sort_by(|a, b| {
        b.doc_count
            .cmp(&a.doc_count)
            .then_with(|| a.target.cmp(&b.target))
    });
    let sample: Vec<String> = usual.iter().take(3).map(|o| join(&o.target)).collect();
    let mut out: Vec<Finding> = group
        .iter()
        .zip(&flagged)
        .filter(|(_, f)| **f)
        .map(|(o, _)| Finding {
            aggregator: o.aggregator.clone(),
            target: Some(o.target.clone()),
            term_count: o.doc_count,
            decision_frontier: frontier,
            stats,
            non_outlier_values_sample: sample.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.target.cmp(&b.target));
    out
}

/// across_aggregators: values = each aggregator's number of distinct targets; one
/// frontier for all; an aggregator whose count is an outlier is one finding with
/// `target = None`. With `min_target_buckets = n`, aggregators with fewer than n distinct
/// targets are left out of the values and never flagged. coeff_of_variation flags every
/// aggregator when the ratio over all counts is an outlier.
fn across(
    trigger: &TriggerSpec,
    min_target_buckets: Option<u64>,
    entries: &[AcrossEntry],
) -> GroupOutcome {
    let kept: Vec<&AcrossEntry> = entries
        .iter()
        .filter(|e| min_target_buckets.is_none_or(|n| e.distinct_targets >= n))
        .collect();
    let values: Vec<f64> = kept.iter().map(|e| e.distinct_targets as f64).collect();
    let Some(frontier) = trigger::frontier(trigger, &values) else {
        return GroupOutcome {
            findings: Vec::new(),
            observations: Vec::new(),
        };
    };
    let stats = trigger::stats(&values);
    let all = trigger.method == TriggerMethod::CoeffOfVariation
        && trigger::cov_is_outlier(trigger, &values);
    let findings = kept
        .iter()
        .filter(|e| {
            all || (trigger.method != TriggerMethod::CoeffOfVariation
                && trigger::is_outlier(trigger.on, e.distinct_targets as f64, frontier))
        })
        .map(|e| Finding {
            aggregator: e.aggregator.clone(),
            target: None,
            term_count: e.distinct_targets,
            decision_frontier: frontier,
            stats,
            non_outlier_values_sample: Vec::new(),
        })
        .collect();
    GroupOutcome {
        findings,
        observations: Vec::new(),
    }
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

    #[test]
    fn rare_child_is_found_with_its_explanation() {
        let o = [
            obs("adobe.exe", "a.exe", 200),
            obs("adobe.exe", "b.exe", 150),
            obs("adobe.exe", "cmd.exe", 1),
        ];
        let f = findings(
            CountMethod::WithinAggregator,
            spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 1.0),
            None,
            &o,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].target_joined().as_deref(), Some("cmd.exe"));
        assert_eq!(f[0].term_count, 1);
        assert!((f[0].stats.mean - 117.0).abs() < 1e-9);
        assert!((f[0].decision_frontier - 1.17).abs() < 1e-9);
        assert_eq!(f[0].non_outlier_values_sample, vec!["a.exe", "b.exe"]);
    }

    #[test]
    fn each_parent_has_its_own_frontier() {
        // p1 average 100 -> frontier 1: its count-1 child is not below; p2 average 50.5 ->
        // frontier 0.505... with 10%: p1 10, p2 5.05.
        let o = [
            obs("p1", "a", 199),
            obs("p1", "b", 1),
            obs("p2", "a", 100),
            obs("p2", "b", 1),
        ];
        let s = spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 1.0);
        assert!(findings(CountMethod::WithinAggregator, s, None, &o).is_empty());
        let s = spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 10.0);
        let f = findings(CountMethod::WithinAggregator, s, None, &o);
        assert_eq!(
            f.iter().map(|f| f.aggregator_joined()).collect::<Vec<_>>(),
            vec!["p1", "p2"]
        );
    }

    #[test]
    fn min_target_buckets_skips_small_aggregators() {
        let o = [obs("p1", "a", 100), obs("p1", "b", 1)];
        let s = spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 10.0);
        assert_eq!(
            findings(CountMethod::WithinAggregator, s, Some(2), &o).len(),
            1
        );
        assert!(findings(CountMethod::WithinAggregator, s, Some(3), &o).is_empty());
    }

    #[test]
    fn streaming_keeps_observations_only_for_flagged_groups() {
        let mut ev = Evaluator::new(
            CountMethod::WithinAggregator,
            spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 10.0),
            None,
        );
        assert!(ev.push(obs("p1", "a", 100)).is_empty());
        assert!(ev.push(obs("p1", "b", 100)).is_empty());
        let done = ev.push(obs("p2", "a", 100));
        assert_eq!(done.len(), 1);
        assert!(done[0].findings.is_empty() && done[0].observations.is_empty());
        ev.push(obs("p2", "b", 1));
        let last = ev.finish();
        assert_eq!(last[0].findings.len(), 1);
        assert_eq!(last[0].observations.len(), 2);
    }

    #[test]
    fn across_counts_distinct_targets_per_aggregator() {
        // distinct: h1 2, h2 4, h3 3; float high 3 -> h2 only.
        let mut o = vec![obs("h1", "x", 3), obs("h1", "y", 1)];
        for t in ["a", "b", "c", "d"] {
            o.push(obs("h2", t, 1));
        }
        for t in ["a", "b", "c"] {
            o.push(obs("h3", t, 2));
        }
        let f = findings(
            CountMethod::AcrossAggregators,
            spec(TriggerMethod::Float, TriggerOn::High, 3.0),
            None,
            &o,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].aggregator_joined(), "h2");
        assert_eq!(f[0].target, None);
        assert_eq!(f[0].term_count, 4);
        // min_target_buckets 3 leaves h1 out of the values: mean of [4, 3] = 3.5 ->
        // pct_of_avg 100 high: 4 > 3.5.
        let s = spec(TriggerMethod::PctOfAvgValue, TriggerOn::High, 100.0);
        let f = findings(CountMethod::AcrossAggregators, s, Some(3), &o);
        assert_eq!(f.len(), 1);
        assert!((f[0].decision_frontier - 3.5).abs() < 1e-9);
    }

    #[test]
    fn coeff_of_variation_flags_every_pair_of_the_aggregator() {
        // [2,4,4,4,5,5,7,9]: ratio 0.4 < 0.5 -> all 8 pairs.
        let o: Vec<Observation> = [2, 4, 4, 4, 5, 5, 7, 9]
            .iter()
            .enumerate()
            .map(|(i, n)| obs("p", &format!("t{i}"), *n))
            .collect();
        let f = findings(
            CountMethod::WithinAggregator,
            spec(TriggerMethod::CoeffOfVariation, TriggerOn::Low, 0.5),
            None,
            &o,
        );
        assert_eq!(f.len(), 8);
        assert!(f.iter().all(|x| x.decision_frontier == 0.5));
        assert!(findings(
            CountMethod::WithinAggregator,
            spec(TriggerMethod::CoeffOfVariation, TriggerOn::High, 0.5),
            None,
            &o
        )
        .is_empty());
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
}
