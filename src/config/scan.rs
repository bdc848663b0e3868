//! Stage `config`, step 1 of 2: the text of an INI file becomes raw sections of raw
//! `key = value` entries, each with the line it is written on. No value is interpreted.
//!
//! One reader, one pass: every value and every position comes from the same scan of the
//! lines, which follows what ee-outliers' Python `configparser` (a `RawConfigParser`, so
//! no `%` interpolation) does with a file:
//! - a line whose first non-blank character is `#` or `;` is a comment, wherever it is
//!   (also between the lines of a continued value); text after a value is never a
//!   comment;
//! - `[name]` starts a section; `key = value` and `key: value` split at the first `=` or
//!   `:`; key and value are trimmed; quotes and backslashes are kept as written;
//! - a line indented deeper than its key line continues that key's value: the parts are
//!   trimmed and joined with `\n`; blank lines between them are kept as empty lines, and
//!   blank lines at the end of the value are dropped.
//!
//! It also reports what configparser rejects, and more: a line that is neither a comment,
//! a `[section]` nor a `key=value` pair, a key before the first section, a malformed
//! header, duplicate sections and duplicate keys. A rejected line ends a continued value,
//! so one bad line does not hide the problems of the rest of the file.
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
    /// The value as configparser reads it: trimmed, raw (quotes, `%`, backslashes kept),
    /// continuation lines joined with `\n`.
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

/// A section header found by the scan, with its keys: (key as written, line, value).
struct Header {
    name: String,
    line: usize,
    keys: Vec<(String, usize, String)>,
}

/// The key whose value the next lines may continue.
struct Open {
    /// Indentation (in characters) of the key line; a continuation is indented deeper.
    indent: usize,
    /// The value's parts so far: the key line's value, then each continuation line (an
    /// empty part for a blank line).
    parts: Vec<String>,
}

/// Reads `text` into sections in file order (a repeated section is merged into the
/// first one); every problem goes to `diag`.
pub(super) fn read(text: &str, diag: &mut Diagnostics) -> Vec<RawSection> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut headers: Vec<Header> = Vec::new();
    let mut open: Option<Open> = None;
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let t = line.trim();
        if t.starts_with('#') || t.starts_with(';') {
            continue;
        }
        if t.is_empty() {
            if let Some(o) = &mut open {
                o.parts.push(String::new());
            }
            continue;
        }
        let indent = line.chars().take_while(|c| c.is_whitespace()).count();
        if let Some(o) = open.as_mut().filter(|o| indent > o.indent) {
            o.parts.push(t.to_string());
            continue;
        }
        close(&mut headers, open.take());
        let current = headers.last().map(|h| h.name.clone());
        let section = current.as_deref().filter(|s| !s.is_empty());
        if t.starts_with('[') {
            let name = header_name(t).unwrap_or_else(|message| {
                diag.error(diag.at(n, None, None), message);
                // Keys below a broken header belong to no known section.
                String::new()
            });
            headers.push(Header {
                name,
                line: n,
                keys: Vec::new(),
            });
            continue;
        }
        let Some(pos) = t.find(['=', ':']) else {
            diag.error(
                diag.at(n, section, None),
                format!(
                    "line {t:?} is neither a [section] header, a key=value pair nor a comment; \
                     write key=value, or start the line with # to make it a comment"
                ),
            );
            continue;
        };
        let key = t[..pos].trim();
        if key.is_empty() {
            diag.error(
                diag.at(n, section, None),
                format!(
                    "line {t:?} has no key before {:?}; write key=value",
                    &t[pos..=pos]
                ),
            );
            continue;
        }
        if key.contains('\\') {
            diag.error(
                diag.at(n, section, Some(key)),
                "a key cannot contain a backslash; rename the key",
            );
            continue;
        }
        match headers.last_mut() {
            None => diag.error(
                diag.at(n, None, Some(key)),
                "this key comes before any [section] header; move it under [general] or a use case section",
            ),
            Some(h) if h.name.is_empty() => {}
            Some(h) => {
                h.keys.push((key.to_string(), n, String::new()));
                open = Some(Open {
                    indent,
                    parts: vec![t[pos + 1..].trim().to_string()],
                });
            }
        }
    }
    close(&mut headers, open);
    headers.retain(|h| !h.name.is_empty());
    merge(headers, diag)
}

/// Gives the last key of the last section its value, once no line continues it.
fn close(headers: &mut [Header], open: Option<Open>) {
    let (Some(o), Some(h)) = (open, headers.last_mut()) else {
        return;
    };
    if let Some(k) = h.keys.last_mut() {
        k.2 = o.parts.join("\n").trim().to_string();
    }
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

/// Merges repeated sections and marks repeated keys, reporting both.
fn merge(headers: Vec<Header>, diag: &mut Diagnostics) -> Vec<RawSection> {
    let mut sections: Vec<RawSection> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for h in headers {
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
        for (key, line, value) in h.keys {
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

    #[test]
    fn continuation_is_a_line_indented_deeper_than_its_key() {
        let s = read_ok("[a]\n  k = v\n  j = w\n    more\nl=1\n\tx\n");
        assert_eq!(value(&s, "a", "k"), "v");
        assert_eq!(value(&s, "a", "j"), "w\nmore");
        assert_eq!(value(&s, "a", "l"), "1\nx");
    }

    #[test]
    fn blank_lines_inside_a_value_are_kept_and_trailing_ones_dropped() {
        let s = read_ok("[a]\nk=first\n\n  second\n\n\nj=2\n");
        assert_eq!(value(&s, "a", "k"), "first\n\nsecond");
        assert_eq!(value(&s, "a", "j"), "2");
    }

    #[test]
    fn a_value_may_start_on_the_next_line() {
        let s = read_ok("[a]\nk=\n  {\"match_all\": {}}\n");
        assert_eq!(value(&s, "a", "k"), "{\"match_all\": {}}");
    }

    #[test]
    fn comment_after_a_value_is_part_of_the_value_but_an_indented_comment_line_is_not() {
        let s = read_ok("[a]\nk=v # kept\n  ; a comment line\n  w\n");
        assert_eq!(value(&s, "a", "k"), "v # kept\nw");
    }

    #[test]
    fn every_entry_carries_the_line_of_its_key() {
        let s = read_ok("[a]\nk=v\n  w\n\n# c\nj=1\n[b]\n\nx=2");
        let lines: Vec<(&str, usize)> = s
            .iter()
            .flat_map(|x| &x.entries)
            .map(|e| (e.key.as_str(), e.line))
            .collect();
        assert_eq!(lines, vec![("k", 2), ("j", 6), ("x", 9)]);
        assert_eq!((s[1].name.as_str(), s[1].line), ("b", 7));
    }

    #[test]
    fn keys_below_a_broken_header_belong_to_no_section() {
        let mut d = Diagnostics::new(Path::new("t.conf"));
        let s = read("[a]\nk=1\n[bad\nj=2\n[c]\nl=3\n", &mut d);
        assert_eq!(d.error_count(), 1);
        let keys: Vec<&str> = s
            .iter()
            .flat_map(|x| &x.entries)
            .map(|e| e.key.as_str())
            .collect();
        assert_eq!(keys, vec!["k", "l"]);
    }

    #[test]
    fn section_names_are_case_sensitive() {
        let s = read_ok("[general]\n[General]\n");
        assert_eq!(s.len(), 2);
    }
}
