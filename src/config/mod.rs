//! Stage `config`: an ee-outliers style INI file becomes a validated [`Config`].
//!
//! Two steps, ripgrep-style: `rust-ini` reads the raw values (no `%` interpolation, no
//! quote or escape processing, continuation lines joined with `\n` as Python's
//! configparser does), a line scan finds where each section and key is written; then every
//! value is validated into high-level types. ALL problems of a file are collected and
//! reported at once as `path:line: [section] key: message`. Keys are case-insensitive.
//!
//! Invariant: a returned [`UseCase`] is valid; later stages never fail on its content.

mod model;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use model::*;

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub location: Location,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Every problem of a file, in line order; Display prints one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigErrors {
    pub errors: Vec<ConfigError>,
}

impl std::fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Reads and validates `path`.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) => Err(ConfigErrors {
            errors: vec![ConfigError {
                location: Location {
                    file: path.to_path_buf(),
                    line: 0,
                    section: None,
                    key: None,
                },
                message: format!("cannot read the file: {e}"),
            }],
        }),
    }
}

/// `[general]` keys that only concern ee-outliers' own process: accepted, reported, ignored.
const GENERAL_IGNORED: [&str; 14] = [
    "es_scroll_time",
    "es_username",
    "es_password",
    "verify_certs",
    "ca_certs",
    "es_verify_certs",
    "es_ca_certs",
    "use_ssl",
    "log_verbosity",
    "log_level",
    "log_file",
    "train_models",
    "es_notifications",
    "terms_batch_eval_size",
];

/// Sections of ee-outliers' own settings (daemon, notifier, per-model-type batch sizes,
/// assets, derived fields, ML): accepted, reported, ignored.
const IGNORED_SECTIONS: [&str; 13] = [
    "assets",
    "daemon",
    "notifier",
    "assetdefinitions",
    "derivedfields",
    "terms",
    "metrics",
    "simplequery",
    "beaconing",
    "sudden_appearance",
    "word2vec",
    "machine_learning",
    "analyzer",
];

/// Use case section prefixes recognised but not supported yet.
const UNSUPPORTED_MODELS: [&str; 5] = [
    "simplequery_",
    "metrics_",
    "sudden_appearance_",
    "word2vec_",
    "beaconing_",
];

/// Terms keys ee-outliers accepts that esoutliers does not act on.
const TERMS_IGNORED: [&str; 4] = [
    "process_documents_chronologically",
    "use_derived_fields",
    "highlight_match",
    "train_model",
];

/// Where a section and its keys are written, from the line scan.
#[derive(Debug, Default)]
struct Lines {
    /// section (lowercase) -> header line
    sections: BTreeMap<String, usize>,
    /// (section lowercase, key lowercase) -> line of first occurrence
    keys: BTreeMap<(String, String), usize>,
}

/// A section's keys: lowercase key -> (key as written, raw value).
type Props = BTreeMap<String, (String, String)>;

struct Ctx<'a> {
    file: &'a Path,
    lines: Lines,
    errors: Vec<ConfigError>,
    notices: Vec<Notice>,
}

impl Ctx<'_> {
    fn loc(&self, section: &str, key: Option<&str>) -> Location {
        let s = section.to_lowercase();
        let line = match key {
            Some(k) => self.lines.keys.get(&(s.clone(), k.to_lowercase())).copied(),
            None => None,
        }
        .or_else(|| self.lines.sections.get(&s).copied())
        .unwrap_or(0);
        Location {
            file: self.file.to_path_buf(),
            line,
            section: Some(section.to_string()),
            key: key.map(str::to_string),
        }
    }
    fn error(&mut self, section: &str, key: Option<&str>, message: impl Into<String>) {
        let location = self.loc(section, key);
        self.errors.push(ConfigError {
            location,
            message: message.into(),
        });
    }
    fn notice(&mut self, section: &str, key: Option<&str>, message: impl Into<String>) {
        let location = self.loc(section, key);
        self.notices.push(Notice {
            location,
            message: message.into(),
        });
    }
}

