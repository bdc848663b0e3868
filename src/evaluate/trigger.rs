//! Stage `evaluate` (PURE): the trigger math of SPEC section 3. A list of values in, a
//! frontier out.
//!
//! Must not: log, read a clock, or keep state. Results do not depend on the order of
//! `values` except possibly in the last bits of a sum (sums run left to right; callers
//! pass values in a fixed order, so results are reproducible).
//!
//! Invariants:
//! - an empty list has no frontier ([`frontier`] returns `None`); nothing is flagged;
//! - a value is an outlier when it is STRICTLY below (`low`) or strictly above (`high`)
//!   the frontier: a value equal to the frontier is never flagged;
//! - a negative frontier flags nothing for `low`: the values are event counts (>= 1 for a
//!   pair that exists, >= 0 in general), and no count is strictly below a negative number.
//!   This falls out of the strict comparison; SPEC asks to say so at debug level, which is
//!   the caller's job (this module does not log).
//!
//! Floating-point order follows ee-outliers where it matters for exact comparisons:
//! `pct_of_*` compute `x * (s / 100)` (ee-outliers writes `value * (trigger_sensitivity /
//! 100)`), which can differ in the last bit from `x * s / 100`.

use crate::config::{TriggerMethod, TriggerOn, TriggerSpec};
use crate::evaluate::Stats;

/// Arithmetic mean, sum / n, summed left to right; 0 for an empty list.
///
/// For integer counts whose sum is below 2^53 the sum is exact, so the result is the
/// correctly rounded mean, as Python's `statistics.mean` returns it.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Median: the middle value of the sorted list, or the mean of the two middle values when
/// the length is even ((a + b) / 2); 0 for an empty list.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// Largest value; 0 for an empty list.
pub fn max(values: &[f64]) -> f64 {
    values.iter().copied().reduce(f64::max).unwrap_or(0.0)
}

/// Population standard deviation (numpy's `np.std`, ddof = 0):
/// sqrt(sum((x - mean)^2) / n). 0 for an empty list, a single value, or all-equal values.
pub fn pstdev(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let m = mean(values);
    let sum_sq: f64 = values.iter().map(|x| (x - m) * (x - m)).sum();
    (sum_sq / values.len() as f64).sqrt()
}

/// Median absolute deviation: median(|x - median(values)|). 0 for an empty list, and
/// whenever more than half of the values equal the median.
pub fn mad(values: &[f64]) -> f64 {
    let m = median(values);
    let deviations: Vec<f64> = values.iter().map(|x| (x - m).abs()).collect();
    median(&deviations)
}

/// The `p`-th percentile (0..=100) of the DISTINCT values, as numpy 1.16 (ee-outliers
/// 0.2.17's pin) computes `np.percentile(list(set(values)), p)`: sort and deduplicate into
/// k values d[0..k]; rank = p / 100 * (k - 1); lo = floor(rank), hi = min(lo + 1, k - 1),
/// w = rank - lo; result = d[lo] * (1 - w) + d[hi] * w. That form is numpy 1.16's and can
/// differ in the last bit from d[lo] + (d[hi] - d[lo]) * w ([6, 26] at 5 gives
/// 6.999999999999999, not 7.0), which decides a strict comparison with a count of 7.
/// One distinct value: that value, whatever `p`. Empty list: 0. `p` outside 0..=100 is
/// clamped (config rejects it; clamping keeps the index in range).
pub fn percentile_of_distinct(values: &[f64], p: f64) -> f64 {
    let mut distinct = values.to_vec();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.is_empty() {
        return 0.0;
    }
    let k = distinct.len();
    let rank = (p / 100.0).clamp(0.0, 1.0) * (k - 1) as f64;
    let lo = (rank.floor() as usize).min(k - 1);
    let hi = (lo + 1).min(k - 1);
    let w = rank - lo as f64;
    distinct[lo] * (1.0 - w) + distinct[hi] * w
}

/// Summary statistics of `values` (for findings and reports). An empty list gives `n = 0`
/// and zeros everywhere, with `coeff_of_variation = None`.
pub fn stats(values: &[f64]) -> Stats {
    let m = mean(values);
    let sd = pstdev(values);
    Stats {
        n: values.len(),
        mean: m,
        median: median(values),
        max: max(values),
        stdev: sd,
        // stdev / mean is undefined for a zero mean (numpy gives NaN there, which
        // ee-outliers then never flags): None.
        coeff_of_variation: (m != 0.0).then(|| sd / m),
    }
}

