//! Stage `evaluate` (PURE): the measures of ee-outliers' metrics model (SPEC section 9,
//! ee-outliers 0.2.17 `metrics.py` `calculate_metric` and the helpers it calls in
//! `utils.py`), computed from one event's target value.
//!
//! Must not: do I/O, log, keep state, or judge anything (the trigger math is in
//! [`crate::evaluate::weighted`]).
//!
//! Invariants:
//! - a measure depends only on the target value (the flattened string), so it is computed
//!   once per distinct value, whatever the number of events carrying it;
//! - lengths count code points (Python `len` of a `str`), never bytes or UTF-16 units;
//! - where Python's rules depend on Unicode tables (`float()` digits and blanks, `\d`,
//!   `\s`, case-insensitive classes of the URL pattern), the tables are those of the
//!   Python ee-outliers 0.2.17 ships with (3.6, Unicode 9.0), written out below rather
//!   than taken from Rust's newer Unicode data;
//! - a measure says whether Python computed an `int` or a `float` ([`Measure::integral`]):
//!   that decides how ee-outliers writes it (`7` or `7.0`) and its `str()` in
//!   `non_outlier_values_sample`.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

use crate::config::Metric;
use crate::evaluate::pystr;

/// One event's measure, as `calculate_metric` returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct Measure {
    /// The metric value.
    pub value: f64,
    /// Python computed an `int`: always for `length`, `hex_encoded_length`,
    /// `base64_encoded_length` and `url_length`; never for `numerical_value`; for
    /// `entropy` and `relative_english_entropy` only when no character entered the sum
    /// (empty value, no character below U+0100, no character of the English table), where
    /// the helpers return their initial `0`.
    pub integral: bool,
    /// The extra `outliers.<name>` fields ee-outliers writes for this metric, in its order
    /// and with its JSON types: `max_hex_encoded_length` (integer) / `max_hex_encoded_word`
    /// (string); `max_base64_decoded_length` (integer) / `max_base64_decoded_word` (string,
    /// the decoded text); `extracted_urls_length` (integer) / `extracted_urls` (string,
    /// the URLs joined with `,`). Empty when the metric found nothing (value 0) and for the
    /// other metrics.
    pub observations: Vec<(&'static str, Value)>,
}

