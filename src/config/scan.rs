//! Stage `config`, step 1 of 2: the text of an INI file becomes raw sections of raw
//! `key = value` entries, each with the line it is written on. No value is interpreted.
//!
//! Values are read by `rust-ini` with everything that would change them turned off: no
//! `%` interpolation (rust-ini has none), no quote stripping, no escape processing, and
//! indented continuation lines joined with `\n`, which is what ee-outliers' Python
//! `configparser` (with `interpolation=None`) does. rust-ini reports no line numbers, so a
//! line scan finds where every section and key is written, and catches what configparser
//! rejects: a line that is neither a comment, a `[section]` nor a `key=value` pair, a key
//! before the first section, duplicate sections and duplicate keys.
//!
//! The scan also hands rust-ini a normalised copy of the text with the same line count:
//! comment lines and rejected lines are blanked (so one bad line does not hide the
//! problems of the rest of the file), `[name] ; comment` becomes `[name]`, and a space is
//! added after a backslash that ends a line (rust-ini would otherwise join the next line;
//! configparser keeps the backslash, and values are trimmed anyway).
//!
//! Invariants: every returned section and entry has a 1-based line; section names are
//! trimmed and case-sensitive (as in configparser); keys are trimmed, compared in lower
//! case, and a repeated key is kept but marked `duplicate` (and reported).

use std::collections::BTreeMap;

use super::error::Diagnostics;

/// One `key = value` line (plus its continuation lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawEntry {
    /// The key as written, trimmed.
    pub key: String,
    /// The key in lower case, for matching.
    pub lower: String,
    pub line: usize,
    /// The value as rust-ini read it: trimmed, raw, continuation lines joined with `\n`.
    pub value: String,
    /// True for the second and later occurrences of a key in a section (already reported).
    pub duplicate: bool,
}

/// One `[section]`, with the entries of every header of that name in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct RawSection {
    pub name: String,
    /// Line of the first header of this name.
    pub line: usize,
    pub entries: Vec<RawEntry>,
}

impl RawSection {
    /// The first occurrence of `lower_key`.
    pub(super) fn get(&self, lower_key: &str) -> Option<&RawEntry> {
        self.entries
            .iter()
            .find(|e| e.lower == lower_key && !e.duplicate)
    }

    /// Every entry except repeated keys.
    pub(super) fn unique_entries(&self) -> impl Iterator<Item = &RawEntry> {
        self.entries.iter().filter(|e| !e.duplicate)
    }
}

/// What a rejected line becomes in the text given to rust-ini: a comment at column 1,
/// which (unlike a blank line) also ends a continued value there, as the scan does.
const REJECTED: &str = "#";

/// A section header or key line found by the line scan.
struct Header {
    name: String,
    line: usize,
    keys: Vec<(String, usize)>,
}

/// Reads `text` into sections in file order (a repeated section is merged into the
/// first one); every problem goes to `diag`.
pub(super) fn read(text: &str, diag: &mut Diagnostics) -> Vec<RawSection> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (headers, normalised) = scan(text, diag);
    let values = match values(&normalised, &headers) {
        Ok(v) => v,
        Err((line, message)) => {
            diag.error(diag.at(line, None, None), message);
            return Vec::new();
        }
    };
    merge(headers, values, diag)
}