/// +1 for `high` (the frontier lies above the centre), -1 for `low`.
fn direction(on: TriggerOn) -> f64 {
    match on {
        TriggerOn::Low => -1.0,
        TriggerOn::High => 1.0,
    }
}

/// The decision frontier of `spec` over `values`; `None` for an empty list (nothing can be
/// judged against nothing).
///
/// With s = `spec.sensitivity`:
/// - `pct_of_avg_value`: mean * (s / 100); a zero average gives frontier 0, which flags
///   nothing for `low` (counts are >= 0) and every non-zero count for `high`;
/// - `pct_of_max_value`: max * (s / 100);
/// - `pct_of_median_value`: median * (s / 100), median of an even list = mean of the two
///   middle values;
/// - `percentile`: [`percentile_of_distinct`]`(values, s)`;
/// - `stdev`: mean + s * pstdev (`high`) or mean - s * pstdev (`low`); one value or
///   all-equal values: pstdev = 0, frontier = the mean, nothing flagged;
/// - `mad`: median +/- s * MAD; when that frontier equals the median (MAD = 0, i.e. more
///   than half the values are equal; or s = 0) it is replaced by mean +/- 1 * pstdev (1,
///   not s: ee-outliers' fallback);
/// - `madpos`: as `mad`, then max(frontier, 0);
/// - `float`: s itself;
/// - `coeff_of_variation`: the ratio pstdev / mean of the values (what ee-outliers
///   writes as `decision_frontier`, `helpers/utils.py`); NaN when the mean is 0 (all
///   values 0; numpy's 0/0). The values are not compared with it one by one: the whole
///   list is judged by [`coeff_of_variation_is_outlier`] (the ratio against s).
pub fn frontier(spec: &TriggerSpec, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let s = spec.sensitivity;
    let sign = direction(spec.on);
    let f = match spec.method {
        TriggerMethod::PctOfAvgValue => mean(values) * (s / 100.0),
        TriggerMethod::PctOfMaxValue => max(values) * (s / 100.0),
        TriggerMethod::PctOfMedianValue => median(values) * (s / 100.0),
        TriggerMethod::Percentile => percentile_of_distinct(values, s),
        TriggerMethod::Stdev => mean(values) + sign * s * pstdev(values),
        TriggerMethod::Mad | TriggerMethod::Madpos => {
            let med = median(values);
            let by_mad = med + sign * s * mad(values);
            // ee-outliers tests `frontier == median` rather than `MAD == 0`: the same
            // thing, plus s = 0. A frontier at the median would flag about half of the
            // values, so it falls back to one standard deviation around the mean.
            let f = if by_mad == med {
                mean(values) + sign * pstdev(values)
            } else {
                by_mad
            };
            if spec.method == TriggerMethod::Madpos {
                f.max(0.0)
            } else {
                f
            }
        }
        TriggerMethod::Float => s,
        TriggerMethod::CoeffOfVariation => pstdev(values) / mean(values),
    };
    Some(f)
}

/// Strict comparison: `low` flags `value < frontier`, `high` flags `value > frontier`.
/// A value equal to the frontier is not an outlier either way. NaN is never an outlier.
pub fn is_outlier(on: TriggerOn, value: f64, frontier: f64) -> bool {
    match on {
        TriggerOn::Low => value < frontier,
        TriggerOn::High => value > frontier,
    }
}