impl Measure {
    fn int(value: usize, observations: Vec<(&'static str, Value)>) -> Measure {
        Measure {
            value: value as f64,
            integral: true,
            observations,
        }
    }

    fn float(value: f64) -> Measure {
        Measure {
            value,
            integral: false,
            observations: Vec::new(),
        }
    }

    /// Python's `str()` of the value, see [`python_str`].
    pub fn python_str(&self) -> String {
        python_str(self.value, self.integral)
    }

    /// The value as ee-outliers writes it in `outliers.metric`, see [`python_json`].
    pub fn json(&self) -> Option<Value> {
        python_json(self.value, self.integral)
    }
}

/// Python's `str()` of a metric value: an `int` as decimal digits (`7`), a `float` as
/// `repr(float)` (`7.0`, `2.5216406363433186`, `nan`, `inf`).
pub fn python_str(value: f64, integral: bool) -> String {
    if integral && value.is_finite() {
        // Integral values are lengths and counts: exact in f64 and far below 2^63.
        format!("{}", value as i64)
    } else {
        pystr::float_repr(value)
    }
}

/// A metric value (or a frontier, with `integral = false`) as ee-outliers' JSON
/// serialiser writes it: an integer for a Python `int`, a float otherwise. `None` for NaN
/// and infinities: Python writes the non-JSON tokens `NaN` / `Infinity`, which
/// Elasticsearch refuses, so ee-outliers' update of that event fails.
pub fn python_json(value: f64, integral: bool) -> Option<Value> {
    if !value.is_finite() {
        return None;
    }
    if integral {
        Some(Value::from(value as i64))
    } else {
        serde_json::Number::from_f64(value).map(Value::Number)
    }
}

/// The metric of one target value (`calculate_metric`); `None` when ee-outliers skips the
/// event, which only `numerical_value` does (for a value Python's `float()` refuses).
///
/// - `numerical_value`: Python `float(value)` ([`python_float`]);
/// - `length`: number of code points;
/// - `entropy`: Shannon entropy in bits where only characters U+0000..U+00FF enter the sum
///   but every character counts in the length (`"€€ab"` gives 1.0); `0` (int) when nothing
///   entered the sum;
/// - `relative_english_entropy`: Kullback-Leibler divergence, in bits, of the value's
///   character frequencies from [`ENGLISH_FREQUENCIES`]; characters not in the table are
///   skipped (they still count in the length); can be negative; `0` (int) when nothing
///   entered the sum;
/// - `hex_encoded_length`: the length of the longest word longer than 10 characters that
///   Python's `int(word, 16)` accepts, words split on `[^a-fA-F0-9+]` (so a word may carry
///   one leading `+`, which counts); the last such word wins a tie; 0 when none;
/// - `base64_encoded_length`: the length of the longest decoded text of a word (split on
///   `[^A-Za-z0-9+/=]`) that is canonical padded base64 of ASCII bytes (NUL included) and
///   decodes to at least 5 characters; the last wins a tie; 0 when none;
/// - `url_length`: the summed length of the words (the value with `"` replaced by a
///   blank, split on Python whitespace) that `validators.url` 0.12.6 accepts
///   ([`is_url`]); 0 when none.
pub fn measure(metric: Metric, value: &str) -> Option<Measure> {
    Some(match metric {
        Metric::NumericalValue => Measure::float(python_float(value)?),
        Metric::Length => Measure::int(value.chars().count(), Vec::new()),
        Metric::Entropy => shannon_entropy(value),
        Metric::RelativeEnglishEntropy => kl_divergence(value),
        Metric::HexEncodedLength => longest_hex_word(value),
        Metric::Base64EncodedLength => longest_base64_word(value),
        Metric::UrlLength => url_length(value),
    })
}

/// A target field's value as one string, as ee-outliers' `flatten_sentence` makes it;
/// `None` when ee-outliers skips the event (null, an object, or a list holding a list or an
/// object).
///
/// A list of scalars becomes their Python `str()` joined with ` - ` (`[1, "a", true, null]`
/// -> `1 - a - True - None`; `[]` -> the empty string); any other scalar is its `str()`
/// (`1.0` stays `1.0`, `true` becomes `True`).
pub fn flatten(value: &Value) -> Option<String> {
    match value {
        Value::Null | Value::Object(_) => None,
        Value::Array(items) => {
            if items
                .iter()
                .any(|i| matches!(i, Value::Array(_) | Value::Object(_)))
            {
                return None;
            }
            let parts: Vec<String> = items.iter().map(pystr::str_of).collect();
            Some(parts.join(" - "))
        }
        scalar => Some(pystr::str_of(scalar)),
    }
}

/// Python 3.6's decimal digits (`str.isdecimal()`, `\d`, what `float()` reads as digits):
/// Unicode 9.0 category Nd. Every range is made of runs of ten, zero first, so a digit's
/// value is `(c - start) % 10`.
const DECIMAL_DIGITS: &[(u32, u32)] = &[
    (0x30, 0x39),
    (0x660, 0x669),
    (0x6F0, 0x6F9),
    (0x7C0, 0x7C9),
    (0x966, 0x96F),
    (0x9E6, 0x9EF),
    (0xA66, 0xA6F),
    (0xAE6, 0xAEF),
    (0xB66, 0xB6F),
    (0xBE6, 0xBEF),
    (0xC66, 0xC6F),
    (0xCE6, 0xCEF),
    (0xD66, 0xD6F),
    (0xDE6, 0xDEF),
    (0xE50, 0xE59),
    (0xED0, 0xED9),
    (0xF20, 0xF29),
    (0x1040, 0x1049),
    (0x1090, 0x1099),
    (0x17E0, 0x17E9),
    (0x1810, 0x1819),
    (0x1946, 0x194F),
    (0x19D0, 0x19D9),
    (0x1A80, 0x1A89),
    (0x1A90, 0x1A99),
    (0x1B50, 0x1B59),
    (0x1BB0, 0x1BB9),
    (0x1C40, 0x1C49),
    (0x1C50, 0x1C59),
    (0xA620, 0xA629),
    (0xA8D0, 0xA8D9),
    (0xA900, 0xA909),
    (0xA9D0, 0xA9D9),
    (0xA9F0, 0xA9F9),
    (0xAA50, 0xAA59),
    (0xABF0, 0xABF9),
    (0xFF10, 0xFF19),
    (0x104A0, 0x104A9),
    (0x11066, 0x1106F),
    (0x110F0, 0x110F9),
    (0x11136, 0x1113F),
    (0x111D0, 0x111D9),
    (0x112F0, 0x112F9),
    (0x11450, 0x11459),
    (0x114D0, 0x114D9),
    (0x11650, 0x11659),
    (0x116C0, 0x116C9),
    (0x11730, 0x11739),
    (0x118E0, 0x118E9),
    (0x11C50, 0x11C59),
    (0x16A60, 0x16A69),
    (0x16B50, 0x16B59),
    (0x1D7CE, 0x1D7FF),
    (0x1E950, 0x1E959),
];

/// Python's whitespace (`str.isspace()`, `str.split()`, `\s`): Unicode White_Space plus
/// the ASCII separators U+001C..U+001F.
const PY_SPACE: &[(u32, u32)] = &[
    (0x9, 0xD),
    (0x1C, 0x20),
    (0x85, 0x85),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x2028, 0x2029),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
];