/// The line scan: section headers, keys, duplicates, and lines that are neither.
fn scan(file: &Path, text: &str, errors: &mut Vec<ConfigError>) -> Lines {
    let mut lines = Lines::default();
    let mut section: Option<String> = None;
    let mut last_was_key = false;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let t = raw.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            last_was_key = last_was_key && !t.is_empty();
            continue;
        }
        let loc = |section: &Option<String>, key: Option<&str>| Location {
            file: file.to_path_buf(),
            line: n,
            section: section.clone(),
            key: key.map(str::to_string),
        };
        if raw.starts_with([' ', '\t']) && last_was_key {
            continue; // continuation of the previous value
        }
        if t.starts_with('[') {
            if !t.ends_with(']') || t.len() < 3 {
                errors.push(ConfigError {
                    location: loc(&None, None),
                    message: format!("malformed section header {t:?}; write [name]"),
                });
                continue;
            }
            let name = t[1..t.len() - 1].trim().to_string();
            let lower = name.to_lowercase();
            if let Some(first) = lines.sections.get(&lower) {
                errors.push(ConfigError {
                    location: loc(&Some(name.clone()), None),
                    message: format!("duplicate section; it is already defined at line {first}. Merge the two or rename one"),
                });
            } else {
                lines.sections.insert(lower, n);
            }
            section = Some(name);
            last_was_key = false;
            continue;
        }
        let Some(pos) = t.find(['=', ':']) else {
            errors.push(ConfigError {
                location: loc(&section, None),
                message: format!(
                    "line {t:?} is neither a [section], a key=value pair nor a comment"
                ),
            });
            continue;
        };
        let key = t[..pos].trim();
        let Some(sec) = &section else {
            errors.push(ConfigError {
                location: loc(&None, Some(key)),
                message: "key outside any section; put it under [general] or a use case".into(),
            });
            continue;
        };
        let k = (sec.to_lowercase(), key.to_lowercase());
        if let Some(first) = lines.keys.get(&k) {
            errors.push(ConfigError {
                location: loc(&section, Some(key)),
                message: format!("duplicate key; it is already set at line {first}. Keep one"),
            });
        } else {
            lines.keys.insert(k, n);
        }
        last_was_key = true;
    }
    lines
}

/// Parses `text` read from `file`.
pub fn parse(file: &Path, text: &str) -> Result<Config, ConfigErrors> {
    let mut errors = Vec::new();
    let lines = scan(file, text, &mut errors);
    // A line that is neither a section, a key nor a comment makes rust-ini's reading of
    // the lines after it unreliable: report the structure first.
    if errors
        .iter()
        .any(|e| e.location.key.is_none() && !e.message.starts_with("duplicate"))
    {
        return Err(ConfigErrors { errors });
    }
    let opt = ini::ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        enabled_indented_mutiline_value: true,
        ..Default::default()
    };
    let ini = match ini::Ini::load_from_str_opt(text, opt) {
        Ok(i) => i,
        Err(e) => {
            if errors.is_empty() {
                errors.push(ConfigError {
                    location: Location {
                        file: file.to_path_buf(),
                        line: e.line,
                        section: None,
                        key: None,
                    },
                    message: format!("not an INI file: {}", e.msg),
                });
            }
            errors.sort_by_key(|e| e.location.line);
            return Err(ConfigErrors { errors });
        }
    };
    let mut cx = Ctx {
        file,
        lines,
        errors,
        notices: Vec::new(),
    };

    // Sections: name as written -> (key lowercase -> (key as written, value)), first value wins.
    let mut sections: Vec<(String, Props)> = Vec::new();
    for (name, props) in ini.iter() {
        let Some(name) = name else { continue };
        let idx = match sections
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(i) => i,
            None => {
                sections.push((name.to_string(), BTreeMap::new()));
                sections.len() - 1
            }
        };
        for (k, v) in props.iter() {
            sections[idx]
                .1
                .entry(k.to_lowercase())
                .or_insert_with(|| (k.to_string(), v.to_string()));
        }
    }

    let empty = BTreeMap::new();
    let general_props = sections
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("general"))
        .map(|(_, p)| p)
        .unwrap_or(&empty);
    let general = parse_general(&mut cx, general_props);
    let global_wl = {
        let lit = sections
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("whitelist_literals"))
            .map(|(n, p)| (n.clone(), p.clone()));
        let re = sections
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("whitelist_regexps"))
            .map(|(n, p)| (n.clone(), p.clone()));
        let mut wl = Whitelist::default();
        if let Some((n, p)) = lit {
            for (_, (k, v)) in p {
                if let Some(e) = literal(&mut cx, &n, &k, &v) {
                    wl.literals.push(e);
                }
            }
        }
        if let Some((n, p)) = re {
            for (_, (k, v)) in p {
                if let Some(e) = regexp(&mut cx, &n, &k, &v) {
                    wl.regexps.push(e);
                }
            }
        }
        wl
    };

    let mut use_cases = Vec::new();
    for (name, props) in &sections {
        let lower = name.to_lowercase();
        if matches!(
            lower.as_str(),
            "general" | "whitelist_literals" | "whitelist_regexps"
        ) {
            continue;
        }
        if IGNORED_SECTIONS.contains(&lower.as_str()) {
            cx.notice(
                name,
                None,
                "ignored: this section concerns ee-outliers' own process, not the terms model",
            );
            continue;
        }
        if let Some(rest) = lower.strip_prefix("terms_") {
            if rest.is_empty() {
                cx.error(
                    name,
                    None,
                    "a terms use case needs a name after terms_, e.g. [terms_rare_childname]",
                );
                continue;
            }
            if let Some(uc) = parse_use_case(&mut cx, name, &name[6..], props, &general, &global_wl)
            {
                use_cases.push(uc);
            }
            continue;
        }
        if let Some(p) = UNSUPPORTED_MODELS.iter().find(|p| lower.starts_with(*p)) {
            cx.notice(
                name,
                None,
                format!(
                    "model type {} is recognised but not supported yet; section skipped",
                    p.trim_end_matches('_')
                ),
            );
            continue;
        }
        cx.error(
            name,
            None,
            "unknown section; expected [general], [whitelist_literals], [whitelist_regexps] or a use case such as [terms_<name>]",
        );
    }
    if !use_cases.is_empty() && general.es_index_pattern.is_empty() {
        cx.error(
            "general",
            Some("es_index_pattern"),
            "missing; name the indices to search, e.g. es_index_pattern=logs-endpoint-*",
        );
    }
    if !use_cases.is_empty() && general.history_window_hours == 0 {
        cx.error(
            "general",
            Some("history_window_days"),
            "the window is empty; set history_window_days and/or history_window_hours to more than 0",
        );
    }
    if !cx.errors.is_empty() {
        let mut errors = cx.errors;
        errors.sort_by_key(|e| e.location.line);
        return Err(ConfigErrors { errors });
    }
    cx.notices.sort_by_key(|n| n.location.line);
    Ok(Config {
        path: file.to_path_buf(),
        general,
        use_cases,
        notices: cx.notices,
    })
}

