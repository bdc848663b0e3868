//! Stage `evaluate` (PURE): the trigger math of SPEC section 3. Values in, numbers out.
//!
//! Every method computes a frontier from a list of values; a value is an outlier when it
//! is STRICTLY below the frontier (`low`) or strictly above it (`high`). An empty list has
//! no frontier. A negative frontier flags nothing for `low` (counts are never negative):
//! that falls out of the strict comparison and is logged at debug level by the caller.

use crate::config::{TriggerMethod, TriggerOn, TriggerSpec};
use crate::evaluate::Stats;

/// mean = sum / n; 0 for an empty list.
pub fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Median: the middle value, or the mean of the two middle values of an even list;
/// 0 for an empty list.
pub fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    }
}

/// Population standard deviation: sqrt(sum((x - mean)^2) / n); 0 for 0 or 1 values.
pub fn pstdev(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let m = mean(v);
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
}

/// Median absolute deviation: median(|x - median|).
pub fn mad(v: &[f64]) -> f64 {
    let m = median(v);
    let dev: Vec<f64> = v.iter().map(|x| (x - m).abs()).collect();
    median(&dev)
}

/// The p-th percentile (0..=100) of the DISTINCT values with linear interpolation (numpy's
/// default): rank = p/100 * (k - 1) over the k sorted distinct values, interpolated between
/// the values at floor(rank) and ceil(rank). One distinct value: that value.
pub fn percentile_of_distinct(v: &[f64], p: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.dedup();
    if s.is_empty() {
        return 0.0;
    }
    let rank = (p / 100.0).clamp(0.0, 1.0) * (s.len() - 1) as f64;
    let lo = rank.floor() as usize;
    let hi = rank.ceil() as usize;
    s[lo] + (s[hi] - s[lo]) * (rank - lo as f64)
}

/// Summary statistics of `v`.
pub fn stats(v: &[f64]) -> Stats {
    let m = mean(v);
    let sd = pstdev(v);
    Stats {
        n: v.len(),
        mean: m,
        median: median(v),
        max: if v.is_empty() {
            0.0
        } else {
            v.iter().copied().fold(f64::MIN, f64::max)
        },
        stdev: sd,
        coeff_of_variation: (m != 0.0).then(|| sd / m),
    }
}

/// The decision frontier of `spec` over `values`; `None` for an empty list.
/// For `coeff_of_variation` the frontier is the sensitivity itself; compare the list's
/// stdev / mean with it ([`cov_is_outlier`]).
pub fn frontier(spec: &TriggerSpec, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let s = spec.sensitivity;
    let sign = match spec.on {
        TriggerOn::Low => -1.0,
        TriggerOn::High => 1.0,
    };
    Some(match spec.method {
        TriggerMethod::PctOfAvgValue => mean(values) * s / 100.0,
        TriggerMethod::PctOfMaxValue => values.iter().copied().fold(f64::MIN, f64::max) * s / 100.0,
        TriggerMethod::PctOfMedianValue => median(values) * s / 100.0,
        TriggerMethod::Percentile => percentile_of_distinct(values, s),
        TriggerMethod::Stdev => mean(values) + sign * s * pstdev(values),
        TriggerMethod::Mad | TriggerMethod::Madpos => {
            let m = mad(values);
            // MAD = 0 (more than half the values equal the median): median +/- s*0 would
            // flag every other value, so fall back to mean +/- 1 x stdev.
            let f = if m == 0.0 {
                mean(values) + sign * pstdev(values)
            } else {
                median(values) + sign * s * m
            };
            if spec.method == TriggerMethod::Madpos {
                f.max(0.0)
            } else {
                f
            }
        }
        TriggerMethod::Float => s,
        TriggerMethod::CoeffOfVariation => s,
    })
}

/// Strict comparison: `low` flags value < frontier, `high` flags value > frontier.
pub fn is_outlier(on: TriggerOn, value: f64, frontier: f64) -> bool {
    match on {
        TriggerOn::Low => value < frontier,
        TriggerOn::High => value > frontier,
    }
}

