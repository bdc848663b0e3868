//! Stage `evaluate` (PURE): composite buckets, as [`Observation`]s, become [`Finding`]s by
//! the trigger math and counting rules of SPEC sections 3-5.
//!
//! Must not: do I/O, read the clock, log, or fail on a validated `UseCase` (config has
//! checked methods and sensitivities). Output order is deterministic: within a group,
//! findings are sorted by target; groups come in input order; across findings are sorted
//! by aggregator.
//!
//! Streaming (SPEC section 8): composite buckets come sorted by the aggregator sources
//! first, so all observations of one aggregator value are CONSECUTIVE. [`Evaluator`]
//! relies on that: it keeps only the current aggregator's observations, evaluates them
//! (within) or summarises them into one [`AggregatorCount`] (across) when the next
//! aggregator starts, and keeps observations only of groups with findings. Memory grows
//! with the candidate groups (within) or the number of aggregators (across), never with
//! all pairs or events.
//!
//! Input contract: observations of one aggregator value must be contiguous. What counts
//! is contiguity, not a particular sort order (numeric composite sources sort 9 before
//! 10, which string order does not; a `terms` > `terms` response is grouped by parent but
//! sorted by count). Debug builds check it (`debug_assert!`, remembering every closed
//! aggregator); release builds trust it, and an aggregator that did reappear would be
//! evaluated as two separate groups.
//!
//! Modules: [`trigger`] (frontiers), [`within`] (one aggregator), [`across`] (all
//! aggregators), [`whitelist`] (strings, matching, re-evaluation), [`pystr`] (Python's
//! `str()` of event values, as ee-outliers' whitelist sees them, and the other Python
//! spellings ee-outliers writes), [`sudden`] (the sudden_appearance model: windows and
//! per-pair decisions from time buckets).

pub mod across;
pub mod event;
mod model;
pub mod placeholder;
pub mod pystr;
pub mod simplequery;
pub mod sudden;
pub mod trigger;
pub mod whitelist;
pub mod within;

use std::collections::BTreeSet;

pub use across::AggregatorCount;
pub use model::*;

use crate::config::{CountMethod, TriggerSpec};

/// The result of one evaluated group: one aggregator value (within_aggregator), or all
/// aggregators at once (across_aggregators, from [`Evaluator::finish`]).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupOutcome {
    /// Findings of this group (may be empty).
    pub findings: Vec<Finding>,
    /// within_aggregator: the group's observations, kept ONLY when `findings` is non-empty
    /// (the whitelist re-evaluation, [`whitelist::reevaluate_within`], starts from them);
    /// empty otherwise, so memory grows with candidates only. Always empty for
    /// across_aggregators.
    pub observations: Vec<Observation>,
    /// across_aggregators: every aggregator's summary (the values list), kept ONLY when
    /// `findings` is non-empty, for the whitelist re-evaluation
    /// ([`across::subtract_across`]); empty otherwise. Always empty for
    /// within_aggregator.
    pub aggregators: Vec<AggregatorCount>,
}

impl GroupOutcome {
    fn within(findings: Vec<Finding>, group: Vec<Observation>) -> GroupOutcome {
        let observations = if findings.is_empty() {
            Vec::new()
        } else {
            group
        };
        GroupOutcome {
            findings,
            observations,
            aggregators: Vec::new(),
        }
    }
}

/// Evaluates observations as they arrive in composite order (see the module docs for the
/// input contract).
#[derive(Debug)]
pub struct Evaluator {
    count_method: CountMethod,
    trigger: TriggerSpec,
    min_target_buckets: Option<u64>,
    /// The current aggregator's observations (both count methods).
    current: Vec<Observation>,
    /// across_aggregators: one summary per completed aggregator.
    counts: Vec<AggregatorCount>,
    /// across_aggregators: aggregators whose events were all whitelisted; counted with 0
    /// distinct targets when no observation of theirs arrives.
    emptied: Vec<Vec<String>>,
    /// Debug builds only: every completed aggregator, to check contiguity.
    #[cfg(debug_assertions)]
    closed: BTreeSet<Vec<String>>,
}