fn parse_bool(cx: &mut Ctx, section: &str, key: &str, v: &str) -> Option<bool> {
    match v.trim().to_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => {
            cx.error(
                section,
                Some(key),
                format!("{v:?} is not a boolean; write 0 or 1"),
            );
            None
        }
    }
}

fn parse_uint(cx: &mut Ctx, section: &str, key: &str, v: &str, min: u64) -> Option<u64> {
    match v.trim().parse::<u64>() {
        Ok(n) if n >= min => Some(n),
        _ => {
            cx.error(
                section,
                Some(key),
                format!("{v:?} is not a whole number of at least {min}"),
            );
            None
        }
    }
}

fn parse_general(cx: &mut Ctx, props: &Props) -> General {
    let mut g = General {
        es_url: None,
        es_index_pattern: String::new(),
        timestamp_field: "@timestamp".into(),
        history_window_hours: 0,
        save_results: true,
        print_outliers_to_console: false,
        es_timeout_secs: 300,
        es_scan_size: 1000,
        run_models: true,
        test_models: false,
        wipe_all_existing_outliers: false,
        wipe_all_whitelisted_outliers: false,
    };
    let (mut days, mut hours) = (0u64, 0u64);
    for (k, (key, v)) in props {
        let s = "general";
        let val = v.trim();
        match k.as_str() {
            "es_url" => {
                if !val.is_empty() {
                    g.es_url = Some(val.to_string());
                }
            }
            "es_index_pattern" => g.es_index_pattern = val.to_string(),
            "timestamp_field" => {
                if val.is_empty() {
                    cx.error(
                        s,
                        Some(key),
                        "empty; name the event time field, e.g. @timestamp",
                    );
                } else {
                    g.timestamp_field = val.to_string();
                }
            }
            "history_window_days" => days = parse_uint(cx, s, key, val, 0).unwrap_or(0),
            "history_window_hours" => hours = parse_uint(cx, s, key, val, 0).unwrap_or(0),
            "es_save_results" => g.save_results = parse_bool(cx, s, key, val).unwrap_or(true),
            "print_outliers_to_console" => {
                g.print_outliers_to_console = parse_bool(cx, s, key, val).unwrap_or(false)
            }
            "es_timeout" => g.es_timeout_secs = parse_uint(cx, s, key, val, 1).unwrap_or(300),
            "es_scan_size" => {
                g.es_scan_size = parse_uint(cx, s, key, val, 1).unwrap_or(1000).min(10_000) as u32
            }
            "run_models" => g.run_models = parse_bool(cx, s, key, val).unwrap_or(true),
            "test_models" => g.test_models = parse_bool(cx, s, key, val).unwrap_or(false),
            "es_wipe_all_existing_outliers" => {
                g.wipe_all_existing_outliers = parse_bool(cx, s, key, val).unwrap_or(false)
            }
            "es_wipe_all_whitelisted_outliers" => {
                g.wipe_all_whitelisted_outliers = parse_bool(cx, s, key, val).unwrap_or(false)
            }
            k if k == "es_username" || k == "es_password" => {
                // Never echo the value.
                cx.notice(s, Some(key), "ignored: credentials come from ES_USER/ES_PASSWORD or ES_API_KEY, never from the config");
            }
            k if GENERAL_IGNORED.contains(&k) => {
                cx.notice(s, Some(key), "ignored: concerns ee-outliers' internals")
            }
            _ => cx.error(
                s,
                Some(key),
                "unknown key in [general]; see the README for the keys esoutliers reads",
            ),
        }
    }
    g.history_window_hours = days.saturating_mul(24).saturating_add(hours);
    g
}

