//! Stage `config`: whitelist entries (`name = a, b`) become [`LiteralEntry`] and
//! [`RegexpEntry`] values.
//!
//! Where they come from (all merged into `UseCase::whitelist`, in this order):
//! - `[whitelist_literals]` / `[whitelist_regexps]`: every use case of the file (in
//!   ee-outliers' one-use-case-per-file layout, that one use case);
//! - `[whitelist_literals_<use case section>]` / `[whitelist_regexps_<use case section>]`,
//!   e.g. `[whitelist_literals_terms_rare_childname]`: that use case only;
//! - keys `whitelist_literals_<name>` / `whitelist_regexps_<name>` inside the use case
//!   section (as in ee-outliers' `use_cases/examples/terms_ssl_beaconing.conf`).
//!
//! A value is split on `,`; parts are trimmed and empty parts dropped; an entry with no
//! part is an error. Regexps are compiled case-insensitively, as ee-outliers compiles them
//! (`re.IGNORECASE`), so a whitelist matches the same events in both tools. A regex that
//! does not compile is an error (ee-outliers logs it and drops it silently).

use super::error::Diagnostics;
use super::model::{LiteralEntry, RegexpEntry, Whitelist};
use super::scan::{RawEntry, RawSection};
use super::value;

/// `name = a, b`: every part must be among the event's strings.
pub(super) fn literal(name: &str, v: &str) -> Result<LiteralEntry, String> {
    let values = value::parts(v);
    if values.is_empty() {
        return Err("empty whitelist entry; list one or more comma-separated values, e.g. name=value1, value2".into());
    }
    Ok(LiteralEntry {
        name: name.to_string(),
        values,
    })
}

/// `name = r1, r2`: every regex must match one of the event's strings.
pub(super) fn regexp(name: &str, v: &str) -> Result<RegexpEntry, String> {
    let parts = value::parts(v);
    if parts.is_empty() {
        return Err("empty whitelist entry; list one or more comma-separated regular expressions, e.g. name=^svchost\\.exe$".into());
    }
    let split = parts.len() > 1;
    let mut patterns = Vec::with_capacity(parts.len());
    for p in &parts {
        match regex::RegexBuilder::new(p).case_insensitive(true).build() {
            Ok(r) => patterns.push(r),
            Err(e) => {
                // The regex crate's message is multi-line (pattern, caret, reason); the
                // last line is the reason.
                let why = e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim()
                    .trim_start_matches("error: ")
                    .to_string();
                let hint = if split {
                    "; the value is split on ',' (as ee-outliers does), so write a comma inside a regex as \\x2c"
                } else {
                    ""
                };
                return Err(format!(
                    "regular expression {p:?} does not compile: {why}{hint}"
                ));
            }
        }
    }
    Ok(RegexpEntry {
        name: name.to_string(),
        patterns,
    })
}

/// Which of the two lists a section or key adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Literals,
    Regexps,
}

/// Adds one entry to `wl`; a bad entry is reported at its key.
pub(super) fn add(
    diag: &mut Diagnostics,
    wl: &mut Whitelist,
    kind: Kind,
    section: &str,
    e: &RawEntry,
) {
    let result = match kind {
        Kind::Literals => literal(&e.key, &e.value).map(|x| wl.literals.push(x)),
        Kind::Regexps => regexp(&e.key, &e.value).map(|x| wl.regexps.push(x)),
    };
    if let Err(message) = result {
        diag.error(diag.at(e.line, Some(section), Some(&e.key)), message);
    }
}

/// Every entry of a whitelist section.
pub(super) fn section(diag: &mut Diagnostics, wl: &mut Whitelist, kind: Kind, s: &RawSection) {
    for e in s.unique_entries() {
        add(diag, wl, kind, &s.name, e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_parts_are_trimmed_and_empty_parts_dropped() {
        let e = literal("slack", " rare outbound connection: Slack.exe , ,x ").unwrap();
        assert_eq!(e.values, vec!["rare outbound connection: Slack.exe", "x"]);
        assert_eq!(e.name, "slack");
    }

    #[test]
    fn literal_without_parts_is_an_error() {
        assert!(literal("a", " , ")
            .unwrap_err()
            .contains("empty whitelist entry"));
    }

    #[test]
    fn regexps_compile_case_insensitively_like_ee_outliers() {
        let e = regexp("w", "^evil, ^r\\.exe$").unwrap();
        assert_eq!(e.patterns.len(), 2);
        assert!(e.patterns[0].is_match("EVILhost"));
        assert!(e.patterns[1].is_match("R.EXE"));
    }

    #[test]
    fn bad_regex_names_the_regex_and_the_reason() {
        let m = regexp("w", "^(unclosed").unwrap_err();
        assert!(
            m.starts_with("regular expression \"^(unclosed\" does not compile: unclosed group"),
            "{m}"
        );
    }

    #[test]
    fn regex_broken_by_the_comma_split_gets_a_hint() {
        let m = regexp("w", "^x{1,3}$").unwrap_err();
        assert!(m.contains("\\x2c"), "{m}");
    }

    #[test]
    fn regexp_without_parts_is_an_error() {
        assert!(regexp("w", "")
            .unwrap_err()
            .contains("empty whitelist entry"));
    }
}