fn in_table(table: &[(u32, u32)], c: char) -> bool {
    let c = c as u32;
    table.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

fn decimal_value(c: char) -> Option<u8> {
    let code = c as u32;
    DECIMAL_DIGITS
        .iter()
        .find(|&&(lo, hi)| (lo..=hi).contains(&code))
        .map(|&(lo, _)| ((code - lo) % 10) as u8)
}

fn is_py_space(c: char) -> bool {
    in_table(PY_SPACE, c)
}

/// A regex class body (without brackets) listing the ranges of `table`.
fn class_of(table: &[(u32, u32)]) -> String {
    table
        .iter()
        .map(|&(lo, hi)| format!("\\x{{{lo:X}}}-\\x{{{hi:X}}}"))
        .collect()
}

/// Python 3.6's `float(s)` for a `str`; `None` where it raises `ValueError`.
///
/// Steps, as CPython does them: ASCII characters stay; other Python whitespace becomes a
/// blank and other decimal digits their ASCII digit; anything else fails. When the text
/// holds `_`, each `_` must sit between two digits (`1_000` yes; `1__0`, `_1`, `1_`,
/// `1_.5` no) and is removed. Then ASCII blanks (` \t\n\v\f\r`, not U+001C..U+001F) are
/// stripped from both ends and the rest must be a decimal literal (`1`, `-1.5e3`, `.5`,
/// `5.`) or `inf` / `infinity` / `nan` in any case with an optional sign. Out of range
/// gives +/-inf or 0, never an error.
pub fn python_float(s: &str) -> Option<f64> {
    let mut ascii = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            ascii.push(c);
        } else if is_py_space(c) {
            ascii.push(' ');
        } else {
            ascii.push(char::from(b'0' + decimal_value(c)?));
        }
    }
    if ascii.contains('_') {
        let bytes = ascii.as_bytes();
        let mut kept = String::with_capacity(ascii.len());
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'_' {
                let before = i.checked_sub(1).map(|j| bytes[j]);
                let after = bytes.get(i + 1).copied();
                if !before.is_some_and(|p| p.is_ascii_digit())
                    || !after.is_some_and(|n| n.is_ascii_digit())
                {
                    return None;
                }
            } else {
                kept.push(char::from(b));
            }
        }
        ascii = kept;
    }
    let text = ascii.trim_matches(|c| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r'));
    // Rust's grammar for f64 is Python's: sign, digits with an optional point (at least
    // one digit), optional exponent with digits; inf/infinity/nan case-insensitively.
    // Both round correctly. Rust's parser takes ASCII only, as Python's does here.
    text.parse::<f64>().ok()
}

/// `math.log(x, 2)`: CPython divides the natural logarithms (`log(x) / log(2)`), which
/// can differ from `log2(x)` in the last bit.
fn log2_as_python(x: f64) -> f64 {
    x.ln() / std::f64::consts::LN_2
}

/// `shannon_entropy`: sum over the characters U+0000..U+00FF in code point order of
/// -p * log2(p), p = count / (number of ALL characters). 0 (int) for an empty value and
/// when no character is below U+0100.
fn shannon_entropy(value: &str) -> Measure {
    let len = value.chars().count();
    let mut counts = [0usize; 256];
    for c in value.chars() {
        if let Ok(b) = u8::try_from(c as u32) {
            counts[b as usize] += 1;
        }
    }
    let mut entropy = 0.0;
    let mut any = false;
    for &n in counts.iter().filter(|n| **n > 0) {
        let p = n as f64 / len as f64;
        entropy += -p * log2_as_python(p);
        any = true;
    }
    if any {
        Measure::float(entropy)
    } else {
        Measure::int(0, Vec::new())
    }
}

/// Character frequencies of English text (ee-outliers' `english_character_frequencies`,
/// the reference distribution of `relative_english_entropy`).
pub const ENGLISH_FREQUENCIES: [(char, f64); 37] = [
    ('g', 0.02706810814315049),
    ('o', 0.07421531631063037),
    ('l', 0.04660619075683699),
    ('e', 0.0938650686651803),
    ('f', 0.016087468884472687),
    ('a', 0.08965206537963542),
    ('c', 0.046178435692422186),
    ('b', 0.021492396761465096),
    ('k', 0.017011742091988323),
    ('y', 0.017683540507870608),
    ('u', 0.03113815167654972),
    ('t', 0.05877603780957555),
    ('w', 0.012812697524051385),
    ('i', 0.07074249978897978),
    ('r', 0.06343497059722608),
    ('m', 0.033597415407595026),
    ('s', 0.06260194430883878),
    ('n', 0.06262892491736954),
    ('d', 0.031030885021106236),
    ('p', 0.026214752715696614),
    ('v', 0.013545577039801925),
    ('h', 0.027979827873085842),
    ('z', 0.007096836870275642),
    ('-', 0.010803953745868712),
    ('3', 0.0020435937308682425),
    ('q', 0.002948193577996864),
    ('x', 0.006551510056881306),
    ('j', 0.006711051641353142),
    ('0', 0.0027525841661488358),
    ('1', 0.0029865097894172872),
    ('2', 0.0027598914142925837),
    ('6', 0.0017662930320798498),
    ('4', 0.001964712923983166),
    ('5', 0.0017608594373062934),
    ('8', 0.0021597602398201366),
    ('9', 0.0017470880850353834),
    ('7', 0.0015831434151435972),
];

/// `kl_divergence`: sum over the distinct characters, in order of first appearance (the
/// order of Python's `Counter`, which fixes the rounding of the sum), of
/// f * log2(f / q) with f = count / length and q the character's English frequency;
/// characters without one are skipped. Case-sensitive: `A` is not in the table. 0 (int)
/// for an empty value and when no character is in the table.
fn kl_divergence(value: &str) -> Measure {
    let mut order: Vec<(char, usize)> = Vec::new();
    for c in value.chars() {
        match order.iter_mut().find(|(k, _)| *k == c) {
            Some((_, n)) => *n += 1,
            None => order.push((c, 1)),
        }
    }
    let len: usize = order.iter().map(|(_, n)| n).sum();
    let mut entropy = 0.0;
    let mut any = false;
    for (c, n) in order {
        let Some(&(_, q)) = ENGLISH_FREQUENCIES.iter().find(|(k, _)| *k == c) else {
            continue;
        };
        let f = n as f64 / len as f64;
        entropy += f * log2_as_python(f / q);
        any = true;
    }
    if any {
        Measure::float(entropy)
    } else {
        Measure::int(0, Vec::new())
    }
}

