//! Stage `evaluate` (PURE): the trigger of one use case evaluated again and again over
//! the same counts, one step per (method, sensitivity), for `esoutliers tune`. The counts
//! come from one counting pass; nothing here reads the cluster.
//!
//! Each step says how many outlier pairs (aggregators for across_aggregators) and events
//! the trigger flags, and which pairs appear compared with the previous sensitivity of
//! the same method (sensitivities are evaluated in increasing order). Whitelists are not
//! applied (they need the events): the counts are before whitelists.

use serde::Serialize;

use super::{findings, Observation};
use crate::config::{sensitivity_fits, CountMethod, TriggerMethod, TriggerOn, TriggerSpec};

/// Pairs listed per step at most (`appeared`); the rest are counted in `more_appeared`.
pub const LISTED: usize = 20;

/// The outliers of one (method, sensitivity).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub method: String,
    pub sensitivity: f64,
    /// Outlier pairs (within_aggregator) or aggregators (across_aggregators).
    pub pairs: usize,
    /// Events of those pairs.
    pub events: u64,
    /// Pairs (`aggregator -> target`, or the aggregator alone) flagged here and not at
    /// the previous sensitivity of this method; at most [`LISTED`].
    pub appeared: Vec<String>,
    /// Pairs that appeared beyond those listed.
    pub more_appeared: usize,
    /// Pairs flagged at the previous sensitivity and not here.
    pub disappeared: usize,
}

/// Every step: for each method of `methods`, each sensitivity of `sensitivities` the
/// method accepts (sorted increasing, duplicates once), evaluated on `observations`.
pub fn sweep(
    count_method: CountMethod,
    on: TriggerOn,
    min_target_buckets: Option<u64>,
    methods: &[TriggerMethod],
    sensitivities: &[f64],
    observations: &[Observation],
) -> Vec<Step> {
    let mut sens: Vec<f64> = sensitivities
        .iter()
        .copied()
        .filter(|s| s.is_finite())
        .collect();
    sens.sort_by(f64::total_cmp);
    sens.dedup();
    let mut steps = Vec::new();
    for &method in methods {
        let mut previous: std::collections::BTreeSet<String> = Default::default();
        for &s in sens
            .iter()
            .filter(|s| sensitivity_fits(method, **s).is_ok())
        {
            let trigger = TriggerSpec {
                on,
                method,
                sensitivity: s,
            };
            let found = findings(count_method, trigger, min_target_buckets, observations);
            let names: std::collections::BTreeSet<String> = found
                .iter()
                .map(|f| match f.target_joined() {
                    Some(t) => format!("{} -> {t}", f.aggregator_joined()),
                    None => f.aggregator_joined(),
                })
                .collect();
            let appeared: Vec<String> = names.difference(&previous).cloned().collect();
            steps.push(Step {
                method: method.as_str().to_string(),
                sensitivity: s,
                pairs: found.len(),
                events: found.iter().map(|f| f.term_count).sum(),
                more_appeared: appeared.len().saturating_sub(LISTED),
                appeared: appeared.into_iter().take(LISTED).collect(),
                disappeared: previous.difference(&names).count(),
            });
            previous = names;
        }
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obs(a: &str, t: &str, n: u64) -> Observation {
        Observation {
            aggregator: vec![a.into()],
            target: vec![t.into()],
            doc_count: n,
        }
    }

    #[test]
    fn a_higher_pct_of_avg_sensitivity_flags_more_pairs_and_lists_those_that_appear() {
        // winword: 200, 10, 1 -> mean 70.33; 1% = 0.70, 2% = 1.41 (1 flagged), 20% = 14.07
        // (10 and 1 flagged).
        let o = [
            obs("winword", "a", 200),
            obs("winword", "b", 10),
            obs("winword", "c", 1),
        ];
        let s = sweep(
            CountMethod::WithinAggregator,
            TriggerOn::Low,
            None,
            &[TriggerMethod::PctOfAvgValue],
            &[20.0, 1.0, 2.0, 2.0],
            &o,
        );
        let got: Vec<(f64, usize, u64)> = s
            .iter()
            .map(|x| (x.sensitivity, x.pairs, x.events))
            .collect();
        assert_eq!(got, vec![(1.0, 0, 0), (2.0, 1, 1), (20.0, 2, 11)]);
        assert_eq!(s[1].appeared, vec!["winword -> c".to_string()]);
        assert_eq!(s[2].appeared, vec!["winword -> b".to_string()]);
    }

    #[test]
    fn sensitivities_a_method_cannot_take_are_skipped() {
        let o = [obs("p", "a", 5), obs("p", "b", 1)];
        let s = sweep(
            CountMethod::WithinAggregator,
            TriggerOn::Low,
            None,
            &[TriggerMethod::Percentile, TriggerMethod::PctOfAvgValue],
            &[0.0, 50.0, 150.0],
            &o,
        );
        let got: Vec<(&str, f64)> = s
            .iter()
            .map(|x| (x.method.as_str(), x.sensitivity))
            .collect();
        // percentile takes 0..100; pct_of_avg_value needs more than 0.
        assert_eq!(
            got,
            vec![
                ("percentile", 0.0),
                ("percentile", 50.0),
                ("pct_of_avg_value", 50.0),
                ("pct_of_avg_value", 150.0)
            ]
        );
    }

    #[test]
    fn a_pair_flagged_before_and_not_now_counts_as_disappeared() {
        // trigger_on=high with stdev: a larger sensitivity flags fewer pairs.
        let o = [
            obs("p", "a", 1),
            obs("p", "b", 1),
            obs("p", "c", 1),
            obs("p", "d", 100),
        ];
        let s = sweep(
            CountMethod::WithinAggregator,
            TriggerOn::High,
            None,
            &[TriggerMethod::Stdev],
            &[0.5, 5.0],
            &o,
        );
        assert_eq!((s[0].pairs, s[1].pairs), (1, 0));
        assert_eq!(s[1].disappeared, 1);
    }
}
