//! Stage `config`: the model types esoutliers runs, and which use case keys each one
//! reads, ignores, or copies into its outliers. Data only; no parsing, no I/O.
//!
//! ee-outliers 0.2.17 (`helpers/analyzer.py`) keeps a dictionary of "model settings" per
//! use case: the common keys every analyzer reads, plus those its own analyzer adds.
//! Every other key of the section is an "arbitrary parameter", copied into each outlier
//! as `outliers.<key>`. So whether a key is copied depends on the model type:
//! `aggregator=x` in a simplequery use case is copied, in a terms use case it is read.
//! The tables below follow 0.2.17's settings per analyzer exactly, with two deliberate
//! exceptions: keys starting with `whitelist_` are per-model whitelists (as ee-outliers'
//! documentation says), and a key naming an `outliers.*` field that the model writes
//! itself (`summary`, `term`, ...) is never copied over it.
//!
//! Invariant: for each kind, `reads`, `ignored` and the common tables are disjoint.

/// A use case model type that esoutliers runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Terms,
    SimpleQuery,
    SuddenAppearance,
    Metrics,
}

/// Keys every model reads (ee-outliers `_extract_model_settings`).
pub(super) const COMMON_READS: [&str; 12] = [
    "es_query_filter",
    "es_dsl_filter",
    "outlier_type",
    "outlier_reason",
    "outlier_summary",
    "run_model",
    "test_model",
    "should_notify",
    "es_index",
    "timestamp_field",
    "history_window_days",
    "history_window_hours",
];

/// Keys ee-outliers reads for every model and esoutliers accepts without acting on them
/// (never copied).
pub(super) const COMMON_IGNORED: [(&str, &str); 2] = [
    (
        "process_documents_chronologically",
        "ignored: esoutliers counts the whole window at once inside Elasticsearch, so the order of the events does not matter",
    ),
    ("use_derived_fields", DERIVED),
];

/// Why `use_derived_fields` is ignored.
pub(super) const DERIVED: &str = "ignored: esoutliers reads fields as Elasticsearch stores them and cannot compute ee-outliers' derived ([derivedfields] GROK) fields";

/// `outliers.*` fields every model writes itself; a use case key of that name is not
/// copied (ee-outliers would overwrite its own `type`, `reason`, `summary` with it).
const COMMON_WRITES: [&str; 8] = [
    "type",
    "reason",
    "summary",
    "model_name",
    "model_type",
    "total_outliers",
    "elasticsearch_filter",
    "assets",
];

impl Kind {
    pub(super) const ALL: [Kind; 4] = [
        Kind::Terms,
        Kind::SimpleQuery,
        Kind::SuddenAppearance,
        Kind::Metrics,
    ];