/// `coeff_of_variation`: the whole list is an outlier when stdev / mean is below (low) or
/// above (high) the sensitivity. A zero mean has no ratio: nothing is flagged.
pub fn cov_is_outlier(spec: &TriggerSpec, values: &[f64]) -> bool {
    match stats(values).coeff_of_variation {
        Some(r) => is_outlier(spec.on, r, spec.sensitivity),
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
    fn f(method: TriggerMethod, on: TriggerOn, s: f64, v: &[f64]) -> f64 {
        frontier(&spec(method, on, s), v).unwrap()
    }
    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} != {b}");
    }

    #[test]
    fn pct_of_avg_flags_child_below_one_percent() {
        // SPEC: counts averaging 200, cmd.exe once: 1 < 1% of 200 = 2.
        let v = [399.0, 200.0, 1.0]; // mean 200
        let fr = f(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 1.0, &v);
        close(fr, 2.0);
        assert!(is_outlier(TriggerOn::Low, 1.0, fr));
        assert!(!is_outlier(TriggerOn::Low, 200.0, fr));
    }

    #[test]
    fn value_at_exact_frontier_is_not_flagged_either_way() {
        assert!(!is_outlier(TriggerOn::Low, 2.0, 2.0));
        assert!(!is_outlier(TriggerOn::High, 2.0, 2.0));
    }

    #[test]
    fn pct_of_max_and_median() {
        // max 50 -> 10% = 5; median of [1, 3, 10, 50] = (3 + 10) / 2 = 6.5 -> 50% = 3.25.
        let v = [1.0, 3.0, 10.0, 50.0];
        close(
            f(TriggerMethod::PctOfMaxValue, TriggerOn::Low, 10.0, &v),
            5.0,
        );
        close(
            f(TriggerMethod::PctOfMedianValue, TriggerOn::Low, 50.0, &v),
            3.25,
        );
        // odd length: median of [1, 3, 10] = 3.
        close(
            f(
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
        // distinct [1, 2, 10] (the repeated 1s count once); 50th: rank 1 -> 2;
        // 75th: rank 1.5 -> 2 + (10 - 2) * 0.5 = 6; 10th: rank 0.2 -> 1 + 1 * 0.2 = 1.2.
        let v = [1.0, 1.0, 1.0, 2.0, 10.0];
        close(f(TriggerMethod::Percentile, TriggerOn::Low, 50.0, &v), 2.0);
        close(f(TriggerMethod::Percentile, TriggerOn::Low, 75.0, &v), 6.0);
        close(f(TriggerMethod::Percentile, TriggerOn::Low, 10.0, &v), 1.2);
    }

    #[test]
    fn percentile_of_one_distinct_value_is_that_value() {
        close(
            f(TriggerMethod::Percentile, TriggerOn::Low, 30.0, &[7.0, 7.0]),
            7.0,
        );
    }

    #[test]
    fn stdev_adds_for_high_and_subtracts_for_low() {
        // [2, 4, 4, 4, 5, 5, 7, 9]: mean 5, population stdev 2.
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        close(f(TriggerMethod::Stdev, TriggerOn::High, 1.5, &v), 8.0);
        close(f(TriggerMethod::Stdev, TriggerOn::Low, 1.5, &v), 2.0);
    }

    #[test]
    fn mad_uses_median_and_mad() {
        // [1, 2, 3, 4, 100]: median 3, |x-3| = [2, 1, 0, 1, 97] -> MAD 1; high s=2: 5; low: 1.
        let v = [1.0, 2.0, 3.0, 4.0, 100.0];
        close(f(TriggerMethod::Mad, TriggerOn::High, 2.0, &v), 5.0);
        close(f(TriggerMethod::Mad, TriggerOn::Low, 2.0, &v), 1.0);
    }

    #[test]
    fn mad_zero_falls_back_to_mean_and_one_stdev() {
        // [5, 5, 5, 5, 25]: median 5, MAD 0 -> mean 9, pstdev sqrt((4*16 + 256)/5) = 8;
        // high: 9 + 8 = 17 (not 9 + s*8), low: 1.
        let v = [5.0, 5.0, 5.0, 5.0, 25.0];
        close(f(TriggerMethod::Mad, TriggerOn::High, 3.0, &v), 17.0);
        close(f(TriggerMethod::Mad, TriggerOn::Low, 3.0, &v), 1.0);
    }

    #[test]
    fn madpos_never_goes_below_zero() {
        // [1, 2, 3, 4, 100], low s=5: 3 - 5 = -2 -> madpos 0, mad -2.
        let v = [1.0, 2.0, 3.0, 4.0, 100.0];
        close(f(TriggerMethod::Mad, TriggerOn::Low, 5.0, &v), -2.0);
        close(f(TriggerMethod::Madpos, TriggerOn::Low, 5.0, &v), 0.0);
    }

    #[test]
    fn negative_frontier_flags_nothing_for_low() {
        let v = [1.0, 2.0, 3.0, 4.0, 100.0];
        let fr = f(TriggerMethod::Mad, TriggerOn::Low, 5.0, &v);
        assert!(v.iter().all(|x| !is_outlier(TriggerOn::Low, *x, fr)));
    }

    #[test]
    fn float_is_the_sensitivity() {
        close(f(TriggerMethod::Float, TriggerOn::High, -3.5, &[1.0]), -3.5);
    }

    #[test]
    fn coeff_of_variation_compares_stdev_over_mean() {
        // [2, 4, 4, 4, 5, 5, 7, 9]: 2 / 5 = 0.4.
        let v = [2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0];
        assert!(cov_is_outlier(
            &spec(TriggerMethod::CoeffOfVariation, TriggerOn::Low, 0.5),
            &v
        ));
        assert!(!cov_is_outlier(
            &spec(TriggerMethod::CoeffOfVariation, TriggerOn::High, 0.5),
            &v
        ));
        assert!(cov_is_outlier(
            &spec(TriggerMethod::CoeffOfVariation, TriggerOn::High, 0.3),
            &v
        ));
    }

    #[test]
    fn zero_average_has_no_ratio_and_a_zero_pct_frontier() {
        let v = [0.0, 0.0];
        assert!(!cov_is_outlier(
            &spec(TriggerMethod::CoeffOfVariation, TriggerOn::Low, 1.0),
            &v
        ));
        close(
            f(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 10.0, &v),
            0.0,
        );
        assert_eq!(stats(&v).coeff_of_variation, None);
    }

    #[test]
    fn one_value_and_all_equal_values_flag_nothing() {
        for v in [&[5.0][..], &[3.0, 3.0, 3.0][..]] {
            for m in [
                TriggerMethod::PctOfAvgValue,
                TriggerMethod::Stdev,
                TriggerMethod::Mad,
                TriggerMethod::Percentile,
            ] {
                for on in [TriggerOn::Low, TriggerOn::High] {
                    let s = if m == TriggerMethod::Percentile {
                        50.0
                    } else {
                        100.0
                    };
                    let fr = f(m, on, s, v);
                    assert!(
                        v.iter().all(|x| !is_outlier(on, *x, fr)),
                        "{m:?} {on:?} {v:?} frontier {fr}"
                    );
                }
            }
        }
    }

    #[test]
    fn empty_list_has_no_frontier() {
        assert_eq!(
            frontier(
                &spec(TriggerMethod::PctOfAvgValue, TriggerOn::Low, 1.0),
                &[]
            ),
            None
        );
        assert_eq!(stats(&[]).n, 0);
    }
}