/// The last of the longest words (Python's `sorted(words, key=len)[-1]`: a stable sort,
/// so among equally long words the one met last).
fn last_longest(words: impl Iterator<Item = String>) -> Option<(String, usize)> {
    let mut best: Option<(String, usize)> = None;
    for kept in words {
        let len = kept.chars().count();
        if best.as_ref().is_none_or(|(_, l)| len >= *l) {
            best = Some((kept, len));
        }
    }
    best
}

/// `hex_encoded_length`, see [`measure`].
fn longest_hex_word(value: &str) -> Measure {
    let words = value
        .split(|c: char| !(c.is_ascii_hexdigit() || c == '+'))
        .filter(|w| w.len() > 10 && is_python_hex_int(w))
        .map(str::to_string);
    match last_longest(words) {
        Some((word, len)) => Measure::int(
            len,
            vec![
                ("max_hex_encoded_length", Value::from(len)),
                ("max_hex_encoded_word", Value::from(word)),
            ],
        ),
        None => Measure::int(0, Vec::new()),
    }
}

/// Python's `int(word, 16)` succeeds, for a word made of hex digits and `+`: one optional
/// leading `+`, then at least one hex digit.
fn is_python_hex_int(word: &str) -> bool {
    let digits = word.strip_prefix('+').unwrap_or(word);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `base64_encoded_length`, see [`measure`].
fn longest_base64_word(value: &str) -> Measure {
    let words = value
        .split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')))
        .filter_map(decode_canonical_base64_ascii)
        .filter(|d| d.len() >= 5);
    match last_longest(words) {
        Some((decoded, len)) => Measure::int(
            len,
            vec![
                ("max_base64_decoded_length", Value::from(len)),
                ("max_base64_decoded_word", Value::from(decoded)),
            ],
        ),
        None => Measure::int(0, Vec::new()),
    }
}

/// ee-outliers' `is_base64_encoded`: `b64decode(word)` must not fail, re-encoding the bytes
/// must give the word back, and the bytes must decode as ASCII. Together: the word is the
/// canonical padded standard base64 of bytes below 0x80 (length a multiple of 4, `=` only
/// as the last one or two characters, unused bits of the last character zero). Returns the
/// decoded text; the empty word decodes to the empty text (which the caller then drops,
/// as ee-outliers' truth test does).
fn decode_canonical_base64_ascii(word: &str) -> Option<String> {
    fn sextet(b: u8) -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = word.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let quads = bytes.chunks(4).count();
    for (i, quad) in bytes.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|b| **b == b'=').count();
        if pad > 2 || (pad > 0 && i + 1 != quads) {
            return None;
        }
        let mut bits = 0u32;
        for &b in &quad[..4 - pad] {
            bits = (bits << 6) | sextet(b)?;
        }
        bits <<= 6 * pad as u32;
        let produced = [(bits >> 16) as u8, (bits >> 8) as u8, bits as u8];
        // Canonical: the bits a padded quad does not produce must be zero.
        let unused = match pad {
            1 => bits & 0xFF,
            2 => bits & 0xFFFF,
            _ => 0,
        };
        if unused != 0 {
            return None;
        }
        out.extend_from_slice(&produced[..3 - pad]);
    }
    if !out.is_ascii() {
        return None;
    }
    String::from_utf8(out).ok()
}

/// `url_length`, see [`measure`].
fn url_length(value: &str) -> Measure {
    let replaced = value.replace('"', " ");
    let urls: Vec<&str> = replaced
        .split(is_py_space)
        .filter(|w| !w.is_empty() && is_url(w))
        .collect();
    let total: usize = urls.iter().map(|u| u.chars().count()).sum();
    let observations = if total > 0 {
        vec![
            ("extracted_urls_length", Value::from(total)),
            ("extracted_urls", Value::from(urls.join(","))),
        ]
    } else {
        Vec::new()
    };
    Measure::int(total, observations)
}

/// `validators.url(word)` of validators 0.12.6 (the version ee-outliers 0.2.17 pins), with
/// `public=False`: a match of its pattern from the start of the word.
///
/// The pattern is ported construct by construct. Python compiles it with `IGNORECASE |
/// UNICODE`; Rust's `(?i)` folds case by other rules (Python 3.6 also lets `İ`, `ı`, `ſ`
/// and the Kelvin sign match the ASCII letters of `[a-z]`), so the port spells out, for
/// each class and letter, exactly the characters Python 3.6 matches with it (enumerated
/// over all code points). `\d` is Python 3.6's digit table, `\S` the complement of its
/// whitespace, and the final `$` (end, or before a final newline) is `\n?\z`. Every
/// construct is regular, so Rust's engine gives the same yes/no as Python's backtracking
/// one, which takes exponential time on words that almost match a host name: Python 3.6
/// needs 6.6 s for `http://` + `aa.` x 24 + `1` (80 characters), four times more for
/// each two more `aa.`; this port answers in linear time.
pub fn is_url(word: &str) -> bool {
    URL.is_match(word)
}