/// `coeff_of_variation`: the whole list is an outlier when ratio = pstdev / mean is
/// strictly below (`low`) or strictly above (`high`) the sensitivity. A zero mean (or an
/// empty list) has no ratio: nothing is flagged. All-equal values have ratio 0: flagged by
/// `low` with any s > 0, never by `high`.
pub fn coeff_of_variation_is_outlier(spec: &TriggerSpec, values: &[f64]) -> bool {
    match stats(values).coeff_of_variation {
        Some(ratio) => is_outlier(spec.on, ratio, spec.sensitivity),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(method: TriggerMethod, on: TriggerOn, s: f64) -> TriggerSpec {
        TriggerSpec {
            on,
            method,
            sensitivity: s,
        }
    }

    fn fr(method: TriggerMethod, on: TriggerOn, s: f64, values: &[f64]) -> f64 {
        frontier(&spec(method, on, s), values).expect("non-empty list has a frontier")
    }

    fn assert_close(actual: f64, expected: f64) {
        assert!(
            (actual - expected).abs() < 1e-9,
            "expected {expected}, got {actual}"
        );
    }

    #[test]
    fn pct_of_avg_flags_child_below_one_percent() {
        // SPEC section 1: adobe.exe's children average 200, cmd.exe appears once.
        // [399, 200, 1]: mean = 600 / 3 = 200; frontier = 200 * 1% = 2; 1 < 2.
        let v = [399.0, 200.0, 1.0];
        let f = fr(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 1.0, &v);
        assert_close(f, 2.0);
        assert!(is_outlier(TriggerOn::Low, 1.0, f));
        assert!(!is_outlier(TriggerOn::Low, 200.0, f));
    }

    #[test]
    fn child_at_exact_frontier_is_not_flagged() {
        // [398, 2]: mean 200; 200 * (1 / 100) = 2 exactly in f64; 2 < 2 is false.
        let v = [398.0, 2.0];
        let f = fr(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 1.0, &v);
        assert_eq!(f, 2.0);
        assert!(!is_outlier(TriggerOn::Low, 2.0, f));
        // high is strict too: float frontier 2, value 2 is not above it.
        assert!(!is_outlier(TriggerOn::High, 2.0, 2.0));
    }

    #[test]
    fn pct_of_avg_multiplies_by_the_percentage_first_as_ee_outliers_does() {
        // 3 * (7 / 100) and 3 * 7 / 100 differ in the last bit: 0.21000000000000002 vs
        // 0.21. The frontier must be the former (ee-outliers' order).
        let v = [3.0];
        let f = fr(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 7.0, &v);
        assert_eq!(f, 3.0 * (7.0 / 100.0));
        assert_eq!(f.to_bits(), 0.21000000000000002_f64.to_bits());
    }

    #[test]
    fn pct_of_max_takes_a_percentage_of_the_largest_count() {
        // max of [1, 3, 10, 50] = 50; 10% -> 5; 3 < 5 flagged, 10 not.
        let v = [1.0, 3.0, 10.0, 50.0];
        let f = fr(TriggerMethod::PctOfMaxValue, TriggerOn::Low, 10.0, &v);
        assert_close(f, 5.0);
        assert!(is_outlier(TriggerOn::Low, 3.0, f));
        assert!(!is_outlier(TriggerOn::Low, 10.0, f));
    }

    #[test]
    fn pct_of_median_uses_mean_of_middle_values_for_even_lengths() {
        // even: [1, 3, 10, 50] -> (3 + 10) / 2 = 6.5; 50% -> 3.25.
        let v = [50.0, 1.0, 10.0, 3.0];
        assert_close(
            fr(TriggerMethod::PctOfMedianValue, TriggerOn::Low, 50.0, &v),
            3.25,
        );
        // odd: [1, 3, 10] -> 3; 100% -> 3.
        assert_close(
            fr(
                TriggerMethod::PctOfMedianValue,
                TriggerOn::Low,
                100.0,
                &[10.0, 1.0, 3.0],
            ),
            3.0,
        );
    }

    #[test]
    fn percentile_interpolates_over_distinct_values() {
        // [1, 1, 1, 2, 10] -> distinct [1, 2, 10], k = 3.
        // 50th: rank 0.5 * 2 = 1 -> d[1] = 2.
        // 75th: rank 1.5 -> 2 + (10 - 2) * 0.5 = 6.
        // 10th: rank 0.2 -> 1 + (2 - 1) * 0.2 = 1.2.
        let v = [1.0, 1.0, 1.0, 2.0, 10.0];
        assert_close(fr(TriggerMethod::Percentile, TriggerOn::Low, 50.0, &v), 2.0);
        assert_close(fr(TriggerMethod::Percentile, TriggerOn::Low, 75.0, &v), 6.0);
        assert_close(fr(TriggerMethod::Percentile, TriggerOn::Low, 10.0, &v), 1.2);
        // over ALL values the 50th would be 1 (the median); distinct values give 2.
    }

    #[test]
    fn percentile_of_one_distinct_value_is_that_value() {
        // distinct [7], k = 1, rank = 0 whatever p.
        for p in [0.0, 30.0, 100.0] {
            assert_eq!(
                fr(
                    TriggerMethod::Percentile,
                    TriggerOn::Low,
                    p,
                    &[7.0, 7.0, 7.0]
                ),
                7.0
            );
        }
    }

    #[test]
    fn percentile_bounds_are_min_and_max() {
        // 0th -> d[0] = 1; 100th -> d[k-1] = 10.
        let v = [10.0, 1.0, 2.0];
        assert_eq!(fr(TriggerMethod::Percentile, TriggerOn::Low, 0.0, &v), 1.0);
        assert_eq!(
            fr(TriggerMethod::Percentile, TriggerOn::High, 100.0, &v),
            10.0
        );
    }

    #[test]
    fn stdev_adds_for_high_and_subtracts_for_low() {
        // [2, 4, 4, 4, 5, 5, 7, 9]: mean 40 / 8 = 5; squared deviations
        // 9 + 1 + 1 + 1 + 0 + 0 + 4 + 16 = 32; 32 / 8 = 4; pstdev 2.
        // high, s = 1.5: 5 + 3 = 8; low: 5 - 3 = 2.
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert_eq!(pstdev(&v), 2.0);
        assert_close(fr(TriggerMethod::Stdev, TriggerOn::High, 1.5, &v), 8.0);
        assert_close(fr(TriggerMethod::Stdev, TriggerOn::Low, 1.5, &v), 2.0);
        assert!(is_outlier(TriggerOn::High, 9.0, 8.0));
        assert!(!is_outlier(TriggerOn::Low, 2.0, 2.0));
    }

    #[test]
    fn mad_is_median_plus_or_minus_s_times_mad() {
        // [1, 2, 3, 4, 100]: median 3; |x - 3| = [2, 1, 0, 1, 97] -> sorted
        // [0, 1, 1, 2, 97] -> MAD 1. high, s = 2: 3 + 2 = 5; low: 3 - 2 = 1.
        let v = [1.0, 2.0, 3.0, 4.0, 100.0];
        assert_eq!(mad(&v), 1.0);
        assert_close(fr(TriggerMethod::Mad, TriggerOn::High, 2.0, &v), 5.0);
        assert_close(fr(TriggerMethod::Mad, TriggerOn::Low, 2.0, &v), 1.0);
    }

    #[test]
    fn mad_zero_falls_back_to_mean_plus_or_minus_one_stdev() {
        // [5, 5, 5, 5, 25]: median 5, |x - 5| = [0, 0, 0, 0, 20] -> MAD 0, so
        // median +/- 3 * 0 = 5 = median: fall back. mean = 45 / 5 = 9; squared
        // deviations 4 * 16 + 256 = 320; 320 / 5 = 64; pstdev 8.
        // high: 9 + 1 * 8 = 17 (not 9 + 3 * 8 = 33); low: 9 - 8 = 1.
        let v = [5.0, 5.0, 5.0, 5.0, 25.0];
        assert_eq!(mad(&v), 0.0);
        assert_close(fr(TriggerMethod::Mad, TriggerOn::High, 3.0, &v), 17.0);
        assert_close(fr(TriggerMethod::Mad, TriggerOn::Low, 3.0, &v), 1.0);
        assert!(is_outlier(TriggerOn::High, 25.0, 17.0));
    }

    #[test]
    fn mad_with_zero_sensitivity_also_falls_back() {
        // [1, 2, 3, 4, 100], s = 0: 3 + 0 * 1 = 3 = median -> mean +/- pstdev.
        // mean 110 / 5 = 22; squared deviations 441 + 400 + 361 + 324 + 6084 = 7610;
        // 7610 / 5 = 1522; pstdev sqrt(1522) = 39.0128...; high: 61.0128...
        let v = [1.0, 2.0, 3.0, 4.0, 100.0];
        assert_close(
            fr(TriggerMethod::Mad, TriggerOn::High, 0.0, &v),
            22.0 + 1522.0_f64.sqrt(),
        );
    }

    #[test]
    fn madpos_never_goes_below_zero() {
        // [1, 2, 3, 4, 100], low, s = 5: 3 - 5 * 1 = -2; madpos caps at 0.
        let v = [1.0, 2.0, 3.0, 4.0, 100.0];
        assert_close(fr(TriggerMethod::Mad, TriggerOn::Low, 5.0, &v), -2.0);
        assert_eq!(fr(TriggerMethod::Madpos, TriggerOn::Low, 5.0, &v), 0.0);
        // above zero it is the same as mad: high 3 + 5 = 8.
        assert_close(fr(TriggerMethod::Madpos, TriggerOn::High, 5.0, &v), 8.0);
    }

    #[test]
    fn negative_frontier_flags_nothing_for_low() {
        // mad low s = 5 over [1, 2, 3, 4, 100] gives -2 (above); counts are >= 0, so no
        // count is strictly below it. (SPEC: the caller says so at debug level.)
        let v = [1.0, 2.0, 3.0, 4.0, 100.0];
        let f = fr(TriggerMethod::Mad, TriggerOn::Low, 5.0, &v);
        assert!(f < 0.0);
        assert!(v.iter().all(|x| !is_outlier(TriggerOn::Low, *x, f)));
        assert!(!is_outlier(TriggerOn::Low, 0.0, f));
    }

    #[test]
    fn float_frontier_is_the_sensitivity() {
        assert_eq!(
            fr(TriggerMethod::Float, TriggerOn::High, -3.5, &[1.0]),
            -3.5
        );
        assert_eq!(
            fr(TriggerMethod::Float, TriggerOn::Low, 4.0, &[1.0, 9.0]),
            4.0
        );
    }

    #[test]
    fn coeff_of_variation_compares_stdev_over_mean_with_sensitivity() {
        // [2, 4, 4, 4, 5, 5, 7, 9]: pstdev 2, mean 5 -> ratio 0.4.
        // low 0.5: 0.4 < 0.5 flagged; high 0.5: not; high 0.3: 0.4 > 0.3 flagged.
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        let cov = |on, s| {
            coeff_of_variation_is_outlier(&spec(TriggerMethod::CoeffOfVariation, on, s), &v)
        };
        assert!(cov(TriggerOn::Low, 0.5));
        assert!(!cov(TriggerOn::High, 0.5));
        assert!(cov(TriggerOn::High, 0.3));
        // at exactly the ratio: strict, not flagged.
        assert!(!cov(TriggerOn::Low, 0.4));
        assert_eq!(
            fr(TriggerMethod::CoeffOfVariation, TriggerOn::Low, 0.5, &v),
            0.4,
            "the frontier written is the ratio itself, as ee-outliers writes it"
        );
    }

    #[test]
    fn zero_average_flags_nothing_low_and_has_no_ratio() {
        // [0, 0]: mean 0. pct_of_avg frontier 0 * 10% = 0: 0 < 0 is false.
        let v = [0.0, 0.0];
        let f = fr(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 10.0, &v);
        assert_eq!(f, 0.0);
        assert!(!is_outlier(TriggerOn::Low, 0.0, f));
        // coeff_of_variation: 0 / 0 has no value -> nothing flagged either way.
        assert_eq!(stats(&v).coeff_of_variation, None);
        for on in [TriggerOn::Low, TriggerOn::High] {
            assert!(!coeff_of_variation_is_outlier(
                &spec(TriggerMethod::CoeffOfVariation, on, 1.0),
                &v
            ));
        }
    }

    #[test]
    fn one_value_is_never_an_outlier_of_itself() {
        // [5]: mean = median = max = 5, pstdev 0, MAD 0.
        // pct_* at 100%: 5 (not < 5, not > 5); stdev: 5 +/- 0; mad: fallback 5 +/- 0;
        // percentile of one distinct value: 5.
        let v = [5.0];
        for m in [
            TriggerMethod::PctOfAvgValue,
            TriggerMethod::PctOfMaxValue,
            TriggerMethod::PctOfMedianValue,
            TriggerMethod::Stdev,
            TriggerMethod::Mad,
            TriggerMethod::Madpos,
            TriggerMethod::Percentile,
        ] {
            for on in [TriggerOn::Low, TriggerOn::High] {
                let s = if m == TriggerMethod::Percentile {
                    50.0
                } else {
                    100.0
                };
                let f = fr(m, on, s, &v);
                assert_eq!(f, 5.0, "{m:?} {on:?}");
                assert!(!is_outlier(on, 5.0, f));
            }
        }
        let st = stats(&v);
        assert_eq!(
            (st.n, st.mean, st.median, st.max, st.stdev),
            (1, 5.0, 5.0, 5.0, 0.0)
        );
        assert_eq!(st.coeff_of_variation, Some(0.0));
    }

    #[test]
    fn all_equal_values_flag_nothing() {
        // [3, 3, 3]: mean = median = max = 3, pstdev 0, MAD 0 (-> fallback 3 +/- 0),
        // one distinct value (percentile 3). At s = 100% every centred method gives 3:
        // 3 is neither < 3 nor > 3.
        let v = [3.0, 3.0, 3.0];
        for (m, s) in [
            (TriggerMethod::PctOfAvgValue, 100.0),
            (TriggerMethod::PctOfMaxValue, 100.0),
            (TriggerMethod::PctOfMedianValue, 100.0),
            (TriggerMethod::Percentile, 10.0),
            (TriggerMethod::Stdev, 2.0),
            (TriggerMethod::Mad, 2.0),
            (TriggerMethod::Madpos, 2.0),
        ] {
            for on in [TriggerOn::Low, TriggerOn::High] {
                let f = fr(m, on, s, &v);
                assert_eq!(f, 3.0, "{m:?} {on:?}");
                assert!(!is_outlier(on, 3.0, f));
            }
        }
        // A percentage below 100 puts the frontier below the values: 3 * 1% = 0.03 flags
        // nothing for low, and everything for high (the math, not a special case).
        let f = fr(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 1.0, &v);
        assert!(!is_outlier(TriggerOn::Low, 3.0, f));
        assert!(is_outlier(TriggerOn::High, 3.0, f));
        // coeff_of_variation: ratio 0 / 3 = 0 -> low flags the whole list, high never.
        let cov =
            |on| coeff_of_variation_is_outlier(&spec(TriggerMethod::CoeffOfVariation, on, 0.1), &v);
        assert!(cov(TriggerOn::Low));
        assert!(!cov(TriggerOn::High));
    }

    #[test]
    fn empty_list_has_no_frontier_and_zero_stats() {
        for m in TriggerMethod::ALL {
            assert_eq!(frontier(&spec(m, TriggerOn::Low, 1.0), &[]), None, "{m:?}");
        }
        let st = stats(&[]);
        assert_eq!(
            (st.n, st.mean, st.median, st.max, st.stdev),
            (0, 0.0, 0.0, 0.0, 0.0)
        );
        assert_eq!(st.coeff_of_variation, None);
        assert!(!coeff_of_variation_is_outlier(
            &spec(TriggerMethod::CoeffOfVariation, TriggerOn::Low, 1.0),
            &[]
        ));
    }

    #[test]
    fn stats_summarise_the_values() {
        // [1, 3, 10, 50]: mean 64 / 4 = 16; median 6.5; max 50.
        let st = stats(&[1.0, 3.0, 10.0, 50.0]);
        assert_eq!((st.n, st.mean, st.median, st.max), (4, 16.0, 6.5, 50.0));
        // squared deviations 225 + 169 + 36 + 1156 = 1586; / 4 = 396.5.
        assert_close(st.stdev, 396.5_f64.sqrt());
        assert_close(st.coeff_of_variation.unwrap(), 396.5_f64.sqrt() / 16.0);
    }

    #[test]
    fn percentile_interpolates_as_numpy_1_16_to_the_last_bit() {
        // numpy 1.16.4: np.percentile([6, 26], 5) == 6.999999999999999 (Python prints it so).
        assert_eq!(
            percentile_of_distinct(&[6.0, 26.0, 26.0], 5.0),
            6.999999999999999
        );
        assert_eq!(percentile_of_distinct(&[6.0, 26.0], 100.0), 26.0);
        assert_eq!(percentile_of_distinct(&[6.0, 26.0], 0.0), 6.0);
    }
}
