//! Stage `evaluate` (PURE): the trigger math of ee-outliers' metrics model (SPEC sections
//! 3, 5 and 9) on a WEIGHTED list: one entry per distinct target value, carrying its
//! metric and its number of events, instead of one entry per event.
//!
//! Must not: do I/O, log, keep state, or depend on the order of its input (results are the
//! same for any order of the entries, bit for bit).
//!
//! Invariants:
//! - an entry of weight w counts w times wherever ee-outliers' per-event list would hold
//!   it w times: mean, median, MAD, standard deviation, max; `percentile` alone works on
//!   the DISTINCT values (`np.percentile(list(set(values)))`), so weights do not matter
//!   there;
//! - entries of weight 0 are no events: ignored, never outliers;
//! - no events at all: no frontier (`None`), nothing flagged.
//!
//! Numbers: ee-outliers sums per event in scan order (`statistics.mean` exactly, numpy's
//! pairwise float sums elsewhere). The scan order is not known here, and repeating a value
//! w times would make the result depend on where its copies fall. So every sum is EXACT:
//! Σ w·x is accumulated without rounding (a fixed-point integer spanning the whole f64
//! range) and rounded once, correctly, when divided by the event count. That is exactly
//! Python's `statistics.mean` (used by `pct_of_avg_value`), and for the numpy means and
//! standard deviations the value that numpy's float sums approximate: identical whenever
//! those sums are exact (integral metrics such as lengths, below 2^53), otherwise possibly
//! different in the last bits. Deviations and squares are rounded per value exactly as
//! numpy rounds them per element (same operands, same operation).
//!
//! NaN and infinities (from `numerical_value` of `nan` / `inf` text): the numpy helpers
//! with `nan` in their name (`nanmean`, `nanmedian`: `stdev`'s centre, `mad`) ignore NaN;
//! the others give NaN when a NaN is present. Two are order-dependent in ee-outliers
//! (Python's `sorted` and `max` with NaN): here `statistics.median` sorts NaN after every
//! number and `max` ignores NaN unless every value is NaN. A NaN frontier flags nothing.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use crate::config::{TriggerMethod, TriggerOn, TriggerSpec};
use crate::evaluate::metric::python_str;
use crate::evaluate::trigger::is_outlier;

/// How many non-outlier metrics `non_outlier_values_sample` holds at most (ee-outliers
/// samples 3).
pub const SAMPLE_SIZE: usize = 3;

/// Limbs of the exact accumulator: |x| < 2^1024 is 2^2098 units of 2^-1074, times a weight
/// or an event total below 2^64: 2162 bits, in 34 limbs; one more for headroom.
const LIMBS: usize = 35;

/// An exact sum of w·x over finite f64 x and u64 w, as a fixed-point integer in units of
/// 2^-1074 (the smallest subnormal), kept as two magnitudes (positive and negative parts).
/// Non-finite terms are summed apart with IEEE rules (any NaN, or +inf with -inf, gives
/// NaN), which is what both Python's exact `statistics` sums and numpy give.
#[derive(Clone)]
struct ExactSum {
    positive: [u64; LIMBS],
    negative: [u64; LIMBS],
    non_finite: Option<f64>,
}

impl ExactSum {
    fn new() -> ExactSum {
        ExactSum {
            positive: [0; LIMBS],
            negative: [0; LIMBS],
            non_finite: None,
        }
    }

    fn add(&mut self, x: f64, w: u64) {
        if w == 0 {
            return;
        }
        if !x.is_finite() {
            self.non_finite = Some(self.non_finite.map_or(x, |s| s + x));
            return;
        }
        let bits = x.to_bits();
        let biased = ((bits >> 52) & 0x7FF) as u32;
        let fraction = bits & ((1 << 52) - 1);
        // x = mantissa * 2^(shift - 1074)
        let (mantissa, shift) = if biased == 0 {
            (fraction, 0)
        } else {
            (fraction | (1 << 52), biased - 1)
        };
        if mantissa == 0 {
            return;
        }
        let product = mantissa as u128 * w as u128;
        let limbs = if x < 0.0 {
            &mut self.negative
        } else {
            &mut self.positive
        };
        add_shifted(limbs, product as u64, shift);
        add_shifted(limbs, (product >> 64) as u64, shift + 64);
    }

    /// The sum divided by `n` (> 0), correctly rounded to f64.
    fn div_round(&self, n: u64) -> f64 {
        if let Some(s) = self.non_finite {
            return s / n as f64;
        }
        let (magnitude, negative) = match cmp_limbs(&self.positive, &self.negative) {
            Ordering::Less => (sub_limbs(&self.negative, &self.positive), true),
            _ => (sub_limbs(&self.positive, &self.negative), false),
        };
        let (quotient, remainder) = div_limbs(&magnitude, n);
        let value = round_units(&quotient, remainder, n);
        if negative {
            -value
        } else {
            value
        }
    }
}

fn add_shifted(limbs: &mut [u64; LIMBS], value: u64, shift: u32) {
    if value == 0 {
        return;
    }
    let index = (shift / 64) as usize;
    let wide = (value as u128) << (shift % 64);
    let mut carry = 0u128;
    for (i, part) in [wide as u64, (wide >> 64) as u64].into_iter().enumerate() {
        let sum = limbs[index + i] as u128 + part as u128 + carry;
        limbs[index + i] = sum as u64;
        carry = sum >> 64;
    }
    let mut i = index + 2;
    while carry != 0 {
        let sum = limbs[i] as u128 + carry;
        limbs[i] = sum as u64;
        carry = sum >> 64;
        i += 1;
    }
}

fn cmp_limbs(a: &[u64; LIMBS], b: &[u64; LIMBS]) -> Ordering {
    a.iter().rev().cmp(b.iter().rev())
}

/// a - b, for a >= b.
fn sub_limbs(a: &[u64; LIMBS], b: &[u64; LIMBS]) -> [u64; LIMBS] {
    let mut out = [0u64; LIMBS];
    let mut borrow = 0u64;
    for i in 0..LIMBS {
        let (d1, o1) = a[i].overflowing_sub(b[i]);
        let (d2, o2) = d1.overflowing_sub(borrow);
        out[i] = d2;
        borrow = u64::from(o1 || o2);
    }
    out
}

