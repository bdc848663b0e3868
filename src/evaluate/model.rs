//! Stage `evaluate`: the values it consumes (observations, bucket counts) and produces
//! (findings). Pure data; no I/O.

use serde::Serialize;

/// One (aggregator, target) combination and its event count in the window, as one
/// composite-aggregation bucket reports it. Values are the field values in the order of
/// the use case's `aggregator` and `target` lists, rendered as strings.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Observation {
    pub aggregator: Vec<String>,
    pub target: Vec<String>,
    pub doc_count: u64,
}

/// The values of several fields joined as ee-outliers joins them: with ` - `.
pub fn join(values: &[String]) -> String {
    values.join(" - ")
}

/// One outlier decision.
///
/// `within_aggregator`: one finding per outlier (aggregator, target) pair.
/// `across_aggregators`: one finding per outlier aggregator, `target = None`
/// (every event of the aggregator is an outlier, whatever its target).
/// `coeff_of_variation` (within): one finding per pair of a flagged aggregator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub aggregator: Vec<String>,
    /// `None` for `across_aggregators`: all targets of the aggregator.
    pub target: Option<Vec<String>>,
    /// The value judged: the pair's event count (within), the aggregator's number of
    /// distinct targets (across), or the pair's event count for `coeff_of_variation`.
    pub term_count: u64,
    /// The frontier the value was compared with (for `coeff_of_variation`: the ratio
    /// pstdev / mean, [`Stats::coeff_of_variation`], which was compared with the
    /// sensitivity; ee-outliers writes the ratio).
    pub decision_frontier: f64,
    /// Statistics of the list the frontier was computed from (explanation in reports).
    pub stats: Stats,
    /// Up to 3 non-outlier targets of the same aggregator, most frequent first, ties by
    /// value (deterministic). Empty for `across_aggregators`.
    pub non_outlier_values_sample: Vec<String>,
}

impl Finding {
    pub fn aggregator_joined(&self) -> String {
        join(&self.aggregator)
    }
    /// `None` for `across_aggregators`.
    pub fn target_joined(&self) -> Option<String> {
        self.target.as_deref().map(join)
    }
}

/// Summary statistics of the list of values a frontier was computed from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    /// Number of values in the list.
    pub n: usize,
    pub mean: f64,
    pub median: f64,
    pub max: f64,
    /// Population standard deviation.
    pub stdev: f64,
    /// stdev / mean; `None` when the mean is 0.
    pub coeff_of_variation: Option<f64>,
}