fn split_list(v: &str) -> Vec<String> {
    v.split(',')
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn literal(cx: &mut Ctx, section: &str, key: &str, v: &str) -> Option<LiteralEntry> {
    let values = split_list(v);
    if values.is_empty() {
        cx.error(
            section,
            Some(key),
            "empty whitelist entry; list one or more comma-separated values",
        );
        return None;
    }
    Some(LiteralEntry {
        name: key.to_string(),
        values,
    })
}

fn regexp(cx: &mut Ctx, section: &str, key: &str, v: &str) -> Option<RegexpEntry> {
    let parts = split_list(v);
    if parts.is_empty() {
        cx.error(
            section,
            Some(key),
            "empty whitelist entry; list one or more comma-separated regular expressions",
        );
        return None;
    }
    let mut patterns = Vec::new();
    for p in parts {
        match regex::Regex::new(&p) {
            Ok(r) => patterns.push(r),
            Err(e) => {
                let msg = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                cx.error(
                    section,
                    Some(key),
                    format!("regular expression {p:?} does not compile: {msg}"),
                );
                return None;
            }
        }
    }
    Some(RegexpEntry {
        name: key.to_string(),
        patterns,
    })
}

fn parse_summary(cx: &mut Ctx, section: &str, key: &str, v: &str) -> Option<SummaryTemplate> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        match c {
            '{' => {
                let mut field = String::new();
                let mut closed = false;
                for d in chars.by_ref() {
                    if d == '}' {
                        closed = true;
                        break;
                    }
                    if d == '{' {
                        break;
                    }
                    field.push(d);
                }
                let field = field.trim().to_string();
                if !closed || field.is_empty() {
                    cx.error(
                        section,
                        Some(key),
                        format!("unbalanced or empty placeholder in {v:?}; write {{field.name}}"),
                    );
                    return None;
                }
                if !text.is_empty() {
                    parts.push(SummaryPart::Text(std::mem::take(&mut text)));
                }
                parts.push(SummaryPart::Field(field));
            }
            '}' => {
                cx.error(section, Some(key), format!("'}}' without '{{' in {v:?}"));
                return None;
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        parts.push(SummaryPart::Text(text));
    }
    Some(SummaryTemplate {
        raw: v.to_string(),
        parts,
    })
}

fn validate_sensitivity(method: TriggerMethod, s: f64) -> Result<(), &'static str> {
    use TriggerMethod::*;
    match method {
        PctOfAvgValue if s > 0.0 => Ok(()),
        PctOfAvgValue => Err("must be a percentage above 0 for pct_of_avg_value"),
        PctOfMaxValue | PctOfMedianValue if s >= 0.0 => Ok(()),
        PctOfMaxValue | PctOfMedianValue => Err("must be a percentage of 0 or more"),
        Percentile if (0.0..=100.0).contains(&s) => Ok(()),
        Percentile => Err("must be a percentile from 0 to 100"),
        Stdev | Mad | Madpos | CoeffOfVariation if s >= 0.0 => Ok(()),
        Stdev | Mad | Madpos | CoeffOfVariation => Err("must be 0 or more"),
        Float => Ok(()),
    }
}