fn div_limbs(a: &[u64; LIMBS], n: u64) -> ([u64; LIMBS], u64) {
    let mut out = [0u64; LIMBS];
    let mut rem = 0u128;
    for i in (0..LIMBS).rev() {
        let cur = (rem << 64) | a[i] as u128;
        out[i] = (cur / n as u128) as u64;
        rem = cur % n as u128;
    }
    (out, rem as u64)
}

fn bit(a: &[u64; LIMBS], i: u32) -> bool {
    (a[(i / 64) as usize] >> (i % 64)) & 1 == 1
}

fn any_bit_below(a: &[u64; LIMBS], i: u32) -> bool {
    let limb = (i / 64) as usize;
    a[..limb].iter().any(|l| *l != 0) || (a[limb] & ((1u64 << (i % 64)) - 1)) != 0
}

/// (q + r / n) units of 2^-1074, rounded to nearest f64, ties to even.
fn round_units(q: &[u64; LIMBS], r: u64, n: u64) -> f64 {
    let top = q.iter().rposition(|l| *l != 0);
    let bit_len = top.map_or(0, |t| 64 * t as u32 + (64 - q[t].leading_zeros()));
    // Units per ulp: 1 below 2^53 units (subnormals and the lowest binade), doubling
    // with each binade above.
    let shift = bit_len.saturating_sub(53);
    let mut mantissa = 0u64;
    for i in (shift..bit_len).rev() {
        mantissa = (mantissa << 1) | u64::from(bit(q, i));
    }
    // Compare the discarded part with half an ulp.
    let round_up = if shift == 0 {
        match (2 * r as u128).cmp(&(n as u128)) {
            Ordering::Greater => true,
            Ordering::Less => false,
            Ordering::Equal => mantissa & 1 == 1,
        }
    } else if !bit(q, shift - 1) {
        false
    } else if r > 0 || any_bit_below(q, shift - 1) {
        true
    } else {
        mantissa & 1 == 1
    };
    let mut shift = shift;
    if round_up {
        mantissa += 1;
        if mantissa == 1 << 53 {
            mantissa >>= 1;
            shift += 1;
        }
    }
    if mantissa < 1 << 52 {
        // Subnormal (shift is 0 here): the bits are the mantissa itself.
        return f64::from_bits(mantissa);
    }
    let biased = shift as u64 + 1;
    if biased >= 0x7FF {
        return f64::INFINITY;
    }
    f64::from_bits((biased << 52) | (mantissa & ((1 << 52) - 1)))
}

/// Total weight.
fn count(values: &[(f64, u64)]) -> u64 {
    values.iter().map(|(_, w)| w).sum()
}

/// Python's `statistics.mean` of the expanded list: Σ w·x / Σ w computed exactly and
/// rounded once; NaN when a NaN is present, ±inf/NaN by IEEE rules with infinities. NaN
/// for an empty list (callers do not ask).
pub fn mean(values: &[(f64, u64)]) -> f64 {
    let mut sum = ExactSum::new();
    for &(x, w) in values {
        sum.add(x, w);
    }
    match count(values) {
        0 => f64::NAN,
        n => sum.div_round(n),
    }
}

/// numpy's `nanmean`: [`mean`] of the non-NaN entries; NaN when all are NaN.
pub fn nanmean(values: &[(f64, u64)]) -> f64 {
    mean(&without_nan(values))
}

/// numpy's `std` (population, ddof = 0): sqrt(Σ w·(x - m)² / Σ w) with m = [`mean`], each
/// (x - m)² rounded as numpy rounds it per element, the sum exact. NaN with a NaN present.
pub fn pstdev(values: &[(f64, u64)]) -> f64 {
    let m = mean(values);
    let squares: Vec<(f64, u64)> = values
        .iter()
        .map(|&(x, w)| {
            let d = x - m;
            (d * d, w)
        })
        .collect();
    mean(&squares).sqrt()
}

/// The order Python's `sorted` gives numbers, with NaN after every number (Python's own
/// order with NaN depends on the input order), and -0.0 before 0.0 (Python keeps equal
/// numbers in input order; this keeps the sign of a zero result independent of it).
fn number_order(a: f64, b: f64) -> Ordering {
    match a.partial_cmp(&b) {
        Some(Ordering::Equal) => a.total_cmp(&b),
        Some(order) => order,
        None => a.is_nan().cmp(&b.is_nan()),
    }
}

/// The value at position `k` (0-based) of the expanded list sorted by [`number_order`].
fn kth(sorted: &[(f64, u64)], k: u64) -> f64 {
    let mut seen = 0;
    for &(x, w) in sorted {
        seen += w;
        if k < seen {
            return x;
        }
    }
    unreachable!("k is below the total weight")
}

/// Median of the expanded list: the middle value, or (a + b) / 2 of the two middle values
/// for an even count (Python's `statistics.median` and numpy's `median` agree on this).
/// NaN sorts after every number (Python's own order with NaN depends on the input
/// order). NaN for an empty list.
pub fn median(values: &[(f64, u64)]) -> f64 {
    let mut sorted: Vec<(f64, u64)> = values.iter().copied().filter(|(_, w)| *w > 0).collect();
    sorted.sort_by(|a, b| number_order(a.0, b.0));
    let n = count(&sorted);
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        kth(&sorted, n / 2)
    } else {
        (kth(&sorted, n / 2 - 1) + kth(&sorted, n / 2)) / 2.0
    }
}

/// numpy's `nanmedian`: [`median`] of the non-NaN entries; NaN when all are NaN.
pub fn nanmedian(values: &[(f64, u64)]) -> f64 {
    median(&without_nan(values))
}

/// Median absolute deviation as ee-outliers computes it:
/// nanmedian(|x - nanmedian(values)|), each deviation with the weight of its value.
pub fn mad(values: &[(f64, u64)]) -> f64 {
    let m = nanmedian(values);
    let deviations: Vec<(f64, u64)> = values.iter().map(|&(x, w)| ((x - m).abs(), w)).collect();
    nanmedian(&deviations)
}

