//! Stage `config`: the parameter sections of the model types, `[terms]`,
//! `[simplequery]`, `[sudden_appearance]` and `[metrics]`, become [`ModelParams`]: the
//! defaults their use cases fall back on.
//!
//! Keys, as ee-outliers 0.2.17 reads them:
//! - `[simplequery] highlight_match` (boolean): the default of the use case key;
//! - `[sudden_appearance] max_num_aggregators` / `max_num_targets` (whole numbers of at
//!   least 1, default 100,000): the sizes of ee-outliers' terms aggregations;
//! - `[terms] terms_batch_eval_size`, `[metrics] metrics_batch_eval_size`: accepted and
//!   ignored with a notice (esoutliers evaluates the whole window at once).
//!
//! ee-outliers ignores any other key of these sections, so esoutliers accepts them with a
//! notice (with a did-you-mean when one looks like a typo). Nothing here stops at the
//! first problem.

use super::error::{did_you_mean, Diagnostics};
use super::kind::Kind;
use super::scan::RawSection;
use super::value;

/// ee-outliers' default for `max_num_aggregators` and `max_num_targets`.
pub(super) const DEFAULT_MAX_TERMS: u64 = 100_000;

/// What the use cases of each model type fall back on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ModelParams {
    /// `[simplequery] highlight_match`, default false.
    pub highlight_match: bool,
    /// `[sudden_appearance] max_num_aggregators`, default 100,000.
    pub max_num_aggregators: u64,
    /// `[sudden_appearance] max_num_targets`, default 100,000.
    pub max_num_targets: u64,
}

impl Default for ModelParams {
    fn default() -> ModelParams {
        ModelParams {
            highlight_match: false,
            max_num_aggregators: DEFAULT_MAX_TERMS,
            max_num_targets: DEFAULT_MAX_TERMS,
        }
    }
}

const BATCHES: &str =
    "ignored: esoutliers evaluates the whole window at once instead of in batches of events";

/// The keys of `[<kind>]` that ee-outliers reads.
fn keys(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Terms => &["terms_batch_eval_size"],
        Kind::SimpleQuery => &["highlight_match"],
        Kind::SuddenAppearance => &["max_num_aggregators", "max_num_targets"],
        Kind::Metrics => &["metrics_batch_eval_size"],
    }
}

/// The parameter section that ee-outliers reads `key` from, when it is one of theirs.
pub(super) fn section_of(key: &str) -> Option<&'static str> {
    Kind::ALL
        .into_iter()
        .find(|k| keys(*k).contains(&key))
        .map(Kind::name)
}

/// Reads one parameter section `s` of model type `kind` into `params`.
pub(super) fn read(diag: &mut Diagnostics, params: &mut ModelParams, kind: Kind, s: &RawSection) {
    for e in s.unique_entries() {
        let at = diag.at(e.line, Some(&s.name), Some(&e.key));
        let checked: Result<(), String> = match e.lower.as_str() {
            "highlight_match" if kind == Kind::SimpleQuery => {
                value::boolean(&e.value).map(|b| params.highlight_match = b)
            }
            "max_num_aggregators" if kind == Kind::SuddenAppearance => {
                value::whole_number(&e.value, 1).map(|n| params.max_num_aggregators = n)
            }
            "max_num_targets" if kind == Kind::SuddenAppearance => {
                value::whole_number(&e.value, 1).map(|n| params.max_num_targets = n)
            }
            "terms_batch_eval_size" | "metrics_batch_eval_size"
                if keys(kind).contains(&e.lower.as_str()) =>
            {
                value::whole_number(&e.value, 0).map(|_| diag.notice(at.clone(), BATCHES))
            }
            k => {
                let hint = did_you_mean(k, keys(kind))
                    .map(|m| format!("; did you mean {m}?"))
                    .unwrap_or_default();
                diag.notice(
                    at.clone(),
                    format!(
                        "ignored: ee-outliers does not read this key of [{}] either (it reads {}){hint}",
                        s.name,
                        keys(kind).join(", ")
                    ),
                );
                Ok(())
            }
        };
        if let Err(message) = checked {
            diag.error(at, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::scan;
    use super::*;

    fn params(text: &str) -> (ModelParams, Vec<String>, Vec<String>) {
        let mut d = Diagnostics::new(Path::new("t.conf"));
        let mut p = ModelParams::default();
        for s in scan::read(text, &mut d) {
            read(&mut d, &mut p, Kind::of_parameters(&s.name).unwrap(), &s);
        }
        match d.finish() {
            Ok(n) => (
                p,
                n.iter()
                    .map(|n| format!("{}: {}", n.location, n.message))
                    .collect(),
                Vec::new(),
            ),
            Err(e) => (
                p,
                Vec::new(),
                e.errors.iter().map(ToString::to_string).collect(),
            ),
        }
    }

    #[test]
    fn defaults_are_ee_outliers_defaults() {
        let (p, notices, _) = params("[simplequery]\n[sudden_appearance]\n");
        assert_eq!(
            p,
            ModelParams {
                highlight_match: false,
                max_num_aggregators: 100_000,
                max_num_targets: 100_000
            }
        );
        assert!(notices.is_empty());
    }

    #[test]
    fn every_key_is_read() {
        let (p, notices, _) = params(
            "[simplequery]\nhighlight_match=1\n[sudden_appearance]\nmax_num_aggregators=50\nMax_Num_Targets=7\n",
        );
        assert!(p.highlight_match);
        assert_eq!((p.max_num_aggregators, p.max_num_targets), (50, 7));
        assert!(notices.is_empty(), "{notices:?}");
    }

    #[test]
    fn bad_values_are_located_errors() {
        let (_, _, errors) = params(
            "[simplequery]\nhighlight_match=sometimes\n[sudden_appearance]\nmax_num_aggregators=0\nmax_num_targets=1e5\n",
        );
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with(
            "t.conf:2: [simplequery] highlight_match: \"sometimes\" is not a boolean"
        ));
        assert!(errors[1]
            .starts_with("t.conf:4: [sudden_appearance] max_num_aggregators: 0 is too small"));
        assert!(errors[2].starts_with(
            "t.conf:5: [sudden_appearance] max_num_targets: \"1e5\" is not a whole number"
        ));
    }

    #[test]
    fn batch_sizes_are_ignored_with_a_notice() {
        let (_, notices, _) =
            params("[metrics]\nmetrics_batch_eval_size=100000\n[terms]\nterms_batch_eval_size=5\n");
        assert_eq!(notices.len(), 2);
        assert!(notices[0].starts_with("t.conf:2: [metrics] metrics_batch_eval_size: ignored: esoutliers evaluates the whole window"));
    }

    #[test]
    fn unknown_keys_are_notices_with_a_suggestion() {
        let (p, notices, _) =
            params("[sudden_appearance]\nmax_num_target=5\n[simplequery]\nmax_num_targets=5\n");
        assert_eq!(p.max_num_targets, 100_000);
        assert_eq!(
            notices[0],
            "t.conf:2: [sudden_appearance] max_num_target: ignored: ee-outliers does not read this key of [sudden_appearance] \
             either (it reads max_num_aggregators, max_num_targets); did you mean max_num_targets?"
        );
        assert!(
            notices[1].starts_with("t.conf:4: [simplequery] max_num_targets: ignored"),
            "{}",
            notices[1]
        );
    }
}