fn parse_use_case(
    cx: &mut Ctx,
    section: &str,
    model_name: &str,
    props: &Props,
    general: &General,
    global_wl: &Whitelist,
) -> Option<UseCase> {
    let before = cx.errors.len();
    let get = |k: &str| {
        props
            .get(k)
            .map(|(key, v)| (key.clone(), v.trim().to_string()))
    };
    let required = |cx: &mut Ctx, k: &str, hint: &str| -> Option<(String, String)> {
        match get(k) {
            Some((key, v)) if !v.is_empty() => Some((key, v)),
            Some((key, _)) => {
                cx.error(section, Some(&key), format!("empty; {hint}"));
                None
            }
            None => {
                cx.error(section, Some(k), format!("missing; {hint}"));
                None
            }
        }
    };
    let fields = |cx: &mut Ctx, key: &str, v: &str| -> Vec<String> {
        let f = split_list(v);
        let mut seen = std::collections::BTreeSet::new();
        for x in &f {
            if !seen.insert(x) {
                cx.error(section, Some(key), format!("field {x} is listed twice"));
            }
        }
        f
    };
    let aggregator = required(
        cx,
        "aggregator",
        "name the field(s) to group by, e.g. aggregator=process.parent.name",
    )
    .map(|(k, v)| fields(cx, &k, &v))
    .unwrap_or_default();
    let target = required(
        cx,
        "target",
        "name the field(s) to count, e.g. target=process.name",
    )
    .map(|(k, v)| fields(cx, &k, &v))
    .unwrap_or_default();
    let count_method = match get("target_count_method") {
        None => CountMethod::WithinAggregator,
        Some((key, v)) => match v.as_str() {
            "within_aggregator" => CountMethod::WithinAggregator,
            "across_aggregators" => CountMethod::AcrossAggregators,
            _ => {
                cx.error(section, Some(&key), format!("unknown target_count_method {v:?}; expected within_aggregator or across_aggregators"));
                CountMethod::WithinAggregator
            }
        },
    };
    let on = required(cx, "trigger_on", "write trigger_on=low or trigger_on=high").and_then(
        |(key, v)| match v.as_str() {
            "low" => Some(TriggerOn::Low),
            "high" => Some(TriggerOn::High),
            _ => {
                cx.error(
                    section,
                    Some(&key),
                    format!("unknown trigger_on {v:?}; expected low or high"),
                );
                None
            }
        },
    );
    let names: Vec<&str> = TriggerMethod::ALL.iter().map(|m| m.as_str()).collect();
    let method = required(cx, "trigger_method", "e.g. trigger_method=pct_of_avg_value").and_then(
        |(key, v)| {
            let m = TriggerMethod::parse(&v);
            if m.is_none() {
                cx.error(
                    section,
                    Some(&key),
                    format!(
                        "unknown trigger_method {v:?}; expected one of {}",
                        names.join(", ")
                    ),
                );
            }
            m
        },
    );
    let sensitivity =
        required(cx, "trigger_sensitivity", "e.g. trigger_sensitivity=1").and_then(|(key, v)| {
            match v.parse::<f64>() {
                Ok(s) if s.is_finite() => {
                    if let Some(m) = method {
                        if let Err(why) = validate_sensitivity(m, s) {
                            cx.error(section, Some(&key), format!("{v} {why}"));
                            return None;
                        }
                    }
                    Some(s)
                }
                _ => {
                    cx.error(section, Some(&key), format!("{v:?} is not a number"));
                    None
                }
            }
        });
    let min_target_buckets =
        get("min_target_buckets").and_then(|(key, v)| parse_uint(cx, section, &key, &v, 1));
    let baseline_window_hours = get("baseline_window_days").and_then(|(key, v)| {
        let days = parse_uint(cx, section, &key, &v, 1)?;
        let hours = days.saturating_mul(24);
        if hours <= general.history_window_hours {
            cx.error(
                section,
                Some(&key),
                format!(
                    "{days} days is not longer than the detection window ({} hours); a baseline must reach further back",
                    general.history_window_hours
                ),
            );
            return None;
        }
        Some(hours)
    });
    let filter = match (get("es_query_filter"), get("es_dsl_filter")) {
        (Some((k, _)), Some(_)) => {
            cx.error(
                section,
                Some(&k),
                "es_query_filter and es_dsl_filter are both set; keep one",
            );
            Filter::None
        }
        (Some((_, q)), None) if !q.is_empty() => Filter::QueryString(q),
        (None, Some((k, d))) if !d.is_empty() => {
            match serde_json::from_str::<serde_json::Value>(&d) {
                Ok(v) if v.is_object() => Filter::Dsl(v),
                Ok(_) => {
                    cx.error(section, Some(&k), "must be a JSON object (a query), e.g. {\"term\": {\"event.category\": \"process\"}}");
                    Filter::None
                }
                Err(e) => {
                    cx.error(section, Some(&k), format!("not valid JSON: {e}"));
                    Filter::None
                }
            }
        }
        _ => Filter::None,
    };
    let outlier_type = required(cx, "outlier_type", "e.g. outlier_type=process execution")
        .map(|x| x.1)
        .unwrap_or_default();
    let outlier_reason = required(
        cx,
        "outlier_reason",
        "e.g. outlier_reason=rare child process",
    )
    .map(|x| x.1)
    .unwrap_or_default();
    let outlier_summary = required(
        cx,
        "outlier_summary",
        "e.g. outlier_summary=rare child process {process.name}",
    )
    .and_then(|(key, v)| parse_summary(cx, section, &key, &v));
    let flag = |cx: &mut Ctx, k: &str, default: bool| {
        get(k)
            .and_then(|(key, v)| parse_bool(cx, section, &key, &v))
            .unwrap_or(default)
    };
    let run_model = flag(cx, "run_model", true);
    let test_model = flag(cx, "test_model", false);
    let should_notify = flag(cx, "should_notify", false);

    let mut whitelist = global_wl.clone();
    for (k, (key, v)) in props {
        if k.starts_with("whitelist_literals_") {
            if let Some(e) = literal(cx, section, key, v) {
                whitelist.literals.push(e);
            }
        } else if k.starts_with("whitelist_regexps_") {
            if let Some(e) = regexp(cx, section, key, v) {
                whitelist.regexps.push(e);
            }
        } else if TERMS_IGNORED.contains(&k.as_str()) {
            cx.notice(
                section,
                Some(key),
                "ignored: esoutliers does not use this key",
            );
        } else if !matches!(
            k.as_str(),
            "es_query_filter"
                | "es_dsl_filter"
                | "aggregator"
                | "target"
                | "target_count_method"
                | "trigger_on"
                | "trigger_method"
                | "trigger_sensitivity"
                | "min_target_buckets"
                | "baseline_window_days"
                | "outlier_type"
                | "outlier_reason"
                | "outlier_summary"
                | "run_model"
                | "test_model"
                | "should_notify"
        ) {
            cx.error(section, Some(key), "unknown key for a terms use case");
        }
    }
    if cx.errors.len() > before {
        return None;
    }
    if aggregator
        .iter()
        .chain(target.iter())
        .any(|f| f.contains('*'))
    {
        // ee-outliers' "brute force" mode (target=*: every field in turn).
        cx.notice(section, None, "a field list with * (ee-outliers' brute force over every field) is not supported yet; section skipped");
        return None;
    }
    Some(UseCase {
        name: section.to_string(),
        model_name: model_name.to_string(),
        location: cx.loc(section, None),
        index_pattern: general.es_index_pattern.clone(),
        timestamp_field: general.timestamp_field.clone(),
        history_window_hours: general.history_window_hours,
        baseline_window_hours,
        filter,
        aggregator,
        target,
        count_method,
        trigger: TriggerSpec {
            on: on?,
            method: method?,
            sensitivity: sensitivity?,
        },
        min_target_buckets,
        outlier_type,
        outlier_reason,
        outlier_summary: outlier_summary?,
        run_model,
        test_model,
        should_notify,
        whitelist,
        save_results: general.save_results,
    })
}

/// Every `.conf` file of a folder in name order, or the file itself.
pub fn files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        v.sort();
        Ok(v)
    } else {
        Ok(vec![path.to_path_buf()])
    }
}

#[cfg(test)]
mod tests;