impl Evaluator {
    /// An evaluator for one use case: its `count_method`, `trigger` and
    /// `min_target_buckets` (`None`: every aggregator is evaluated).
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
            counts: Vec::new(),
            emptied: Vec::new(),
            #[cfg(debug_assertions)]
            closed: BTreeSet::new(),
        }
    }

    /// across_aggregators: `aggregators` had events that whitelists all removed from the
    /// counts; each stays in the values with 0 distinct targets (ee-outliers keeps the
    /// emptied aggregator in its batch), moving the frontier, never a finding. Ignored by
    /// within_aggregator.
    pub fn with_emptied(mut self, aggregators: impl IntoIterator<Item = Vec<String>>) -> Self {
        self.emptied.extend(aggregators);
        self
    }

    /// Feeds the next observation (composite order). Returns the groups completed by it:
    /// for within_aggregator, the previous aggregator's group (findings possibly empty)
    /// when this observation starts a new aggregator; nothing otherwise, and never
    /// anything for across_aggregators (which is decided in [`Evaluator::finish`]).
    /// Observations with `doc_count = 0` are no events and are skipped.
    pub fn push(&mut self, obs: Observation) -> Vec<GroupOutcome> {
        if obs.doc_count == 0 {
            return Vec::new();
        }
        let mut out = Vec::new();
        let starts_new = self
            .current
            .last()
            .is_some_and(|last| last.aggregator != obs.aggregator);
        if starts_new {
            out.extend(self.close_group());
        }
        #[cfg(debug_assertions)]
        debug_assert!(
            !self.closed.contains(&obs.aggregator),
            "observations of aggregator {:?} are not contiguous: the input must come grouped \
             by aggregator (composite order)",
            obs.aggregator
        );
        self.current.push(obs);
        out
    }

    /// End of input. within_aggregator: the last group's outcome (if any observation was
    /// pushed). across_aggregators: one outcome with the evaluation over all aggregators
    /// (none when no aggregator had an event).
    pub fn finish(mut self) -> Vec<GroupOutcome> {
        let mut out: Vec<GroupOutcome> = self.close_group().into_iter().collect();
        if self.count_method == CountMethod::AcrossAggregators {
            let present: BTreeSet<Vec<String>> =
                self.counts.iter().map(|c| c.aggregator.clone()).collect();
            for a in std::mem::take(&mut self.emptied) {
                if !present.contains(&a) {
                    self.counts.push(AggregatorCount::emptied(a));
                }
            }
        }
        if self.count_method == CountMethod::AcrossAggregators && !self.counts.is_empty() {
            let findings =
                across::evaluate_aggregators(&self.trigger, self.min_target_buckets, &self.counts);
            let aggregators = if findings.is_empty() {
                Vec::new()
            } else {
                std::mem::take(&mut self.counts)
            };
            out.push(GroupOutcome {
                findings,
                observations: Vec::new(),
                aggregators,
            });
        }
        out
    }

    /// Completes the current aggregator: evaluated now (within) or summarised (across).
    fn close_group(&mut self) -> Option<GroupOutcome> {
        let group = std::mem::take(&mut self.current);
        if group.is_empty() {
            return None;
        }
        #[cfg(debug_assertions)]
        self.closed.insert(group[0].aggregator.clone());
        match self.count_method {
            CountMethod::WithinAggregator => {
                let findings =
                    within::evaluate_aggregator(&self.trigger, self.min_target_buckets, &group);
                Some(GroupOutcome::within(findings, group))
            }
            CountMethod::AcrossAggregators => {
                self.counts.extend(AggregatorCount::of_group(&group));
                None
            }
        }
    }
}

/// Batch convenience: every finding of `observations` (grouped by aggregator, see the
/// module docs) = push all, then finish, findings concatenated in order.
pub fn findings(
    count_method: CountMethod,
    trigger: TriggerSpec,
    min_target_buckets: Option<u64>,
    observations: &[Observation],
) -> Vec<Finding> {
    let mut evaluator = Evaluator::new(count_method, trigger, min_target_buckets);
    let mut out = Vec::new();
    for o in observations {
        out.extend(
            evaluator
                .push(o.clone())
                .into_iter()
                .flat_map(|g| g.findings),
        );
    }
    out.extend(evaluator.finish().into_iter().flat_map(|g| g.findings));
    out
}

#[cfg(test)]
mod tests;