static URL: LazyLock<Regex> = LazyLock::new(|| {
    let digit = format!("[{}]", class_of(DECIMAL_DIGITS));
    let not_space = format!("[^{}]", class_of(PY_SPACE));
    // Characters Python 3.6 matches with `[a-z]` under IGNORECASE besides a-z and A-Z.
    let ascii_fold_extra = r"\x{130}\x{131}\x{17F}\x{212A}";
    let wide = r"\x{A1}-\x{FFFF}";
    let s = r"[sS\x{17F}]";
    let ip_middle_octet = format!(r"(?:\.(?:1?{digit}{{1,2}}|2[0-4]{digit}|25[0-5]))");
    let ip_last_octet = format!(r"(?:\.(?:[1-9]{digit}?|1{digit}{digit}|2[0-4]{digit}|25[0-4]))");
    let hex = "[0-9a-fA-F]";
    let v4 = r"(25[0-5]|(2[0-4]|1{0,1}[0-9]){0,1}[0-9])";
    let pattern = [
        r"\A".to_string(),
        // protocol
        format!(r"(?:(?:[hH][tT][tT][pP]{s}?|[fF][tT][pP])://)"),
        // user:pass@
        format!(r"(?:[-a-zA-Z{wide}0-9._~%!$&'()*+,;=:]+"),
        format!(r"(?::[-a-zA-Z0-9._~%!$&'()*+,;=:{ascii_fold_extra}]*)?@)?"),
        "(?:".into(),
        // private IPv4 networks
        "(?P<private_ip>".into(),
        format!(r"(?:(?:10|127){ip_middle_octet}{{2}}{ip_last_octet})|"),
        format!(r"(?:(?:169\.254|192\.168){ip_middle_octet}{ip_last_octet})|"),
        format!(r"(?:172\.(?:1[6-9]|2{digit}|3[0-1]){ip_middle_octet}{ip_last_octet}))"),
        "|".into(),
        format!(r"(?P<private_host>(?:[lL][oO][cC][aA][lL][hH][oO]{s}[tT]))"),
        "|".into(),
        // public IPv4
        "(?P<public_ip>".into(),
        format!(r"(?:[1-9]{digit}?|1{digit}{digit}|2[01]{digit}|22[0-3])"),
        format!(r"{ip_middle_octet}{{2}}{ip_last_octet})"),
        "|".into(),
        // IPv6 in brackets
        r"\[(".into(),
        format!(r"({hex}{{1,4}}:){{7,7}}{hex}{{1,4}}|"),
        format!(r"({hex}{{1,4}}:){{1,7}}:|"),
        format!(r"({hex}{{1,4}}:){{1,6}}:{hex}{{1,4}}|"),
        format!(r"({hex}{{1,4}}:){{1,5}}(:{hex}{{1,4}}){{1,2}}|"),
        format!(r"({hex}{{1,4}}:){{1,4}}(:{hex}{{1,4}}){{1,3}}|"),
        format!(r"({hex}{{1,4}}:){{1,3}}(:{hex}{{1,4}}){{1,4}}|"),
        format!(r"({hex}{{1,4}}:){{1,2}}(:{hex}{{1,4}}){{1,5}}|"),
        format!(r"{hex}{{1,4}}:((:{hex}{{1,4}}){{1,6}})|"),
        format!(r":((:{hex}{{1,4}}){{1,7}}|:)|"),
        format!(r"[fF][eE]80:(:{hex}{{0,4}}){{0,4}}%[0-9a-zA-Z{ascii_fold_extra}]{{1,}}|"),
        r"::([fF][fF][fF][fF](:0{1,4}){0,1}:){0,1}".into(),
        format!(r"({v4}\.){{3,3}}"),
        format!(r"{v4}|"),
        format!(r"({hex}{{1,4}}:){{1,4}}:"),
        format!(r"({v4}\.){{3,3}}"),
        v4.into(),
        r")\]|".into(),
        // host name, domain name, TLD
        format!(r"(?:(?:[a-zA-Z{wide}0-9]-?)*[a-zA-Z{wide}0-9]+)"),
        format!(r"(?:\.(?:[a-zA-Z{wide}0-9]-?)*[a-zA-Z{wide}0-9]+)*"),
        format!(r"(?:\.(?:[a-zA-Z{wide}]{{2,}}))"),
        ")".into(),
        // port, path, query, fragment
        format!(r"(?::{digit}{{2,5}})?"),
        format!(r"(?:/[-a-zA-Z{wide}0-9._~%!$&'()*+,;=:@/]*)?"),
        format!(r"(?:\?{not_space}*)?"),
        format!(r"(?:#{not_space}*)?"),
        r"\n?\z".into(),
    ]
    .concat();
    Regex::new(&pattern).expect("the ported validators 0.12.6 URL pattern compiles")
});

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Every expected value in these tests was computed by Python 3.6.15 running ee-outliers
    // 0.2.17's own `MetricsAnalyzer.calculate_metric` and `utils.py` (with numpy 1.16.4 and
    // validators 0.12.6, the versions it pins), not derived from this code.

    fn m(metric: Metric, value: &str) -> Measure {
        measure(metric, value).expect("only numerical_value skips")
    }

    fn num(value: &str) -> Option<f64> {
        measure(Metric::NumericalValue, value).map(|x| x.value)
    }

    fn pair(k: &'static str, v: Value) -> (&'static str, Value) {
        (k, v)
    }

    #[test]
    fn numerical_value_accepts_what_python_float_accepts() {
        // Python: float(' 1_000 ') 1000.0, float('1_000.000_1') 1000.0001, float('5.') 5.0,
        // float('\u0661\u0662') 12.0 (Arabic-Indic digits), float('\xa0-2\u3000') -2.0.
        assert_eq!(num(" 1_000 "), Some(1000.0));
        assert_eq!(num("1_000.000_1"), Some(1000.0001));
        assert_eq!(num("5."), Some(5.0));
        assert_eq!(num("\u{661}\u{662}"), Some(12.0));
        assert_eq!(num("\u{a0}-2\u{3000}"), Some(-2.0));
        let n = m(Metric::NumericalValue, "7");
        assert!(!n.integral, "float() always gives a float");
        assert_eq!(n.python_str(), "7.0");
    }

    #[test]
    fn numerical_value_reads_nan_and_infinities_and_overflows_to_infinity() {
        // Python: float('nan') nan, float('-Infinity') -inf, float('1e999') inf.
        assert!(num("nan").unwrap().is_nan());
        assert_eq!(num("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(num("1e999"), Some(f64::INFINITY));
    }

    #[test]
    fn numerical_value_skips_what_python_float_refuses() {
        // Python raises ValueError for each: misplaced underscores, hex, empty, a trailing
        // U+001C (isspace() but not stripped by float()), a vulgar fraction.
        for bad in [
            "1__0",
            "_1",
            "1_",
            "0x10",
            "",
            "\u{2003} 1.5\u{1c}",
            "\u{bd}",
        ] {
            assert_eq!(measure(Metric::NumericalValue, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn length_counts_code_points() {
        // Python: len('€€ab') 4 (8 UTF-8 bytes), len('日本😀') 3 (4 UTF-16 units), len('') 0.
        assert_eq!(m(Metric::Length, "€€ab").value, 4.0);
        assert_eq!(m(Metric::Length, "日本\u{1F600}").value, 3.0);
        let empty = m(Metric::Length, "");
        assert_eq!((empty.value, empty.integral), (0.0, true));
        assert!(empty.observations.is_empty());
    }

    #[test]
    fn entropy_counts_only_latin1_characters_in_the_sum() {
        // Python: shannon_entropy('€€ab') 1.0 (a and b at 1/4 each; € beyond U+00FF),
        // 'é日本é' 0.5, 'houston' 2.5216406363433186,
        // 'C:\\Windows\\System32\\cmd.exe' 4.1804513908921015.
        assert_eq!(m(Metric::Entropy, "€€ab").value, 1.0);
        assert_eq!(m(Metric::Entropy, "é日本é").value, 0.5);
        assert_eq!(m(Metric::Entropy, "houston").value, 2.5216406363433186);
        assert_eq!(
            m(Metric::Entropy, "C:\\Windows\\System32\\cmd.exe").value,
            4.1804513908921015
        );
    }

    #[test]
    fn entropy_is_an_int_zero_when_nothing_enters_the_sum() {
        // Python: shannon_entropy('') 0 (int), '€€' 0 (int), 'aaa' 0.0 (float: one term,
        // -1.0 * log2(1.0)).
        for (value, integral, text) in [("", true, "0"), ("€€", true, "0"), ("aaa", false, "0.0")]
        {
            let e = m(Metric::Entropy, value);
            assert_eq!((e.value, e.integral), (0.0, integral), "{value:?}");
            assert_eq!(e.python_str(), text);
        }
    }

    #[test]
    fn relative_english_entropy_is_kl_divergence_from_the_english_table() {
        // Python: 'google' 2.374271689504774, 'xqzj-42' 4.91303061597881,
        // 'powershell.exe -enc' 0.9450206676418371 ('.' and ' ' skipped),
        // 'ééeé' 0.35331695562967996 (é skipped but counted in the length).
        let kl = |v| m(Metric::RelativeEnglishEntropy, v).value;
        assert_eq!(kl("google"), 2.374271689504774);
        assert_eq!(kl("xqzj-42"), 4.91303061597881);
        assert_eq!(kl("powershell.exe -enc"), 0.9450206676418371);
        assert_eq!(kl("ééeé"), 0.35331695562967996);
    }

    #[test]
    fn relative_english_entropy_can_be_negative() {
        // Python: 'e' + 20 * 'A' -> -0.046621409536192406 (e at 1/21, below its English
        // frequency; A is not in the lowercase table).
        let v = format!("e{}", "A".repeat(20));
        assert_eq!(
            m(Metric::RelativeEnglishEntropy, &v).value,
            -0.046621409536192406
        );
    }

    #[test]
    fn relative_english_entropy_is_an_int_zero_without_table_characters() {
        // Python: kl_divergence('ABC', ...) 0 (int: case-sensitive table), '' 0 (int).
        for value in ["ABC", ""] {
            let e = m(Metric::RelativeEnglishEntropy, value);
            assert_eq!((e.value, e.integral), (0.0, true), "{value:?}");
        }
    }

    #[test]
    fn hex_encoded_length_takes_the_longest_hex_word_over_ten_characters() {
        // Python: 16 with max_hex_encoded_word '0123456789abcdef'; a non-hex character
        // (é) splits words.
        let h = m(
            Metric::HexEncodedLength,
            "x 0123456789abcdef y +0123456789a",
        );
        assert_eq!((h.value, h.integral), (16.0, true));
        assert_eq!(
            h.observations,
            vec![
                pair("max_hex_encoded_length", json!(16)),
                pair("max_hex_encoded_word", json!("0123456789abcdef")),
            ]
        );
        let h = m(Metric::HexEncodedLength, "DEADBEEFcafe0123é0123456789ab");
        assert_eq!(h.value, 16.0);
        assert_eq!(
            h.observations[1],
            pair("max_hex_encoded_word", json!("DEADBEEFcafe0123"))
        );
    }

    #[test]
    fn hex_encoded_length_keeps_the_last_of_equally_long_words() {
        // Python: 'aaaaaaaaaaa bbbbbbbbbbb' -> 11, 'bbbbbbbbbbb' (stable sort, last taken).
        let h = m(Metric::HexEncodedLength, "aaaaaaaaaaa bbbbbbbbbbb");
        assert_eq!(
            h.observations[1],
            pair("max_hex_encoded_word", json!("bbbbbbbbbbb"))
        );
    }

    #[test]
    fn hex_encoded_length_follows_python_int_on_plus_signs_and_length() {
        // Python: '+0123456789' 11 (int() takes one leading +, which counts);
        // '++0123456789' 0; '0123456789+abcdef' 0 (+ inside); '0123456789' 0 (10 chars).
        assert_eq!(m(Metric::HexEncodedLength, "+0123456789").value, 11.0);
        for value in ["++0123456789", "0123456789+abcdef", "0123456789", ""] {
            let h = m(Metric::HexEncodedLength, value);
            assert_eq!((h.value, h.integral), (0.0, true), "{value:?}");
            assert!(h.observations.is_empty());
        }
    }

    #[test]
    fn base64_encoded_length_is_the_longest_decoded_word() {
        // Python: 'houston we have a cHJvYmxlbQ==' -> 7, 'problem';
        // 'aGVsbG8gd29ybGQ=;cHJvYmxlbQ==' -> 11, 'hello world'.
        let b = m(
            Metric::Base64EncodedLength,
            "houston we have a cHJvYmxlbQ==",
        );
        assert_eq!((b.value, b.integral), (7.0, true));
        assert_eq!(
            b.observations,
            vec![
                pair("max_base64_decoded_length", json!(7)),
                pair("max_base64_decoded_word", json!("problem")),
            ]
        );
        let b = m(Metric::Base64EncodedLength, "aGVsbG8gd29ybGQ=;cHJvYmxlbQ==");
        assert_eq!(
            b.observations[1],
            pair("max_base64_decoded_word", json!("hello world"))
        );
        // Python: 'QUJDREVG QUJDREVH' -> 'ABCDEG' (equal lengths: the last).
        let b = m(Metric::Base64EncodedLength, "QUJDREVG QUJDREVH");
        assert_eq!(
            b.observations[1],
            pair("max_base64_decoded_word", json!("ABCDEG"))
        );
    }

    #[test]
    fn base64_encoded_length_includes_nul_bytes_in_the_decoded_text() {
        // Python: 'AAAAAAAA' -> 6, '\x00' * 6.
        let b = m(Metric::Base64EncodedLength, "AAAAAAAA");
        assert_eq!(b.value, 6.0);
        assert_eq!(
            b.observations[1],
            pair("max_base64_decoded_word", json!("\0\0\0\0\0\0"))
        );
    }

    #[test]
    fn base64_encoded_length_refuses_non_canonical_non_ascii_and_short_words() {
        // Python, all 0: 'cHJvYmxlbR==' (unused bits set: re-encodes differently),
        // 'cHJvYmxlbQ' (unpadded), 'gICAgICA' (bytes 0x80: not ASCII), 'QUJD' ('ABC', under
        // 5 characters), ''.
        for value in ["cHJvYmxlbR==", "cHJvYmxlbQ", "gICAgICA", "QUJD", ""] {
            let b = m(Metric::Base64EncodedLength, value);
            assert_eq!((b.value, b.integral), (0.0, true), "{value:?}");
            assert!(b.observations.is_empty());
        }
    }

    #[test]
    fn url_length_sums_the_urls_among_the_words() {
        // Python: 20 for "why don't we go http://www.dance.com".
        let u = m(Metric::UrlLength, "why don't we go http://www.dance.com");
        assert_eq!((u.value, u.integral), (20.0, true));
        assert_eq!(
            u.observations,
            vec![
                pair("extracted_urls_length", json!(20)),
                pair("extracted_urls", json!("http://www.dance.com")),
            ]
        );
    }

    #[test]
    fn url_length_splits_on_quotes_and_python_whitespace_and_counts_code_points() {
        // Python: 'open "http://a.com/x"and https://日本.jp' -> 27 (quotes become blanks;
        // 日本 counts 2), 'http://a.com/x,https://日本.jp';
        // 'http://10.0.0.1\x1chttp://[::1]:8080/' -> 33 (U+001C splits words).
        let u = m(
            Metric::UrlLength,
            "open \"http://a.com/x\"and https://日本.jp",
        );
        assert_eq!(u.value, 27.0);
        assert_eq!(
            u.observations[1],
            pair("extracted_urls", json!("http://a.com/x,https://日本.jp"))
        );
        let u = m(Metric::UrlLength, "http://10.0.0.1\u{1c}http://[::1]:8080/");
        assert_eq!(u.value, 33.0);
    }

    #[test]
    fn url_length_is_zero_without_observations_when_no_word_is_a_url() {
        // Python: 'no url here' 0 {}, '' 0 {}, 'http://a' 0 {} (no TLD).
        for value in ["no url here", "", "http://a"] {
            let u = m(Metric::UrlLength, value);
            assert_eq!((u.value, u.integral), (0.0, true), "{value:?}");
            assert!(u.observations.is_empty());
        }
    }

    #[test]
    fn is_url_matches_validators_0_12_6() {
        // Python validators.url, truthy or not, for each.
        for (word, want) in [
            ("HTTPS://Example.COM/Path?q=1#f", true),
            ("ftp://x.yz", true),
            ("http://a.b-c.de", true),
            ("http://-a.com", false),
            ("http://user@localhost", true),
            ("http://[fe80::1%eth0]", true),
            ("http://1.2.3.255", false),
            ("http://224.0.0.1", false),
            ("http://example.com/a b", false),
            ("http://\u{661}.2.3.4", false),
            ("http://host.com:\u{668}\u{660}", true),
        ] {
            assert_eq!(is_url(word), want, "{word:?}");
        }
    }

    #[test]
    fn is_url_folds_case_as_python_3_6_does() {
        // Python 3.6 IGNORECASE: 'İ' matches [a-z] (its lowercase is 'i'), 'ſ' matches s.
        assert!(is_url("http://u:\u{130}@host.com"));
        assert!(is_url("http\u{17f}://example.com"));
    }

    #[test]
    fn is_url_uses_python_3_6_digits_and_dollar() {
        // U+11D50 is a digit since Unicode 10: not for Python 3.6's \d. `$` also matches
        // before a final newline.
        assert!(!is_url("http://host.com:\u{11D50}\u{11D50}"));
        assert!(is_url("http://example.com\n"));
        assert!(!is_url("http://example.com\n\n"));
    }

    #[test]
    fn is_url_answers_at_once_where_python_backtracks_for_days() {
        // Python 3.6: 6.57 s for 24 repetitions, x4 per two more; it answers no.
        let word = format!("http://{}1", "aa.".repeat(40));
        assert!(!is_url(&word));
        let url = m(Metric::UrlLength, &format!("{word} http://ok.example"));
        assert_eq!(url.value, 17.0);
    }

    #[test]
    fn flatten_joins_list_values_with_python_str() {
        assert_eq!(flatten(&json!("cmd.exe")).as_deref(), Some("cmd.exe"));
        assert_eq!(
            flatten(&json!(["a", 1, 1.0, true, null])).as_deref(),
            Some("a - 1 - 1.0 - True - None")
        );
        assert_eq!(flatten(&json!([])).as_deref(), Some(""));
        assert_eq!(flatten(&json!(2.5)).as_deref(), Some("2.5"));
        assert_eq!(flatten(&json!(false)).as_deref(), Some("False"));
    }

    #[test]
    fn list_and_number_values_are_measured_on_their_flattened_text() {
        // Python, calculate_metric(metric, flatten_sentence(value)):
        // ['http://a.com', 'x'] -> 'http://a.com - x' -> url_length 12;
        // [1, 2] -> '1 - 2' -> numerical_value skipped; [1.5] -> 1.5; 1234 -> 1234.0;
        // ['é', 'ab'] -> 'é - ab' -> length 6; True -> 'True' -> length 4.
        let text = |v: Value| flatten(&v).expect("a flat value");
        assert_eq!(
            m(Metric::UrlLength, &text(json!(["http://a.com", "x"]))).value,
            12.0
        );
        assert_eq!(measure(Metric::NumericalValue, &text(json!([1, 2]))), None);
        assert_eq!(num(&text(json!([1.5]))), Some(1.5));
        assert_eq!(num(&text(json!(1234))), Some(1234.0));
        assert_eq!(m(Metric::Length, &text(json!(["é", "ab"]))).value, 6.0);
        assert_eq!(m(Metric::Length, &text(json!(true))).value, 4.0);
    }

    #[test]
    fn flatten_gives_up_on_null_objects_and_nested_lists() {
        assert_eq!(flatten(&json!(null)), None);
        assert_eq!(flatten(&json!({"a": 1})), None);
        assert_eq!(flatten(&json!(["a", ["b"]])), None);
        assert_eq!(flatten(&json!(["a", {"b": 1}])), None);
    }

    #[test]
    fn values_render_as_python_int_or_float() {
        assert_eq!(python_str(7.0, true), "7");
        assert_eq!(python_str(7.0, false), "7.0");
        assert_eq!(python_str(f64::NAN, false), "nan");
        assert_eq!(python_json(7.0, true), Some(json!(7)));
        assert_eq!(python_json(7.0, false), Some(json!(7.0)));
        assert_eq!(python_json(f64::INFINITY, false), None);
    }
}
