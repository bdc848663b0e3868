//! Stage `config`: an ee-outliers style INI file becomes a validated [`Config`].
//!
//! Two steps, ripgrep-style: `scan` reads raw sections and values with their lines in one
//! pass (as Python's configparser reads them), then each section is validated into
//! high-level types: `general`, `model_params`, `whitelist`, `use_case` (with `kind` for
//! what each model type reads, `value` and `summary` for single values). ALL problems of
//! a file are collected and reported at once, one per line, as
//! `path:line: [section] key: message`; unknown sections included.
//! Keys are case-insensitive; section names are case-sensitive, as in ee-outliers.
//!
//! Sections: `[general]`; `[notifier]` (`notifier`); `[whitelist_literals]`, `[whitelist_regexps]` and their
//! per-use-case forms `[whitelist_literals_<use case section>]`; use cases
//! `[terms_<name>]`, `[simplequery_<name>]`, `[sudden_appearance_<name>]`,
//! `[metrics_<name>]`, and the parameter sections of those model types (`[terms]`,
//! `[simplequery]`, `[sudden_appearance]`, `[metrics]`). ee-outliers' other sections
//! (`[assets]`, `[daemon]`, `[derivedfields]`, `[beaconing]`, `[word2vec]`,
//! `[machine_learning]`) and the use cases of the model types esoutliers does not run
//! (word2vec, beaconing) are accepted with a notice, so that ee-outliers' files load
//! unchanged.
//!
//! Invariant: a returned [`UseCase`] is valid; later stages never fail on its content.
//! Nothing here talks to the network; `load` and `files` are the only functions that
//! touch the file system.

mod error;
mod general;
mod kind;
mod model;
mod model_params;
mod notifier;
mod scan;
mod summary;
mod use_case;
mod value;
mod whitelist;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use error::{ConfigError, ConfigErrors};
pub use model::*;
pub use notifier::{Notifier, Secret, Smtp, SmtpSecurity};
pub use use_case::sensitivity_fits;

use error::Diagnostics;
use kind::Kind;
use model_params::ModelParams;
use scan::RawSection;

/// Reads and validates the config file at `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) => Err(ConfigErrors::whole_file(
            path,
            format!("cannot read the file: {e}"),
        )),
    }
}

/// The config files at `path`: every `*.conf` file of a folder in name order, or `path`
/// itself when it is not a folder (it need not exist; `load` reports that).
pub fn files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut v = Vec::new();
    for entry in std::fs::read_dir(path)? {
        let p = entry?.path();
        if p.extension().is_some_and(|x| x == "conf") && !p.is_dir() {
            v.push(p);
        }
    }
    v.sort();
    Ok(v)
}

/// Validates `text`, the content of the file `path` (used in every location).
pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigErrors> {
    let mut diag = Diagnostics::new(path);
    let sections = scan::read(text, &mut diag);
    let roles: Vec<(&RawSection, Role)> = sections.iter().map(|s| (s, Role::of(&s.name))).collect();

    let general = general::read(
        &mut diag,
        roles
            .iter()
            .find(|(_, r)| *r == Role::General)
            .map(|(s, _)| *s),
    );

    let notifier = notifier::read(
        &mut diag,
        roles
            .iter()
            .find(|(_, r)| *r == Role::Notifier)
            .map(|(s, _)| *s),
    );

    let global = global_whitelist(&mut diag, &roles);
    let per_model = per_model_whitelists(&mut diag, &roles);
    let derived_fields = derived_field_names(&roles);
    // ee-outliers reads `[assets]` as `field = asset type` (configparser lower-cases keys).
    let assets: Vec<(String, String)> = roles
        .iter()
        .filter(|(_, r)| *r == Role::Assets)
        .flat_map(|(s, _)| s.entries.iter().filter(|e| !e.duplicate))
        .map(|e| (e.lower.clone(), e.value.trim().to_string()))
        .collect();
    let mut params = ModelParams::default();
    for (s, role) in &roles {
        if let Role::ModelParams(kind) = role {
            model_params::read(&mut diag, &mut params, *kind, s);
        }
    }

    let mut use_cases = Vec::new();
    let (mut needs_index, mut needs_window) = (false, false);
    for (s, role) in &roles {
        match role {
            Role::UseCase(kind) => {
                let mut wl = global.clone();
                if let Some(extra) = per_model.get(s.name.as_str()) {
                    wl.literals.extend(extra.literals.iter().cloned());
                    wl.regexps.extend(extra.regexps.iter().cloned());
                }
                let cx = use_case::Context {
                    general: &general,
                    params: &params,
                    whitelist: wl,
                    derived_fields: &derived_fields,
                    assets: &assets,
                };
                let read = use_case::read(&mut diag, s, *kind, cx);
                needs_index |= read.needs_general_index;
                needs_window |= read.needs_general_window;
                use_cases.extend(read.use_case);
            }
            Role::Unsupported(model_type) => diag.notice(
                diag.at(s.line, Some(&s.name), None),
                format!("model type {model_type} is recognised but not supported yet; section skipped"),
            ),
            Role::Ignored(why) => diag.notice(diag.at(s.line, Some(&s.name), None), *why),
            Role::Default => diag.error(
                diag.at(s.line, Some(&s.name), None),
                "[DEFAULT] is not supported: in ee-outliers its keys are inherited by every section; write them in the sections that need them",
            ),
            Role::Unknown => diag.error(diag.at(s.line, Some(&s.name), None), unknown_section(&s.name)),
            Role::General
            | Role::Assets
            | Role::Notifier
            | Role::Literals
            | Role::Regexps
            | Role::ModelWhitelist(..)
            | Role::ModelParams(..) => {}
        }
    }

    check_general(&mut diag, &general, needs_index, needs_window);

    if !notifier.enabled() {
        for uc in use_cases.iter().filter(|u| u.should_notify) {
            diag.notice(
                uc.location.clone(),
                "should_notify=1, but [notifier] has no channel (email_notifier=1 or webhook_url): nothing is sent for this use case",
            );
        }
    }

    let notices = diag.finish()?;
    Ok(Config {
        path: path.to_path_buf(),
        general: general.general,
        notifier,
        use_cases,
        notices,
    })
}