/// Python's `max`: the largest value; NaN is ignored unless every value is NaN; 0.0 wins
/// over -0.0 (Python keeps the first of equal values). NaN for an empty list.
pub fn max(values: &[(f64, u64)]) -> f64 {
    values
        .iter()
        .filter(|(_, w)| *w > 0)
        .map(|(x, _)| *x)
        .reduce(|a, b| {
            if !b.is_nan() && (a.is_nan() || number_order(b, a).is_gt()) {
                b
            } else {
                a
            }
        })
        .unwrap_or(f64::NAN)
}

fn without_nan(values: &[(f64, u64)]) -> Vec<(f64, u64)> {
    values
        .iter()
        .copied()
        .filter(|(x, _)| !x.is_nan())
        .collect()
}

/// The `p`-th percentile (0..=100) of the DISTINCT values, as numpy 1.16.4 (ee-outliers
/// 0.2.17's pin) computes `np.percentile(list(set(values)), p)`: k sorted distinct values
/// `d` (numerically equal values are one: `0` and `-0.0`, an int and a float),
/// `rank = (p / 100) * (k - 1)`, `lo = floor(rank)`, `hi = min(lo + 1, k - 1)`,
/// `w = rank - lo`, result `d[lo] * (1 - w) + d[hi] * w`. That last formula is numpy
/// 1.16's; it can differ in the last bit from `d[lo] + (d[hi] - d[lo]) * w` (e.g. [6, 26]
/// at 5: 6.999999999999999, not 7.0). NaN when a value is NaN (numpy 1.16) or the list is
/// empty.
pub fn percentile_of_distinct(values: &[(f64, u64)], p: f64) -> f64 {
    let mut distinct: Vec<f64> = values
        .iter()
        .filter(|(_, w)| *w > 0)
        .map(|(x, _)| *x)
        .collect();
    if distinct.is_empty() || distinct.iter().any(|x| x.is_nan()) {
        return f64::NAN;
    }
    distinct.sort_by(|a, b| number_order(*a, *b));
    distinct.dedup_by(|a, b| a == b);
    let k = distinct.len();
    let rank = (p / 100.0) * (k - 1) as f64;
    let lo = (rank.floor() as usize).min(k - 1);
    let hi = (lo + 1).min(k - 1);
    let w_above = rank - lo as f64;
    let w_below = 1.0 - w_above;
    distinct[lo] * w_below + distinct[hi] * w_above
}

/// +1 for `high`, -1 for `low`.
fn direction(on: TriggerOn) -> f64 {
    match on {
        TriggerOn::Low => -1.0,
        TriggerOn::High => 1.0,
    }
}

/// The decision frontier of ee-outliers' `get_decision_frontier` over the metrics list of
/// one aggregator, given as (metric, events) pairs; `None` when there is no event.
///
/// With s = `spec.sensitivity`:
/// - `pct_of_avg_value`: [`mean`] * (s / 100) (exact mean, as `statistics.mean`);
/// - `pct_of_max_value`: [`max`] * (s / 100);
/// - `pct_of_median_value`: [`median`] * (s / 100);
/// - `percentile`: [`percentile_of_distinct`] (weights do not matter);
/// - `stdev`: [`nanmean`] ± s * [`pstdev`] (+ for `high`);
/// - `mad`: [`nanmedian`] ± s * [`mad`]; when that equals the nanmedian (MAD = 0 or
///   s = 0), [`nanmean`] ± 1 * [`pstdev`] instead;
/// - `madpos`: as `mad`, then 0 when it is below 0 (a NaN frontier stays NaN, as Python's
///   `max([f, 0])` keeps it);
/// - `float`: s;
/// - `coeff_of_variation`: [`pstdev`] / [`mean`]: the RATIO itself is the frontier, and
///   each metric is compared with it; the sensitivity plays no part. (This is what
///   `metrics.py` does: unlike `terms.py` it has no special case for this method. A zero
///   mean gives ±inf or NaN.)
///
/// A negative frontier flags nothing for `low` when the metrics are >= 0 (lengths,
/// entropies); `numerical_value` and `relative_english_entropy` can be negative.
pub fn frontier_weighted(spec: &TriggerSpec, values: &[(f64, u64)]) -> Option<f64> {
    if count(values) == 0 {
        return None;
    }
    let s = spec.sensitivity;
    let sign = direction(spec.on);
    let f = match spec.method {
        TriggerMethod::PctOfAvgValue => mean(values) * (s / 100.0),
        TriggerMethod::PctOfMaxValue => max(values) * (s / 100.0),
        TriggerMethod::PctOfMedianValue => median(values) * (s / 100.0),
        TriggerMethod::Percentile => percentile_of_distinct(values, s),
        TriggerMethod::Stdev => nanmean(values) + sign * s * pstdev(values),
        TriggerMethod::Mad | TriggerMethod::Madpos => {
            let centre = nanmedian(values);
            let by_mad = centre + sign * s * mad(values);
            let f = if by_mad == centre {
                nanmean(values) + sign * pstdev(values)
            } else {
                by_mad
            };
            if spec.method == TriggerMethod::Madpos && 0.0 > f {
                0.0
            } else {
                f
            }
        }
        TriggerMethod::Float => s,
        TriggerMethod::CoeffOfVariation => pstdev(values) / mean(values),
    };
    Some(f)
}

/// One distinct target value of an aggregator: its metric and its number of events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricCount {
    /// The metric of the target value ([`crate::evaluate::metric::Measure::value`]).
    pub metric: f64,
    /// Python computed an `int` ([`crate::evaluate::metric::Measure::integral`]).
    pub integral: bool,
    /// Events of the aggregator carrying this target value; 0 = none (ignored).
    pub doc_count: u64,
}

/// A distinct target value that is an outlier.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutlierValue {
    /// Its position in the list given to [`evaluate`].
    pub index: usize,
    /// |decision_frontier - metric| (ee-outliers' `confidence`).
    pub confidence: f64,
}