/// The line scan: where each section and key is, the problems configparser would reject,
/// and the normalised text for rust-ini.
fn scan(text: &str, diag: &mut Diagnostics) -> (Vec<Header>, String) {
    let mut headers: Vec<Header> = Vec::new();
    let mut normalised: Vec<String> = Vec::new();
    // True after a key line, until a header or another non-indented line: an indented
    // line is then a continuation of that key's value (blank and comment lines between
    // do not end it, as in configparser).
    let mut in_value = false;
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
            normalised.push(String::new());
            continue;
        }
        if in_value && line.starts_with([' ', '\t']) {
            normalised.push(keep_trailing_backslash(line));
            continue;
        }
        in_value = false;
        let current = headers.last().map(|h| h.name.clone());
        if t.starts_with('[') {
            match header_name(t) {
                Ok(name) => {
                    normalised.push(format!("[{name}]"));
                    headers.push(Header {
                        name,
                        line: n,
                        keys: Vec::new(),
                    });
                }
                Err(message) => {
                    diag.error(diag.at(n, None, None), message);
                    normalised.push(REJECTED.into());
                    // Keys below a broken header belong to no known section.
                    headers.push(Header {
                        name: String::new(),
                        line: n,
                        keys: Vec::new(),
                    });
                }
            }
            continue;
        }
        let Some(pos) = t.find(['=', ':']) else {
            diag.error(
                diag.at(n, current.as_deref().filter(|s| !s.is_empty()), None),
                format!(
                    "line {t:?} is neither a [section] header, a key=value pair nor a comment; \
                     write key=value, or start the line with # to make it a comment"
                ),
            );
            normalised.push(REJECTED.into());
            continue;
        };
        let key = t[..pos].trim();
        let section = current.as_deref().filter(|s| !s.is_empty());
        if key.is_empty() {
            diag.error(
                diag.at(n, section, None),
                format!(
                    "line {t:?} has no key before {:?}; write key=value",
                    &t[pos..=pos]
                ),
            );
            normalised.push(REJECTED.into());
            continue;
        }
        if key.contains('\\') {
            diag.error(
                diag.at(n, section, Some(key)),
                "a key cannot contain a backslash; rename the key",
            );
            normalised.push(REJECTED.into());
            continue;
        }
        match headers.last_mut() {
            None => {
                diag.error(
                    diag.at(n, None, Some(key)),
                    "this key comes before any [section] header; move it under [general] or a use case section",
                );
                normalised.push(REJECTED.into());
            }
            Some(h) if h.name.is_empty() => normalised.push(REJECTED.into()),
            Some(h) => {
                h.keys.push((key.to_string(), n));
                normalised.push(keep_trailing_backslash(line));
                in_value = true;
            }
        }
    }
    headers.retain(|h| !h.name.is_empty());
    (headers, normalised.join("\n"))
}

/// The name inside `[name]`, trimmed. Text after the closing `]` may only be a comment.
fn header_name(t: &str) -> Result<String, String> {
    let Some(close) = t.rfind(']') else {
        return Err(format!(
            "section header {t:?} has no closing ']'; write [name]"
        ));
    };
    let name = t[1..close].trim();
    let rest = t[close + 1..].trim();
    if !(rest.is_empty() || rest.starts_with('#') || rest.starts_with(';')) {
        return Err(format!(
            "section header {t:?} has text after ']'; write [name] alone on the line"
        ));
    }
    if name.is_empty() {
        return Err("empty section header []; write [name]".into());
    }
    if name.contains(['[', ']', '\\']) {
        return Err(format!(
            "section name {name:?} contains '[', ']' or '\\'; use letters, digits and '_'"
        ));
    }
    Ok(name.to_string())
}

fn keep_trailing_backslash(line: &str) -> String {
    if line.ends_with('\\') {
        format!("{line} ")
    } else {
        line.to_string()
    }
}

/// rust-ini's values for the scanned keys, section by section, in the same order.
/// `Err((line, message))` when rust-ini rejects the normalised text or disagrees with the
/// line scan, which the normalisation is there to prevent.
fn values(normalised: &str, headers: &[Header]) -> Result<Vec<Vec<String>>, (usize, String)> {
    let opt = ini::ParseOption {
        enabled_quote: false,
        enabled_escape: false,
        enabled_indented_mutiline_value: true,
        enabled_preserve_key_leading_whitespace: false,
    };
    let parsed = ini::Ini::load_from_str_opt(normalised, opt).map_err(|e| {
        (
            e.line,
            format!("this file is not valid INI: {} (column {})", e.msg, e.col),
        )
    })?;
    let mut sections = parsed
        .iter()
        .filter_map(|(name, props)| name.map(|n| (n, props)));
    let mut out = Vec::with_capacity(headers.len());
    for h in headers {
        let disagree = || {
            (h.line, "esoutliers read this section inconsistently (rust-ini and the line scan disagree); please report this file".to_string())
        };
        let (name, props) = sections.next().ok_or_else(disagree)?;
        let pairs: Vec<(&str, &str)> = props.iter().collect();
        if name != h.name
            || pairs.len() != h.keys.len()
            || pairs
                .iter()
                .zip(&h.keys)
                .any(|((k, _), (key, _))| *k != key.as_str())
        {
            return Err(disagree());
        }
        out.push(pairs.into_iter().map(|(_, v)| v.to_string()).collect());
    }
    Ok(out)
}