/// What a section is, from its name (case-sensitive, as in ee-outliers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    General,
    /// `[assets]`: fields written as `outliers.assets`.
    Assets,
    /// `[notifier]` (e-mail and webhook notifications).
    Notifier,
    Literals,
    Regexps,
    /// `[whitelist_literals_<section>]` / `[whitelist_regexps_<section>]`.
    ModelWhitelist(whitelist::Kind),
    /// A use case of a model type esoutliers runs.
    UseCase(Kind),
    /// The parameter section of a model type (`[simplequery]`, ...).
    ModelParams(Kind),
    /// A use case of another model type (the type, e.g. `simplequery`).
    Unsupported(&'static str),
    /// One of ee-outliers' own sections, with why it is ignored.
    Ignored(&'static str),
    Default,
    Unknown,
}

const INTERNALS: &str = "ignored: this section concerns ee-outliers' internals";
const OTHER_MODELS: &str =
    "ignored: this section sets parameters of ee-outliers' other model types";

/// ee-outliers' own sections, accepted and ignored.
const IGNORED_SECTIONS: [(&str, &str); 5] = [
    (
        "daemon",
        "ignored: esoutliers runs once per invocation; schedule it with cron or a systemd timer",
    ),
    (
        "derivedfields",
        "ignored: esoutliers cannot compute ee-outliers' derived (GROK) fields",
    ),
    ("beaconing", OTHER_MODELS),
    ("word2vec", OTHER_MODELS),
    ("machine_learning", INTERNALS),
];

/// Use case prefixes of the model types esoutliers does not support yet.
const UNSUPPORTED_MODELS: [(&str, &str); 2] =
    [("word2vec_", "word2vec"), ("beaconing_", "beaconing")];

impl Role {
    fn of(name: &str) -> Role {
        match name {
            "general" => return Role::General,
            "assets" => return Role::Assets,
            "notifier" => return Role::Notifier,
            "whitelist_literals" => return Role::Literals,
            "whitelist_regexps" => return Role::Regexps,
            "DEFAULT" => return Role::Default,
            _ => {}
        }
        if name.len() > "whitelist_literals_".len() && name.starts_with("whitelist_literals_") {
            return Role::ModelWhitelist(whitelist::Kind::Literals);
        }
        if name.len() > "whitelist_regexps_".len() && name.starts_with("whitelist_regexps_") {
            return Role::ModelWhitelist(whitelist::Kind::Regexps);
        }
        if let Some((_, why)) = IGNORED_SECTIONS.iter().find(|(n, _)| *n == name) {
            return Role::Ignored(why);
        }
        if let Some(kind) = Kind::of_parameters(name) {
            return Role::ModelParams(kind);
        }
        if let Some(kind) = Kind::of_section(name) {
            return Role::UseCase(kind);
        }
        match UNSUPPORTED_MODELS
            .iter()
            .find(|(p, _)| name.len() > p.len() && name.starts_with(p))
        {
            Some((_, model_type)) => Role::Unsupported(model_type),
            None => Role::Unknown,
        }
    }
}

fn unknown_section(name: &str) -> String {
    let lower = name.to_lowercase();
    if lower != name && Role::of(&lower) != Role::Unknown {
        return format!("unknown section; section names are case-sensitive (as in ee-outliers), write [{lower}]");
    }
    if let Some(kind) = Kind::ALL
        .into_iter()
        .find(|k| name == format!("{}_", k.name()))
    {
        return format!(
            "a {0} use case needs a name after {0}_, e.g. [{0}_rare_childname]",
            kind.name()
        );
    }
    "unknown section; expected [general], [whitelist_literals], [whitelist_regexps], a use case such as [terms_<name>] \
     or [simplequery_<name>], \
     or one of ee-outliers' own sections ([assets], [notifier], [daemon], [derivedfields], ...)"
        .into()
}

/// The whitelist entries of `[whitelist_literals]` and `[whitelist_regexps]`, which apply
/// to every use case.
fn global_whitelist(diag: &mut Diagnostics, roles: &[(&RawSection, Role)]) -> Whitelist {
    let mut global = Whitelist::default();
    for (s, role) in roles {
        match role {
            Role::Literals => whitelist::section(diag, &mut global, whitelist::Kind::Literals, s),
            Role::Regexps => whitelist::section(diag, &mut global, whitelist::Kind::Regexps, s),
            _ => {}
        }
    }
    global
}

/// Errors for what `[general]` lacks while a use case relies on it: the index pattern
/// (`needs_index`) and a non-empty history window (`needs_window`).
fn check_general(
    diag: &mut Diagnostics,
    general: &general::GeneralSection,
    needs_index: bool,
    needs_window: bool,
) {
    // Where to point when [general] lacks something: the key if written, else the header.
    let at_general =
        |diag: &Diagnostics, written: &Option<(usize, String)>, key: &str| match written {
            Some((line, k)) => diag.at(*line, Some("general"), Some(k)),
            None => diag.at(general.line, Some("general"), Some(key)),
        };
    if needs_index && general.general.es_index_pattern.is_empty() {
        let at = at_general(diag, &general.index_at, "es_index_pattern");
        diag.error(
            at,
            "missing or empty, and a use case relies on it; name the indices to search, e.g. es_index_pattern=logs-endpoint-* (or set es_index in each use case)",
        );
    }
    if needs_window && general.general.history_window_hours == 0 {
        let at = at_general(diag, &general.window_at, "history_window_days");
        diag.error(
            at,
            "the history window is empty (0 days and 0 hours) and a use case relies on it; set history_window_days and/or history_window_hours to more than 0",
        );
    }
}

/// Entries of `[whitelist_*_<section>]`, by the use case section they apply to.
fn per_model_whitelists<'a>(
    diag: &mut Diagnostics,
    roles: &[(&'a RawSection, Role)],
) -> BTreeMap<&'a str, Whitelist> {
    let mut out: BTreeMap<&'a str, Whitelist> = BTreeMap::new();
    for (s, role) in roles {
        let Role::ModelWhitelist(kind) = role else {
            continue;
        };
        let prefix = match kind {
            whitelist::Kind::Literals => "whitelist_literals_",
            whitelist::Kind::Regexps => "whitelist_regexps_",
        };
        let target = &s.name[prefix.len()..];
        match roles.iter().find(|(t, _)| t.name == target).map(|(_, r)| r) {
            Some(Role::UseCase(_)) => {
                whitelist::section(diag, out.entry(target).or_default(), *kind, s)
            }
            Some(Role::Unsupported(_)) => diag.notice(
                diag.at(s.line, Some(&s.name), None),
                format!("ignored: it applies to [{target}], whose model type is not supported yet"),
            ),
            _ => diag.error(
                diag.at(s.line, Some(&s.name), None),
                format!(
                    "this per-use-case whitelist applies to [{target}], which is not a use case section of this file; \
                     name it {prefix}<use case section>, e.g. [{prefix}terms_rare_childname]"
                ),
            ),
        }
    }
    out
}

/// Names of the fields that `[derivedfields]` GROK patterns (`%{PATTERN:name}`) create.
fn derived_field_names(roles: &[(&RawSection, Role)]) -> BTreeSet<String> {
    let grok = regex::Regex::new(r"%\{[^}:]+:([^}:]+)(?::[^}]*)?\}").expect("valid regex");
    roles
        .iter()
        .filter(|(s, _)| s.name == "derivedfields")
        .flat_map(|(s, _)| s.entries.iter())
        .flat_map(|e| {
            grok.captures_iter(&e.value)
                .map(|c| c[1].to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_models;