/// The evaluation of one aggregator's list.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The frontier every value was compared with.
    pub decision_frontier: f64,
    /// The outlier values, in list order; every event of each is an outlier.
    pub outliers: Vec<OutlierValue>,
    /// Up to [`SAMPLE_SIZE`] distinct Python `str()` of non-outlier metrics: those with the
    /// most events first, then by metric value, then by text. Empty when every value is an
    /// outlier. (ee-outliers samples at random among the non-outliers met earlier in its
    /// scan, so its first outlier often gets none; this one is the same for every outlier
    /// of the aggregator.)
    pub non_outlier_values_sample: Vec<String>,
}

/// Evaluates one aggregator: the frontier over all its events ([`frontier_weighted`]),
/// then each distinct value with events is an outlier when its metric is strictly beyond
/// the frontier ([`is_outlier`]; every method, `coeff_of_variation` included, compares
/// each metric with the frontier). `None` when the list has no event. A NaN metric or
/// frontier is never an outlier.
pub fn evaluate(spec: &TriggerSpec, values: &[MetricCount]) -> Option<Evaluation> {
    let weighted: Vec<(f64, u64)> = values.iter().map(|v| (v.metric, v.doc_count)).collect();
    let frontier = frontier_weighted(spec, &weighted)?;
    let mut outliers = Vec::new();
    let mut non_outliers: BTreeMap<String, (u64, f64)> = BTreeMap::new();
    for (index, v) in values.iter().enumerate().filter(|(_, v)| v.doc_count > 0) {
        if is_outlier(spec.on, v.metric, frontier) {
            outliers.push(OutlierValue {
                index,
                confidence: (frontier - v.metric).abs(),
            });
        } else {
            let entry = non_outliers
                .entry(python_str(v.metric, v.integral))
                .or_insert((0, v.metric));
            entry.0 += v.doc_count;
        }
    }
    let mut sample: Vec<(String, (u64, f64))> = non_outliers.into_iter().collect();
    sample.sort_by(|(ta, (na, xa)), (tb, (nb, xb))| {
        nb.cmp(na)
            .then_with(|| number_order(*xa, *xb))
            .then_with(|| ta.cmp(tb))
    });
    Some(Evaluation {
        decision_frontier: frontier,
        outliers,
        non_outlier_values_sample: sample
            .into_iter()
            .take(SAMPLE_SIZE)
            .map(|(t, _)| t)
            .collect(),
    })
}

/// The list with whitelisted events taken out: `removed[i]` events fewer for entry i
/// (saturating at 0; a missing entry in `removed` removes nothing). Positions are kept, so
/// the indices of an [`Evaluation`] of the result still name the same target values.
pub fn subtract(values: &[MetricCount], removed: &[u64]) -> Vec<MetricCount> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| MetricCount {
            doc_count: v
                .doc_count
                .saturating_sub(removed.get(i).copied().unwrap_or(0)),
            ..*v
        })
        .collect()
}

/// The outcome of [`reevaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct Reevaluation<I> {
    /// The last round's evaluation; `None` when no event is left (or there was none).
    pub evaluation: Option<Evaluation>,
    /// The list the last round evaluated (whitelisted events taken out).
    pub values: Vec<MetricCount>,
    /// Per entry index, the ids of its whitelisted events (never tag these). Entries with
    /// none are absent.
    pub whitelisted: BTreeMap<usize, BTreeSet<I>>,
    /// Evaluations done (1 when nothing was whitelisted).
    pub rounds: usize,
}

