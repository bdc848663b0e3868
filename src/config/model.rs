//! Stage `config`: the validated, high-level types that every later stage consumes.
//!
//! Nothing here parses or does I/O. Once a [`UseCase`] exists its content is valid:
//! later stages (`plan`, `evaluate`, `tag`) never fail on it ("parse, don't validate").

use std::path::PathBuf;

use regex::Regex;

/// Where something was written in a config file. Every error and notice carries one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based line number; 0 when the problem concerns the whole file.
    pub line: usize,
    /// Section name as written; `None` for problems outside any section.
    pub section: Option<String>,
    /// Key as written; `None` for problems about a whole section.
    pub key: Option<String>,
}

impl std::fmt::Display for Location {
    /// `path:line: [section] key`
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:", self.file.display(), self.line)?;
        if let Some(s) = &self.section {
            write!(f, " [{s}]")?;
        }
        if let Some(k) = &self.key {
            write!(f, " {k}")?;
        }
        Ok(())
    }
}

/// Something in the file that is accepted but not acted on (ignored keys, model types
/// that are not supported yet). Reported, never an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub location: Location,
    pub message: String,
}

/// A whole loaded configuration file.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub general: General,
    /// `[notifier]`; sends nothing when the file has no such section.
    pub notifier: super::Notifier,
    /// The use cases (`[terms_*]`, `[simplequery_*]`, `[sudden_appearance_*]`,
    /// `[metrics_*]`), in file order.
    pub use_cases: Vec<UseCase>,
    /// Ignored and copied keys, unsupported model sections, in line order.
    pub notices: Vec<Notice>,
}

/// The `[general]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct General {
    /// `es_url`; `None` when absent (then `ES_URL` or http://127.0.0.1:9200 apply).
    pub es_url: Option<String>,
    /// `es_index_pattern`; empty when absent, which is allowed only when every use case
    /// sets its own `es_index`.
    pub es_index_pattern: String,
    /// `timestamp_field`, default `@timestamp` (ee-outliers falls back to `timestamp`; a
    /// notice says so when the key is absent).
    pub timestamp_field: String,
    /// `history_window_days * 24 + history_window_hours`.
    pub history_window_hours: u64,
    /// `es_save_results`; false means detect and report, never write.
    pub save_results: bool,
    pub print_outliers_to_console: bool,
    /// `es_timeout` in seconds (default 300).
    pub es_timeout_secs: u64,
    /// `es_scan_size` (default 1000): page size for event fetches.
    pub es_scan_size: u32,
    /// `run_models` (default true).
    pub run_models: bool,
    /// `test_models` (default false).
    pub test_models: bool,
    pub wipe_all_existing_outliers: bool,
    pub wipe_all_whitelisted_outliers: bool,
}

/// One use case section (`[<model type>_<name>]`), fully validated. Which of the common
/// fields a model type fills is said on each field; [`UseCase::model`] holds the rest.
#[derive(Debug, Clone)]
pub struct UseCase {
    /// The section name as written, e.g. `terms_rare_childname`.
    pub name: String,
    /// The part after `<model type>_`, e.g. `rare_childname`; written as
    /// `outliers.model_name`.
    pub model_name: String,
    /// Where the section header is.
    pub location: Location,
    /// The use case's `es_index`, else `[general]` `es_index_pattern`. Never empty.
    pub index_pattern: String,
    /// The use case's `timestamp_field`, else `[general]`'s. Always `[general]`'s for
    /// sudden_appearance (as in ee-outliers 0.2.17, which ignores the use case's).
    pub timestamp_field: String,
    /// days * 24 + hours, each from the use case's `history_window_days` /
    /// `history_window_hours` or else from `[general]`. Always > 0. The window ends at the
    /// run's `now`.
    pub history_window_hours: u64,
    /// `baseline_window_days` (an esoutliers extension): counts and frontiers come from
    /// this longer window ending at the same time, but only events inside the detection
    /// window are flagged and tagged. `None`: counts come from the detection window.
    /// When set, always longer than `history_window_hours`. Terms only; `None` for the
    /// other models.
    pub baseline_window_hours: Option<u64>,
    pub filter: Filter,
    /// One or more field names; values joined with ` - `. Empty for simplequery.
    pub aggregator: Vec<String>,
    /// One or more field names; values joined with ` - `. Exactly one for metrics;
    /// empty for simplequery.
    pub target: Vec<String>,
    /// `target_count_method` of terms; `WithinAggregator` for the other models (metrics
    /// evaluates each aggregator's values, which is its only way).
    pub count_method: CountMethod,
    /// Terms and metrics; [`TriggerSpec::UNUSED`] for simplequery and sudden_appearance.
    pub trigger: TriggerSpec,
    /// `min_target_buckets` of terms with `within_aggregator`; `None` when absent (every
    /// aggregator is evaluated), under `across_aggregators` (ignored there, with a notice,
    /// as in ee-outliers) and for the other models.
    pub min_target_buckets: Option<u64>,
    /// As written, trimmed. (ee-outliers fills `{field}` placeholders in it and writes it
    /// as a list split on `,`; so does `outlier_reason`.)
    pub outlier_type: String,
    pub outlier_reason: String,
    pub outlier_summary: SummaryTemplate,
    pub run_model: bool,
    pub test_model: bool,
    pub should_notify: bool,
    /// Global entries, then those of `[whitelist_*_<section>]`, then the section's own
    /// `whitelist_literals_<name>` / `whitelist_regexps_<name>` keys.
    pub whitelist: Whitelist,
    /// `[general]` `es_save_results`.
    pub save_results: bool,
    /// What kind of model the section is, with the keys only that model reads.
    pub model: ModelSpec,
    /// The use case's filter text as written, trimmed (`es_query_filter`, or the
    /// `es_dsl_filter` JSON text), written as `outliers.elasticsearch_filter` (ee-outliers
    /// `_extract_arbitrary_config`). Empty when the use case has no filter (never for
    /// simplequery, which requires one).
    pub elasticsearch_filter: String,
    /// Keys this model type does not read, in file order, copied into every outlier as
    /// `outliers.<key>` (ee-outliers' "arbitrary parameters"): the key in lower case (as
    /// Python's configparser gives it), the value trimmed. Never a key naming a field the
    /// model writes itself. Empty when there are none.
    pub copied: Vec<(String, String)>,
    /// The file's `[assets]` lines, `field = asset type` in file order (keys in lower case,
    /// as configparser reads them): each outlier event's values of those fields are written
    /// as `outliers.assets` (`"<type>: <value>"`). Empty when the file has no `[assets]`.
    pub assets: Vec<(String, String)>,
}