    /// The model type as written in section names and `outliers.model_type`.
    pub(super) fn name(self) -> &'static str {
        match self {
            Kind::Terms => "terms",
            Kind::SimpleQuery => "simplequery",
            Kind::SuddenAppearance => "sudden_appearance",
            Kind::Metrics => "metrics",
        }
    }

    /// The kind of a use case section name `<type>_<name>` (the name not empty).
    pub(super) fn of_section(section: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| {
            section
                .strip_prefix(k.name())
                .and_then(|rest| rest.strip_prefix('_'))
                .is_some_and(|name| !name.is_empty())
        })
    }

    /// The kind whose parameter section (`[simplequery]`, ...) is named `section`.
    pub(super) fn of_parameters(section: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == section)
    }

    /// Keys this model reads besides [`COMMON_READS`]. `baseline_window_days` is an
    /// esoutliers extension of terms models.
    pub(super) fn reads(self) -> &'static [&'static str] {
        match self {
            Kind::Terms => &[
                "aggregator",
                "target",
                "target_count_method",
                "trigger_on",
                "trigger_method",
                "trigger_sensitivity",
                "min_target_buckets",
                "baseline_window_days",
            ],
            Kind::SimpleQuery => &["highlight_match"],
            Kind::SuddenAppearance => &[
                "aggregator",
                "target",
                "sliding_window_size",
                "sliding_window_step_size",
            ],
            Kind::Metrics => &[
                "aggregator",
                "target",
                "metric",
                "trigger_on",
                "trigger_method",
                "trigger_sensitivity",
            ],
        }
    }

    /// Model settings of ee-outliers that it never reads from the use case section (so
    /// neither does esoutliers) and never copies either, with why.
    pub(super) fn ignored(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Kind::SuddenAppearance => &[
                (
                    "max_num_targets",
                    "ignored: ee-outliers reads max_num_targets only from the [sudden_appearance] section, and so does esoutliers; move it there",
                ),
                (
                    "max_num_aggs",
                    "ignored: ee-outliers replaces it with max_num_aggregators of the [sudden_appearance] section, and so does esoutliers",
                ),
            ],
            _ => &[],
        }
    }

    /// `outliers.*` fields this model writes itself besides the common ones.
    fn writes(self) -> &'static [&'static str] {
        match self {
            Kind::Terms => &[
                "aggregator",
                "term",
                "term_count",
                "decision_frontier",
                "trigger_method",
                "non_outlier_values_sample",
            ],
            Kind::SimpleQuery => &["matched_fields", "matched_values"],
            Kind::SuddenAppearance => &[
                "size_time_window",
                "start_time_window",
                "end_time_window",
                "aggregator",
                "aggregator_value",
                "target",
                "target_value",
                "num_target_value_in_window",
            ],
            Kind::Metrics => &[
                "aggregator",
                "target",
                "metric",
                "decision_frontier",
                "confidence",
                "non_outlier_values_sample",
                "max_hex_encoded_length",
                "max_hex_encoded_word",
                "max_base64_decoded_length",
                "max_base64_decoded_word",
                "extracted_urls_length",
                "extracted_urls",
            ],
        }
    }

    /// True when `outliers.<key>` is a field this model writes itself.
    pub(super) fn writes_field(self, key: &str) -> bool {
        COMMON_WRITES.contains(&key) || self.writes().contains(&key)
    }

    /// Every key this model knows: common, its own, ignored ones.
    pub(super) fn known(self) -> Vec<&'static str> {
        let mut v: Vec<&str> = COMMON_READS.to_vec();
        v.extend(COMMON_IGNORED.iter().map(|(k, _)| *k));
        v.extend(self.reads());
        v.extend(self.ignored().iter().map(|(k, _)| *k));
        v
    }

    /// The other model types that read `key` (for "read by metrics use cases, not by
    /// simplequery ones").
    pub(super) fn others_reading(self, key: &str) -> Vec<&'static str> {
        Kind::ALL
            .into_iter()
            .filter(|k| *k != self && k.reads().contains(&key))
            .map(Kind::name)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_names_map_to_their_kind_and_need_a_name() {
        assert_eq!(Kind::of_section("terms_rare"), Some(Kind::Terms));
        assert_eq!(
            Kind::of_section("sudden_appearance_new_location"),
            Some(Kind::SuddenAppearance)
        );
        assert_eq!(Kind::of_section("simplequery_x"), Some(Kind::SimpleQuery));
        assert_eq!(Kind::of_section("metrics_b64"), Some(Kind::Metrics));
        assert_eq!(Kind::of_section("terms_"), None);
        assert_eq!(Kind::of_section("terms"), None);
        assert_eq!(Kind::of_section("termsx"), None);
        assert_eq!(Kind::of_parameters("metrics"), Some(Kind::Metrics));
        assert_eq!(Kind::of_parameters("terms"), Some(Kind::Terms));
    }

    #[test]
    fn key_tables_do_not_overlap() {
        for k in Kind::ALL {
            let known = k.known();
            for (i, a) in known.iter().enumerate() {
                assert!(!known[i + 1..].contains(a), "{} lists {a} twice", k.name());
            }
        }
    }

    #[test]
    fn keys_read_by_another_model_are_named() {
        assert_eq!(
            Kind::SimpleQuery.others_reading("trigger_on"),
            vec!["terms", "metrics"]
        );
        assert_eq!(
            Kind::Metrics.others_reading("highlight_match"),
            vec!["simplequery"]
        );
        assert!(Kind::Terms.others_reading("mitre_technique").is_empty());
    }
}