/// Whitelist re-evaluation of one aggregator, as `metrics.py`
/// (`_evaluate_aggregator_for_outliers`) does it: evaluate; when outlier events are
/// whitelisted, take them out of the list and evaluate again (the frontier moves); stop at
/// the first round in which no new whitelisted event is found, whose outliers are the
/// result (earlier rounds' outliers are dropped, as in ee-outliers); or when no event is
/// left.
///
/// `whitelisted_events(index, evaluation)` answers, for one outlier value of the current
/// round, the ids of its events that the whitelist covers when checked with THIS round's
/// outlier information (frontier, confidence, sample). Ids returned before may come again.
/// It must only return events of that value; then each continuing round removes at least
/// one event, so there are at most 1 + Σ doc_count rounds.
pub fn reevaluate<I: Ord>(
    spec: &TriggerSpec,
    values: &[MetricCount],
    mut whitelisted_events: impl FnMut(usize, &Evaluation) -> BTreeSet<I>,
) -> Reevaluation<I> {
    let mut whitelisted: BTreeMap<usize, BTreeSet<I>> = BTreeMap::new();
    let mut rounds = 0;
    loop {
        rounds += 1;
        let removed: Vec<u64> = (0..values.len())
            .map(|i| whitelisted.get(&i).map_or(0, |ids| ids.len() as u64))
            .collect();
        let current = subtract(values, &removed);
        let evaluation = evaluate(spec, &current);
        let mut found_new = false;
        if let Some(e) = &evaluation {
            for o in &e.outliers {
                let ids = whitelisted_events(o.index, e);
                if ids.is_empty() {
                    continue;
                }
                let known = whitelisted.entry(o.index).or_default();
                for id in ids {
                    found_new |= known.insert(id);
                }
            }
        }
        if !found_new {
            return Reevaluation {
                evaluation,
                values: current,
                whitelisted,
                rounds,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Expected values marked "Python" were computed by Python 3.6.15 with numpy 1.16.4
    // (ee-outliers 0.2.17's pins) calling ee-outliers' own `get_decision_frontier` or
    // `statistics.mean` on the EXPANDED list (each value repeated as often as its weight).

    fn spec(method: TriggerMethod, on: TriggerOn, s: f64) -> TriggerSpec {
        TriggerSpec {
            on,
            method,
            sensitivity: s,
        }
    }

    fn fr(method: TriggerMethod, on: TriggerOn, s: f64, values: &[(f64, u64)]) -> f64 {
        frontier_weighted(&spec(method, on, s), values).expect("the list has events")
    }

    fn mc(metric: f64, doc_count: u64) -> MetricCount {
        MetricCount {
            metric,
            integral: true,
            doc_count,
        }
    }

    /// The expanded list, one entry per event.
    fn expand(values: &[(f64, u64)]) -> Vec<f64> {
        values
            .iter()
            .flat_map(|&(x, w)| std::iter::repeat_n(x, w as usize))
            .collect()
    }

    #[test]
    fn mean_is_exact_like_python_statistics_mean() {
        // Python: statistics.mean([0.1] * 10) 0.1, where summing left to right gives
        // 0.09999999999999999; statistics.mean([1e16, 1.0, -1e16]) 0.3333333333333333.
        assert_eq!(mean(&[(0.1, 10)]), 0.1);
        assert_eq!(mean(&[(1e16, 1), (1.0, 1), (-1e16, 1)]), 0.3333333333333333);
        // Python: statistics.mean([2.5216406363433186] * 999 + [1.0]) 2.520118995706975.
        assert_eq!(
            mean(&[(2.5216406363433186, 999), (1.0, 1)]),
            2.520118995706975
        );
    }

    #[test]
    fn mean_does_not_overflow_on_a_heavy_large_value() {
        // Python: statistics.mean([1e308] * 10) 1e+308 (a float sum would reach inf).
        assert_eq!(mean(&[(1e308, 10)]), 1e308);
        assert_eq!(mean(&[(f64::MAX, u64::MAX)]), f64::MAX);
    }

    #[test]
    fn mean_rounds_subnormals_half_to_even() {
        // Python: statistics.mean([5e-324, 0.0]) 0.0 (half a unit: ties to even 0);
        // statistics.mean([5e-324] * 3 + [0.0]) 5e-324 (three quarters: up).
        assert_eq!(mean(&[(5e-324, 1), (0.0, 1)]), 0.0);
        assert_eq!(mean(&[(5e-324, 3), (0.0, 1)]), 5e-324);
    }

    #[test]
    fn mean_of_non_finite_values_follows_ieee() {
        // Python: statistics.mean([inf, 1.0]) inf; [inf, -inf] nan; [nan, 1.0] nan.
        assert_eq!(mean(&[(f64::INFINITY, 1), (1.0, 1)]), f64::INFINITY);
        assert!(mean(&[(f64::INFINITY, 1), (f64::NEG_INFINITY, 1)]).is_nan());
        assert!(mean(&[(f64::NAN, 1), (1.0, 1)]).is_nan());
        // A weight-0 NaN is no event.
        assert_eq!(mean(&[(f64::NAN, 0), (1.0, 1)]), 1.0);
    }

    #[test]
    fn median_and_mad_count_each_event() {
        // expanded [1, 1, 5, 9]: median (1 + 5) / 2 = 3; deviations [2, 2, 2, 6]: MAD 2.
        let v = [(9.0, 1), (1.0, 2), (5.0, 1)];
        assert_eq!(median(&v), 3.0);
        assert_eq!(mad(&v), 2.0);
        // expanded [1, 1, 1, 5, 9]: median 1, deviations [0, 0, 0, 4, 8]: MAD 0.
        let v = [(9.0, 1), (1.0, 3), (5.0, 1)];
        assert_eq!((median(&v), mad(&v)), (1.0, 0.0));
    }

    #[test]
    fn frontiers_match_ee_outliers_on_an_integral_list() {
        // lengths [3, 3, 10, 100], s = 50. Python, get_decision_frontier on the expanded
        // list: avg 14.5, max 50.0, median 3.25, percentile 10.0 (distinct [3, 10, 100]),
        // stdev low -2025.5680811304355 / high 2083.5680811304355, mad low -168.5 / high
        // 181.5, madpos low 0.0, float 50.0, coeff_of_variation 1.4169435042278864.
        use TriggerMethod::*;
        use TriggerOn::*;
        let v = [(3.0, 2), (10.0, 1), (100.0, 1)];
        for (method, on, want) in [
            (PctOfAvgValue, Low, 14.5),
            (PctOfMaxValue, Low, 50.0),
            (PctOfMedianValue, Low, 3.25),
            (Percentile, Low, 10.0),
            (Stdev, Low, -2025.5680811304355),
            (Stdev, High, 2083.5680811304355),
            (Mad, Low, -168.5),
            (Mad, High, 181.5),
            (Madpos, Low, 0.0),
            (Madpos, High, 181.5),
            (Float, High, 50.0),
            (CoeffOfVariation, Low, 1.4169435042278864),
            (CoeffOfVariation, High, 1.4169435042278864),
        ] {
            assert_eq!(fr(method, on, 50.0, &v), want, "{method:?} {on:?}");
        }
    }

    #[test]
    fn frontiers_match_ee_outliers_on_entropies() {
        // entropies [2.5216406363433186 x7, 1.0 x2, 3.3, 0.0], s = 30. Python:
        // avg 0.625949576029179, median 0.7564921909029956, percentile 0.8999999999999999,
        // stdev low -25.811390796392274 / high 29.984387969920135, mad low
        // 1.1565689406587234 / high 3.0164282328691367, coeff_of_variation
        // 0.445689085055882.
        use TriggerMethod::*;
        use TriggerOn::*;
        let v = [(2.5216406363433186, 7), (1.0, 2), (3.3, 1), (0.0, 1)];
        for (method, on, want) in [
            (PctOfAvgValue, Low, 0.625949576029179),
            (PctOfMedianValue, Low, 0.7564921909029956),
            (Percentile, Low, 0.8999999999999999),
            (Stdev, Low, -25.811390796392274),
            (Stdev, High, 29.984387969920135),
            (Mad, Low, 1.1565689406587234),
            (Mad, High, 3.0164282328691367),
            (CoeffOfVariation, High, 0.445689085055882),
        ] {
            assert_eq!(fr(method, on, 30.0, &v), want, "{method:?} {on:?}");
        }
    }

    #[test]
    fn percentile_uses_distinct_values_and_numpy_1_16_interpolation() {
        // Python: 5th percentile of [6] * 1000 + [26] -> distinct [6, 26]:
        // 6 * 0.95 + 26 * 0.05 = 6.999999999999999 (not 7.0, which 6 + 20 * 0.05 gives).
        let f = fr(
            TriggerMethod::Percentile,
            TriggerOn::Low,
            5.0,
            &[(6.0, 1000), (26.0, 1)],
        );
        assert_eq!(f, 6.999999999999999);
        // The weights play no part.
        let g = fr(
            TriggerMethod::Percentile,
            TriggerOn::Low,
            5.0,
            &[(6.0, 1), (26.0, 9)],
        );
        assert_eq!(f, g);
    }

    #[test]
    fn mad_falls_back_to_one_stdev_when_more_than_half_are_equal() {
        // [1, 2, 3 x5, 40], s = 3: MAD 0 -> nanmean - 1 * std. Python, get_decision_frontier
        // on the expanded list: mad low -5.147076268217438; madpos low 0.0.
        let v = [(1.0, 1), (2.0, 1), (3.0, 5), (40.0, 1)];
        assert_eq!(
            fr(TriggerMethod::Mad, TriggerOn::Low, 3.0, &v),
            -5.147076268217438
        );
        assert_eq!(fr(TriggerMethod::Madpos, TriggerOn::Low, 3.0, &v), 0.0);
    }

    #[test]
    fn stdev_sums_squares_exactly_where_numpy_depends_on_event_order() {
        // [5, 5, 5, 6, 20], mad high s = 2 -> fallback 8.2 + std. Python: np.std over the
        // 120 orders of these events gives 5.912698199637792, ...793 or ...794 (its float
        // sum of squares follows the event order); ee-outliers' frontier for the order
        // above is 14.11269819963779. The exactly summed std is 5.912698199637793
        // (Python, with fractions.Fraction), so the frontier is 14.112698199637792 for
        // every order.
        let v = [(5.0, 3), (6.0, 1), (20.0, 1)];
        assert_eq!(pstdev(&v), 5.912698199637793);
        assert_eq!(
            fr(TriggerMethod::Mad, TriggerOn::High, 2.0, &v),
            14.112698199637792
        );
    }

    #[test]
    fn nan_metrics_are_ignored_by_the_nan_aware_helpers_only() {
        // Python: mad high s=1 over [1, 2, 2, 9, nan] 2.5 (nanmedian ignores NaN);
        // stdev over [1, 2, nan] nan; pct_of_max 100% over [1, nan, 3] 3.0.
        let v = [(1.0, 1), (2.0, 2), (9.0, 1), (f64::NAN, 1)];
        assert_eq!(fr(TriggerMethod::Mad, TriggerOn::High, 1.0, &v), 2.5);
        let v = [(1.0, 1), (2.0, 1), (f64::NAN, 1)];
        assert!(fr(TriggerMethod::Stdev, TriggerOn::High, 1.0, &v).is_nan());
        let v = [(1.0, 1), (f64::NAN, 1), (3.0, 1)];
        assert_eq!(
            fr(TriggerMethod::PctOfMaxValue, TriggerOn::High, 100.0, &v),
            3.0
        );
        // madpos keeps a NaN frontier NaN (Python's max([nan, 0]) is nan).
        let v = [(1.0, 3), (f64::NAN, 1)];
        assert!(fr(TriggerMethod::Madpos, TriggerOn::Low, 1.0, &v).is_nan());
    }

    #[test]
    fn coeff_of_variation_compares_each_metric_with_the_ratio() {
        // Python: get_decision_frontier('coeff_of_variation', [1, 2, 3]) 0.408248290463863;
        // every metric is above it: `high` flags them all, `low` none, whatever s.
        let values = [mc(1.0, 1), mc(2.0, 1), mc(3.0, 1)];
        for s in [0.0, 1.0, 1000.0] {
            let high = evaluate(
                &spec(TriggerMethod::CoeffOfVariation, TriggerOn::High, s),
                &values,
            )
            .unwrap();
            assert_eq!(high.decision_frontier, 0.408248290463863);
            assert_eq!(high.outliers.len(), 3);
            let low = evaluate(
                &spec(TriggerMethod::CoeffOfVariation, TriggerOn::Low, s),
                &values,
            )
            .unwrap();
            assert!(low.outliers.is_empty());
        }
        // Python: [0, 0] -> nan (0 / 0), [-1, 1] -> inf (2 / 0 after a zero mean).
        assert!(fr(
            TriggerMethod::CoeffOfVariation,
            TriggerOn::Low,
            1.0,
            &[(0.0, 2)]
        )
        .is_nan());
        assert_eq!(
            fr(
                TriggerMethod::CoeffOfVariation,
                TriggerOn::Low,
                1.0,
                &[(-1.0, 1), (1.0, 1)]
            ),
            f64::INFINITY
        );
    }

    #[test]
    fn no_events_means_no_frontier() {
        for m in TriggerMethod::ALL {
            assert_eq!(frontier_weighted(&spec(m, TriggerOn::Low, 1.0), &[]), None);
            assert_eq!(
                frontier_weighted(&spec(m, TriggerOn::Low, 1.0), &[(3.0, 0)]),
                None
            );
        }
        assert_eq!(
            evaluate(
                &spec(TriggerMethod::Float, TriggerOn::Low, 1.0),
                &[mc(3.0, 0)]
            ),
            None
        );
    }

    #[test]
    fn evaluation_flags_values_strictly_beyond_with_confidence() {
        // lengths 120 (1 event), 40 (30), 35 (10), 50 (5); float frontier 100, high:
        // only 120, confidence |100 - 120| = 20. A metric equal to the frontier is not
        // flagged.
        let values = [
            mc(120.0, 1),
            mc(40.0, 30),
            mc(35.0, 10),
            mc(50.0, 5),
            mc(100.0, 2),
        ];
        let e = evaluate(&spec(TriggerMethod::Float, TriggerOn::High, 100.0), &values).unwrap();
        assert_eq!(e.decision_frontier, 100.0);
        assert_eq!(
            e.outliers,
            vec![OutlierValue {
                index: 0,
                confidence: 20.0
            }]
        );
        // Sample: most events first (40: 30, 35: 10, 50: 5), then 100 is left out.
        assert_eq!(e.non_outlier_values_sample, vec!["40", "35", "50"]);
    }

    #[test]
    fn sample_renders_python_str_and_merges_equal_texts() {
        // Two target values with the same int length 7 are one sample text; a float metric
        // 7.0 is another text ('7.0'); ties on events go by metric value.
        let values = [
            mc(7.0, 2),
            mc(7.0, 2),
            MetricCount {
                metric: 7.0,
                integral: false,
                doc_count: 1,
            },
            mc(3.0, 1),
            mc(0.0, 9),
        ];
        // float 1, low: only 0 is an outlier.
        let e = evaluate(&spec(TriggerMethod::Float, TriggerOn::Low, 1.0), &values).unwrap();
        assert_eq!(
            e.outliers.iter().map(|o| o.index).collect::<Vec<_>>(),
            vec![4]
        );
        assert_eq!(e.non_outlier_values_sample, vec!["7", "3", "7.0"]);
    }

    #[test]
    fn sample_is_empty_when_every_value_is_an_outlier() {
        let e = evaluate(
            &spec(TriggerMethod::Float, TriggerOn::Low, 10.0),
            &[mc(1.0, 3), mc(2.0, 1)],
        )
        .unwrap();
        assert_eq!(e.outliers.len(), 2);
        assert!(e.non_outlier_values_sample.is_empty());
    }

    #[test]
    fn subtract_keeps_positions_and_saturates() {
        let values = [mc(1.0, 3), mc(2.0, 1), mc(3.0, 2)];
        let left = subtract(&values, &[1, 5]);
        assert_eq!(
            left.iter().map(|v| v.doc_count).collect::<Vec<_>>(),
            vec![2, 0, 2]
        );
        assert_eq!(left[1].metric, 2.0);
    }

    #[test]
    fn whitelisted_outliers_leave_the_list_and_the_frontier_moves() {
        // lengths: 1000 (1 event, whitelisted), 100 (1), 10 (20). pct_of_avg 200%, high.
        // Round 1: mean (1000 + 100 + 200) / 22 = 59.09.. -> frontier 118.18..: 1000 is the
        // only outlier; it is whitelisted. Round 2: mean 300 / 21 -> frontier 28.57..:
        // 100 is now an outlier, not whitelisted: the result.
        let values = [mc(1000.0, 1), mc(100.0, 1), mc(10.0, 20)];
        let s = spec(TriggerMethod::PctOfAvgValue, TriggerOn::High, 200.0);
        let r = reevaluate(&s, &values, |index, _| {
            if index == 0 {
                BTreeSet::from(["event-a"])
            } else {
                BTreeSet::new()
            }
        });
        assert_eq!(r.rounds, 2);
        let e = r.evaluation.unwrap();
        assert_eq!(
            e.outliers.iter().map(|o| o.index).collect::<Vec<_>>(),
            vec![1]
        );
        assert_eq!(e.decision_frontier, (300.0 / 21.0) * 2.0);
        assert_eq!(r.values[0].doc_count, 0);
        assert_eq!(r.whitelisted[&0], BTreeSet::from(["event-a"]));
    }

    #[test]
    fn reevaluation_ends_without_evaluation_when_every_event_is_whitelisted() {
        let values = [mc(5.0, 1)];
        let s = spec(TriggerMethod::Float, TriggerOn::High, 1.0);
        let r = reevaluate(&s, &values, |_, _| BTreeSet::from([1]));
        assert_eq!(r.rounds, 2);
        assert_eq!(r.evaluation, None);
    }

    #[test]
    fn reevaluation_without_whitelisted_events_takes_one_round() {
        let values = [mc(5.0, 1), mc(1.0, 4)];
        let s = spec(TriggerMethod::Float, TriggerOn::High, 2.0);
        let r = reevaluate(&s, &values, |_, _| BTreeSet::<u32>::new());
        assert_eq!(r.rounds, 1);
        assert_eq!(r.evaluation.unwrap().outliers.len(), 1);
        assert!(r.whitelisted.is_empty());
    }

    // ---- properties against the expanded (one entry per event) list ----

    /// A plain per-event implementation of ee-outliers' formulas, for comparison: sums
    /// left to right, sorts, picks. Exact whenever its sums are (integral values).
    fn reference(spec: &TriggerSpec, events: &[f64]) -> f64 {
        let n = events.len() as f64;
        let mean = events.iter().sum::<f64>() / n;
        let std = (events.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
        let median = |v: &[f64]| {
            let mut v = v.to_vec();
            v.sort_by(f64::total_cmp);
            let k = v.len();
            if k % 2 == 1 {
                v[k / 2]
            } else {
                (v[k / 2 - 1] + v[k / 2]) / 2.0
            }
        };
        let med = median(events);
        let dev: Vec<f64> = events.iter().map(|x| (x - med).abs()).collect();
        let mad = median(&dev);
        let s = spec.sensitivity;
        let sign = if spec.on == TriggerOn::High {
            1.0
        } else {
            -1.0
        };
        match spec.method {
            TriggerMethod::PctOfAvgValue => mean * (s / 100.0),
            TriggerMethod::PctOfMaxValue => {
                events.iter().copied().fold(f64::MIN, f64::max) * (s / 100.0)
            }
            TriggerMethod::PctOfMedianValue => med * (s / 100.0),
            TriggerMethod::Percentile => {
                let mut d = events.to_vec();
                d.sort_by(f64::total_cmp);
                d.dedup();
                let rank = s / 100.0 * (d.len() - 1) as f64;
                let lo = rank.floor() as usize;
                let hi = (lo + 1).min(d.len() - 1);
                let w = rank - lo as f64;
                d[lo] * (1.0 - w) + d[hi] * w
            }
            TriggerMethod::Stdev => mean + sign * s * std,
            TriggerMethod::Mad | TriggerMethod::Madpos => {
                let by_mad = med + sign * s * mad;
                let f = if by_mad == med {
                    mean + sign * std
                } else {
                    by_mad
                };
                if spec.method == TriggerMethod::Madpos && f < 0.0 {
                    0.0
                } else {
                    f
                }
            }
            TriggerMethod::Float => s,
            TriggerMethod::CoeffOfVariation => std / mean,
        }
    }

    /// Methods whose frontier involves a sum of squared deviations: the reference's
    /// left-to-right float sum and the exact sum may differ in the last bits.
    fn sums_squares(method: TriggerMethod) -> bool {
        matches!(
            method,
            TriggerMethod::Stdev
                | TriggerMethod::Mad
                | TriggerMethod::Madpos
                | TriggerMethod::CoeffOfVariation
        )
    }

    fn close(a: f64, b: f64) -> bool {
        a == b
            || (a.is_nan() && b.is_nan())
            || (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
    }

    fn any_method() -> impl Strategy<Value = TriggerMethod> {
        proptest::sample::select(TriggerMethod::ALL.to_vec())
    }

    fn any_on() -> impl Strategy<Value = TriggerOn> {
        prop_oneof![Just(TriggerOn::Low), Just(TriggerOn::High)]
    }

    proptest! {
        #[test]
        fn weighted_frontier_equals_the_expanded_list_on_integral_metrics(
            values in proptest::collection::vec((0u32..60, 1u64..6), 1..8),
            method in any_method(),
            on in any_on(),
            s in 0u32..=100,
        ) {
            let values: Vec<(f64, u64)> = values.into_iter().map(|(x, w)| (x as f64, w)).collect();
            let sp = spec(method, on, s as f64);
            let got = frontier_weighted(&sp, &values).unwrap();
            let want = reference(&sp, &expand(&values));
            if sums_squares(method) {
                prop_assert!(close(got, want), "{method:?} {got} vs {want}");
            } else {
                // Integral values: every sum is exact, so the frontier is bit-identical.
                prop_assert!(got == want || (got.is_nan() && want.is_nan()), "{method:?} {got} vs {want}");
            }
        }

        #[test]
        fn weighted_frontier_is_close_to_the_expanded_list_on_fractional_metrics(
            values in proptest::collection::vec((-1.0e3f64..1.0e3, 1u64..6), 1..8),
            method in any_method(),
            on in any_on(),
            s in 0u32..=100,
        ) {
            let sp = spec(method, on, s as f64);
            let got = frontier_weighted(&sp, &values).unwrap();
            let want = reference(&sp, &expand(&values));
            if method == TriggerMethod::CoeffOfVariation {
                // stdev / mean: a mean near 0 amplifies the last-bit differences.
                prop_assume!(mean(&values).abs() > 1e-6);
            }
            prop_assert!(close(got, want), "{method:?} {got} vs {want}");
        }

        #[test]
        fn weighted_frontier_does_not_depend_on_the_order_of_the_entries(
            (values, shuffled) in proptest::collection::vec(
                (prop_oneof![-1.0e3f64..1.0e3, Just(0.0), Just(-0.0), Just(f64::NAN)], 0u64..6),
                1..8,
            )
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle())),
            method in any_method(),
            on in any_on(),
        ) {
            let sp = spec(method, on, 30.0);
            let a = frontier_weighted(&sp, &values);
            let b = frontier_weighted(&sp, &shuffled);
            let same = match (a, b) {
                (Some(x), Some(y)) => x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan()),
                (x, y) => x.is_none() && y.is_none(),
            };
            prop_assert!(same, "{a:?} vs {b:?}");
        }

        #[test]
        fn evaluation_flags_a_value_exactly_when_its_events_are_flagged_in_the_expanded_list(
            values in proptest::collection::vec((0u32..60, 0u64..6), 1..8),
            method in any_method(),
            on in any_on(),
            s in 0u32..=100,
        ) {
            let sp = spec(method, on, s as f64);
            let list: Vec<MetricCount> = values.iter().map(|&(x, w)| mc(x as f64, w)).collect();
            let weighted: Vec<(f64, u64)> = values.iter().map(|&(x, w)| (x as f64, w)).collect();
            let events = expand(&weighted);
            let e = evaluate(&sp, &list);
            prop_assert_eq!(e.is_none(), events.is_empty());
            if let Some(e) = e {
                let flagged: Vec<usize> = e.outliers.iter().map(|o| o.index).collect();
                let want: Vec<usize> = list
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.doc_count > 0 && is_outlier(on, v.metric, e.decision_frontier))
                    .map(|(i, _)| i)
                    .collect();
                prop_assert_eq!(&flagged, &want);
                if !sums_squares(method) {
                    prop_assert_eq!(e.decision_frontier.to_bits(), reference(&sp, &events).to_bits());
                }
                for o in &e.outliers {
                    prop_assert_eq!(o.confidence, (e.decision_frontier - list[o.index].metric).abs());
                }
            }
        }

        #[test]
        fn unit_weights_agree_with_the_terms_trigger_math_where_the_rules_coincide(
            values in proptest::collection::vec(0u32..60, 1..12),
            on in any_on(),
            s in 0u32..=100,
        ) {
            // Same rules in metrics.py and terms.py for these methods; integral values make
            // every sum exact in both, except the sums of squares (stdev, the MAD fallback).
            // `percentile` (numpy 1.16 interpolation here) and `coeff_of_variation`
            // (a per-aggregator test in terms) differ on purpose.
            let plain: Vec<f64> = values.iter().map(|&x| x as f64).collect();
            let weighted: Vec<(f64, u64)> = plain.iter().map(|&x| (x, 1)).collect();
            for method in [
                TriggerMethod::PctOfAvgValue,
                TriggerMethod::PctOfMaxValue,
                TriggerMethod::PctOfMedianValue,
                TriggerMethod::Float,
                TriggerMethod::Stdev,
                TriggerMethod::Mad,
                TriggerMethod::Madpos,
            ] {
                let sp = spec(method, on, s as f64);
                let ours = frontier_weighted(&sp, &weighted).unwrap();
                let terms = crate::evaluate::trigger::frontier(&sp, &plain).unwrap();
                prop_assert!(close(ours, terms), "{method:?} {ours} vs {terms}");
            }
        }

        #[test]
        fn exact_mean_matches_an_integer_computation(
            values in proptest::collection::vec((-1_000_000i64..1_000_000, 1u64..1000), 1..10),
        ) {
            // Integers: Σ w·x is exact in i128, and the quotient by an integer correctly
            // rounded is what an f64 division of two exactly representable numbers gives.
            let sum: i128 = values.iter().map(|&(x, w)| x as i128 * w as i128).sum();
            let n: u64 = values.iter().map(|(_, w)| w).sum();
            let weighted: Vec<(f64, u64)> = values.iter().map(|&(x, w)| (x as f64, w)).collect();
            prop_assert_eq!(mean(&weighted), sum as f64 / n as f64);
        }
    }
}