/// The model type of a use case (`[<model type>_<name>]`) and the keys only it reads.
/// Common keys (filter, window, aggregator, target, trigger, outlier texts, whitelists)
/// stay on [`UseCase`]; a model that does not read one leaves it empty/default.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSpec {
    /// `[terms_*]`: aggregator, target, `target_count_method`, trigger, `min_target_buckets`.
    Terms,
    /// `[simplequery_*]`: every matching event is an outlier.
    SimpleQuery(SimpleQuerySpec),
    /// `[sudden_appearance_*]`: aggregator and target field lists, sliding windows.
    SuddenAppearance(SuddenAppearanceSpec),
    /// `[metrics_*]`: one target field, aggregator fields, a metric and the trigger.
    Metrics(MetricsSpec),
}

impl ModelSpec {
    /// The model type as ee-outliers writes it in `outliers.model_type`.
    pub fn model_type(&self) -> &'static str {
        match self {
            ModelSpec::Terms => "terms",
            ModelSpec::SimpleQuery(_) => "simplequery",
            ModelSpec::SuddenAppearance(_) => "sudden_appearance",
            ModelSpec::Metrics(_) => "metrics",
        }
    }
}

/// `[simplequery_*]` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimpleQuerySpec {
    /// `highlight_match` of the use case, else `[simplequery] highlight_match`, else false.
    pub highlight_match: bool,
}

/// `[sudden_appearance_*]` keys (ee-outliers 0.2.17 `sudden_appearance.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SuddenAppearanceSpec {
    /// `sliding_window_size` (`DD:HH:MM`) in minutes; > 0 and <= the history window.
    pub window_minutes: u64,
    /// `sliding_window_step_size` (`DD:HH:MM`) in minutes; > 0 and <= the window.
    pub step_minutes: u64,
    /// `[sudden_appearance] max_num_aggregators` (default 100,000): where ee-outliers'
    /// terms aggregation would truncate; esoutliers counts exactly and reports it.
    pub max_num_aggregators: u64,
    /// `[sudden_appearance] max_num_targets` (default 100,000).
    pub max_num_targets: u64,
}

/// `[metrics_*]` keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricsSpec {
    pub metric: Metric,
}

/// The measures of ee-outliers' metrics model (`metrics.py` `calculate_metric`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Metric {
    NumericalValue,
    Length,
    Entropy,
    RelativeEnglishEntropy,
    HexEncodedLength,
    Base64EncodedLength,
    UrlLength,
}

impl Metric {
    pub const ALL: [Metric; 7] = [
        Metric::NumericalValue,
        Metric::Length,
        Metric::Entropy,
        Metric::RelativeEnglishEntropy,
        Metric::HexEncodedLength,
        Metric::Base64EncodedLength,
        Metric::UrlLength,
    ];