/// Joins headers and values; merges repeated sections and marks repeated keys, reporting both.
fn merge(
    headers: Vec<Header>,
    values: Vec<Vec<String>>,
    diag: &mut Diagnostics,
) -> Vec<RawSection> {
    let mut sections: Vec<RawSection> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for (h, vals) in headers.into_iter().zip(values) {
        let i = match index.get(&h.name) {
            Some(&i) => {
                let first = sections[i].line;
                diag.error(
                    diag.at(h.line, Some(&h.name), None),
                    format!("duplicate section; it is already defined at line {first}; merge the two into one section"),
                );
                i
            }
            None => {
                index.insert(h.name.clone(), sections.len());
                sections.push(RawSection {
                    name: h.name.clone(),
                    line: h.line,
                    entries: Vec::new(),
                });
                sections.len() - 1
            }
        };
        for ((key, line), value) in h.keys.into_iter().zip(vals) {
            let lower = key.to_lowercase();
            let first = sections[i]
                .entries
                .iter()
                .find(|e| e.lower == lower)
                .map(|e| e.line);
            if let Some(first) = first {
                diag.error(
                    diag.at(line, Some(&h.name), Some(&key)),
                    format!("duplicate key; it is already set at line {first} of this section; keep only one of the two"),
                );
            }
            sections[i].entries.push(RawEntry {
                key,
                lower,
                line,
                value,
                duplicate: first.is_some(),
            });
        }
    }
    sections
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn read_ok(text: &str) -> Vec<RawSection> {
        let mut d = Diagnostics::new(Path::new("t.conf"));
        let s = read(text, &mut d);
        if let Err(e) = d.finish() {
            panic!("unexpected errors:\n{e}");
        }
        s
    }

    fn read_err(text: &str) -> Vec<String> {
        let mut d = Diagnostics::new(Path::new("t.conf"));
        read(text, &mut d);
        d.finish()
            .expect_err("expected errors")
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn value<'a>(s: &'a [RawSection], section: &str, key: &str) -> &'a str {
        &s.iter()
            .find(|x| x.name == section)
            .unwrap()
            .get(key)
            .unwrap()
            .value
    }

    #[test]
    fn sections_and_keys_carry_their_lines() {
        let s =
            read_ok("# c\n[general]\nes_url = http://x:9200\n\n[terms_a]\ntarget: process.name\n");
        assert_eq!((s[0].name.as_str(), s[0].line), ("general", 2));
        assert_eq!(
            (s[0].entries[0].key.as_str(), s[0].entries[0].line),
            ("es_url", 3)
        );
        assert_eq!((s[1].name.as_str(), s[1].line), ("terms_a", 5));
        assert_eq!(s[1].entries[0].value, "process.name");
    }

    #[test]
    fn values_stay_raw() {
        let s = read_ok("[a]\nq=tags:\"x\" AND 100% ; not a comment # nor this\np='single' \"double\"\nr=C:\\Windows\\n\\t\n");
        assert_eq!(
            value(&s, "a", "q"),
            "tags:\"x\" AND 100% ; not a comment # nor this"
        );
        assert_eq!(value(&s, "a", "p"), "'single' \"double\"");
        assert_eq!(value(&s, "a", "r"), "C:\\Windows\\n\\t");
    }

    #[test]
    fn first_delimiter_separates_key_and_value() {
        let s = read_ok("[a]\nes_query_filter=tags:endpoint\nhost.name: a=b\n");
        assert_eq!(value(&s, "a", "es_query_filter"), "tags:endpoint");
        assert_eq!(value(&s, "a", "host.name"), "a=b");
    }

    #[test]
    fn trailing_backslash_does_not_join_the_next_line() {
        let s = read_ok("[a]\npath=C:\\Windows\\\nnext=1\n");
        assert_eq!(value(&s, "a", "path"), "C:\\Windows\\");
        assert_eq!(value(&s, "a", "next"), "1");
    }

    #[test]
    fn indented_lines_continue_the_value_and_comments_are_skipped() {
        let s = read_ok("[a]\ndsl={\"query\":\n    # inside\n    {\"match_all\": {}}}\n  \nb=2\n");
        assert!(value(&s, "a", "dsl").starts_with("{\"query\":\n"));
        assert!(value(&s, "a", "dsl").ends_with("{\"match_all\": {}}}"));
        assert!(!value(&s, "a", "dsl").contains("inside"));
        assert_eq!(value(&s, "a", "b"), "2");
    }

    #[test]
    fn crlf_bom_and_header_comment_are_accepted() {
        let s = read_ok("\u{feff}[general] ; the main section\r\nes_url=http://x\r\n");
        assert_eq!(s[0].name, "general");
        assert_eq!(value(&s, "general", "es_url"), "http://x");
    }

    #[test]
    fn empty_value_is_allowed() {
        let s = read_ok("[general]\nes_username=\n");
        assert_eq!(value(&s, "general", "es_username"), "");
    }

    #[test]
    fn line_without_delimiter_is_an_error_naming_its_line() {
        let e = read_err("[general]\nes_url=http://x\njust some words\n");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("t.conf:3: [general]: line \"just some words\" is neither"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn bad_line_does_not_hide_later_lines() {
        let mut d = Diagnostics::new(Path::new("t.conf"));
        let s = read("[a]\nbroken\nk=v\n[b]\nx=1\n", &mut d);
        assert_eq!(d.error_count(), 1);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].get("k").unwrap().value, "v");
    }

    #[test]
    fn key_before_any_section_is_an_error() {
        let e = read_err("es_url=http://x\n[general]\n");
        assert!(
            e[0].starts_with("t.conf:1: es_url: this key comes before any [section]"),
            "{}",
            e[0]
        );
    }

    #[test]
    fn malformed_headers_are_errors() {
        assert!(read_err("[general\n")[0].contains("no closing ']'"));
        assert!(read_err("[]\n")[0].contains("empty section header"));
        assert!(read_err("[a] b\n")[0].contains("text after ']'"));
    }

    #[test]
    fn missing_key_is_an_error() {
        assert!(read_err("[a]\n=v\n")[0].starts_with("t.conf:2: [a]: line \"=v\" has no key"));
    }

    #[test]
    fn duplicate_section_names_both_lines_and_merges() {
        let mut d = Diagnostics::new(Path::new("t.conf"));
        let s = read("[a]\nx=1\n[b]\n[a]\ny=2\n", &mut d);
        let e = d.finish().unwrap_err();
        assert_eq!(e.errors.len(), 1);
        assert_eq!(
            e.errors[0].to_string(),
            "t.conf:4: [a]: duplicate section; it is already defined at line 1; merge the two into one section"
        );
        assert_eq!(s[0].entries.len(), 2);
    }

    #[test]
    fn duplicate_key_is_case_insensitive_and_names_both_lines() {
        let mut d = Diagnostics::new(Path::new("t.conf"));
        let s = read("[a]\nTarget=x\ntarget=y\n", &mut d);
        let e = d.finish().unwrap_err();
        assert_eq!(
            e.errors[0].to_string(),
            "t.conf:3: [a] target: duplicate key; it is already set at line 2 of this section; keep only one of the two"
        );
        assert_eq!(s[0].get("target").unwrap().value, "x");
    }

    #[test]
    fn rejected_line_ends_a_continued_value() {
        let mut d = Diagnostics::new(Path::new("t.conf"));
        let s = read("[a]\nk=v\nbroken\n  indented=1\n", &mut d);
        assert_eq!(d.error_count(), 1);
        assert_eq!(s[0].get("k").unwrap().value, "v");
        assert_eq!(s[0].get("indented").unwrap().value, "1");
    }

    #[test]
    fn indented_key_after_a_header_is_a_key() {
        let s = read_ok("[a]\n  k = v\n");
        assert_eq!(s[0].get("k").unwrap().value, "v");
    }

    #[test]
    fn empty_value_at_end_of_file() {
        let s = read_ok("[a]\nk=");
        assert_eq!(s[0].get("k").unwrap().value, "");
    }

    /// rust-ini and the line scan must agree on every file: the normalisation is what
    /// makes them agree, so try every sequence of three awkward lines.
    #[test]
    fn scan_and_rust_ini_agree_on_awkward_line_sequences() {
        let lines = [
            "[s]",
            "[t] # c",
            "k=v",
            "k2: v : w",
            "e=",
            "  cont",
            "\tcont=x",
            "# c",
            "  ; c",
            "",
            "   ",
            "b=C:\\dir\\",
            "  tail\\",
            "no delimiter",
            "=v",
            "[bad",
            "q=\"quoted\" 'x' \\n",
        ];
        for a in lines {
            for b in lines {
                for c in lines {
                    let text = format!("[s0]\n{a}\n{b}\n{c}\nlast=1\n");
                    let mut d = Diagnostics::new(Path::new("t.conf"));
                    let s = read(&text, &mut d);
                    let msgs = match d.finish() {
                        Ok(_) => String::new(),
                        Err(e) => e.to_string(),
                    };
                    assert!(
                        !msgs.contains("inconsistently") && !msgs.contains("not valid INI"),
                        "{text:?}: {msgs}"
                    );
                    // Keys below a broken header belong to no section and are dropped.
                    let last_header = [a, b, c].into_iter().rev().find(|l| l.starts_with('['));
                    let expected = (last_header != Some("[bad")).then_some("1");
                    let last = s
                        .iter()
                        .flat_map(|x| &x.entries)
                        .find(|e| e.lower == "last");
                    assert_eq!(last.map(|e| e.value.as_str()), expected, "{text:?}");
                }
            }
        }
    }

    #[test]
    fn section_names_are_case_sensitive() {
        let s = read_ok("[general]\n[General]\n");
        assert_eq!(s.len(), 2);
    }
}