    /// The name as written in the config and in `outliers.metric`... (ee-outliers' key value).
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::NumericalValue => "numerical_value",
            Metric::Length => "length",
            Metric::Entropy => "entropy",
            Metric::RelativeEnglishEntropy => "relative_english_entropy",
            Metric::HexEncodedLength => "hex_encoded_length",
            Metric::Base64EncodedLength => "base64_encoded_length",
            Metric::UrlLength => "url_length",
        }
    }

    pub fn parse(s: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

impl UseCase {
    /// Every aggregator field, then every target field.
    pub fn fields(&self) -> impl Iterator<Item = &String> {
        self.aggregator.iter().chain(self.target.iter())
    }
}

/// The use case's own query, on top of the time range and the `exists` filters.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Neither `es_query_filter` nor `es_dsl_filter` given.
    None,
    /// `es_query_filter`: Lucene query string syntax, sent as a `query_string` query.
    QueryString(String),
    /// `es_dsl_filter`: a JSON query object (exactly one key, the query type), sent as it
    /// is. ee-outliers' `{"query": Q}` is unwrapped to Q, and its list form
    /// `[{"query": Q1}, ...]` becomes `{"bool": {"filter": [Q1, ...]}}`.
    Dsl(serde_json::Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CountMethod {
    /// Per aggregator value: the count of each distinct target value.
    WithinAggregator,
    /// Per aggregator value: the number of distinct target values; one frontier for all.
    AcrossAggregators,
}

impl CountMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            CountMethod::WithinAggregator => "within_aggregator",
            CountMethod::AcrossAggregators => "across_aggregators",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TriggerSpec {
    pub on: TriggerOn,
    pub method: TriggerMethod,
    /// Validated for the method (see SPEC section 3).
    pub sensitivity: f64,
}

impl TriggerSpec {
    /// What [`UseCase::trigger`] holds for the models without a trigger (simplequery,
    /// sudden_appearance). No stage reads it for them; it is there only because the
    /// field is common to every model.
    pub const UNUSED: TriggerSpec = TriggerSpec {
        on: TriggerOn::High,
        method: TriggerMethod::Float,
        sensitivity: 0.0,
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerOn {
    Low,
    High,
}

impl TriggerOn {
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerOn::Low => "low",
            TriggerOn::High => "high",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerMethod {
    PctOfAvgValue,
    PctOfMaxValue,
    PctOfMedianValue,
    Percentile,
    Stdev,
    Mad,
    Madpos,
    Float,
    CoeffOfVariation,
}

impl TriggerMethod {
    pub const ALL: [TriggerMethod; 9] = [
        TriggerMethod::PctOfAvgValue,
        TriggerMethod::PctOfMaxValue,
        TriggerMethod::PctOfMedianValue,
        TriggerMethod::Percentile,
        TriggerMethod::Stdev,
        TriggerMethod::Mad,
        TriggerMethod::Madpos,
        TriggerMethod::Float,
        TriggerMethod::CoeffOfVariation,
    ];

    /// The name used in config files and written as `outliers.trigger_method`.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerMethod::PctOfAvgValue => "pct_of_avg_value",
            TriggerMethod::PctOfMaxValue => "pct_of_max_value",
            TriggerMethod::PctOfMedianValue => "pct_of_median_value",
            TriggerMethod::Percentile => "percentile",
            TriggerMethod::Stdev => "stdev",
            TriggerMethod::Mad => "mad",
            TriggerMethod::Madpos => "madpos",
            TriggerMethod::Float => "float",
            TriggerMethod::CoeffOfVariation => "coeff_of_variation",
        }
    }

    pub fn parse(s: &str) -> Option<TriggerMethod> {
        TriggerMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }
}

/// `outlier_summary` split into literal text and `{field}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SummaryTemplate {
    /// The value as written in the file.
    pub raw: String,
    pub parts: Vec<SummaryPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SummaryPart {
    Text(String),
    /// A `{field}` placeholder: the field name between the braces.
    Field(String),
}

impl SummaryTemplate {
    /// Field names used by placeholders, in order of first appearance, without repeats.
    pub fn fields(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.parts {
            if let SummaryPart::Field(f) = p {
                if !out.contains(&f.as_str()) {
                    out.push(f);
                }
            }
        }
        out
    }

    /// Fills placeholders with `lookup(field)`; a field that yields `None` is left as
    /// `{field}` written literally.
    pub fn fill(&self, mut lookup: impl FnMut(&str) -> Option<String>) -> String {
        let mut s = String::new();
        for p in &self.parts {
            match p {
                SummaryPart::Text(t) => s.push_str(t),
                SummaryPart::Field(f) => match lookup(f) {
                    Some(v) => s.push_str(&v),
                    None => {
                        s.push('{');
                        s.push_str(f);
                        s.push('}');
                    }
                },
            }
        }
        s
    }
}

/// Whitelist entries that apply to one use case (global and per-model together).
#[derive(Debug, Clone, Default)]
pub struct Whitelist {
    pub literals: Vec<LiteralEntry>,
    pub regexps: Vec<RegexpEntry>,
}

impl Whitelist {
    pub fn is_empty(&self) -> bool {
        self.literals.is_empty() && self.regexps.is_empty()
    }
}

/// `name = a, b`: whitelists an outlier when all of `a`, `b` are among its strings exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiteralEntry {
    pub name: String,
    /// Comma-separated parts, each trimmed; never empty.
    pub values: Vec<String>,
}

/// `name = r1, r2`: whitelists an outlier when every regex matches at least one string.
#[derive(Debug, Clone)]
pub struct RegexpEntry {
    pub name: String,
    /// Comma-separated parts, each trimmed and compiled case-insensitively (as ee-outliers
    /// compiles them, with `re.IGNORECASE`); never empty.
    pub patterns: Vec<Regex>,
}
