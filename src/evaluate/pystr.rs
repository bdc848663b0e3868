//! Stage `evaluate` (PURE): JSON values rendered as Python's `str()` renders the decoded
//! value, because ee-outliers' whitelist compares `str(value).strip()` of every event
//! value (see [`crate::evaluate::whitelist`]).
//!
//! Must not: allocate more than the output, or fail: every JSON value has a rendering.
//!
//! Rules (Python 3, values as `json.loads` / the Elasticsearch client decode them):
//! - string: itself; integer: decimal digits; float: `repr(float)` (shortest round-trip
//!   digits, `.0` on integral values, exponent form `1e+16` / `1e-05` outside
//!   1e-4 <= |x| < 1e16); `true`/`false`: `True`/`False`; `null`: `None`;
//! - inside a container (a list or dict that is itself inside a list), values are
//!   rendered by `repr()`: strings quoted (`'a'`, or `"it's"`), lists `[a, b]`, dicts
//!   `{'k': v}`.
//!
//! Also the `str()` of the time values sudden_appearance writes ([`timedelta_str`],
//! [`naive_datetime_str`]) and `textwrap.fill` ([`textwrap_fill`]), with which
//! ee-outliers hard-wraps every summary.
//!
//! Known gaps, all far from real event data: dict keys come in serde_json's map order
//! (sorted unless the `preserve_order` feature is on; Python keeps document order);
//! integers beyond 64 bits arrive as floats; `repr()` escapes control, separator and
//! format characters but does not know Unicode's unassigned code points.

use serde_json::{Number, Value};

/// `str(value)` for a value met directly as a field value or a list element.
pub fn str_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => repr_of(other),
    }
}

/// `repr(value)`: how Python renders a value nested inside a list or dict.
pub fn repr_of(value: &Value) -> String {
    let mut out = String::new();
    write_repr(value, &mut out);
    out
}

fn write_repr(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("None"),
        Value::Bool(true) => out.push_str("True"),
        Value::Bool(false) => out.push_str("False"),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => write_str_repr(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_repr(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_str_repr(k, out);
                out.push_str(": ");
                write_repr(v, out);
            }
            out.push('}');
        }
    }
}

fn number(n: &Number) -> String {
    if let Some(u) = n.as_u64() {
        u.to_string()
    } else if let Some(i) = n.as_i64() {
        i.to_string()
    } else {
        float_repr(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// Python's `repr(float)` / `str(float)` (and numpy's `str(np.float64)`, which matches it):
/// the shortest digits that round-trip; fixed notation with at least one decimal when the
/// decimal exponent e satisfies -4 <= e < 16, else `d.ddde+XX` with a signed exponent of at
/// least two digits. `nan`, `inf`, `-inf` as Python writes them.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.into();
    }
    // Rust's `{:e}` gives the same shortest round-trip digits: "-1.2345e-7".
    let sci = format!("{x:e}");
    let (mantissa, exp) = sci
        .split_once('e')
        .expect("LowerExp always writes an exponent");
    let exp: i32 = exp.parse().expect("LowerExp writes a decimal exponent");
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
    if (-4..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                format!("{sign}{digits}{}.0", "0".repeat(int_len - digits.len()))
            } else {
                format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
            }
        } else {
            format!("{sign}0.{}{digits}", "0".repeat((-exp - 1) as usize))
        }
    } else {
        let (first, rest) = digits.split_at(1);
        let frac = if rest.is_empty() {
            String::new()
        } else {
            format!(".{rest}")
        };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        format!("{sign}{first}{frac}e{exp_sign}{:02}", exp.abs())
    }
}

/// Python's `repr(str)`: single quotes, unless the string holds `'` and no `"`; escapes
/// `\\`, the quote, `\t` `\n` `\r`, and non-printable characters as `\xhh`, `\uhhhh` or
/// `\Uhhhhhhhh`.
fn write_str_repr(s: &str, out: &mut String) {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if !is_printable(c) => {
                let code = c as u32;
                if code < 0x100 {
                    out.push_str(&format!("\\x{code:02x}"));
                } else if code < 0x10000 {
                    out.push_str(&format!("\\u{code:04x}"));
                } else {
                    out.push_str(&format!("\\U{code:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push(quote);
}

/// Python's `str.isprintable()` for one character, without the unassigned code points:
/// not a control (Cc), format (Cf), separator other than the ASCII space (Zs, Zl, Zp), or
/// private-use (Co) character.
fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() {
        return false;
    }
    !matches!(
        c as u32,
        // Zs, Zl, Zp
        0x00A0 | 0x1680 | 0x2000..=0x200A | 0x2028 | 0x2029 | 0x202F | 0x205F | 0x3000
        // Cf
        | 0x00AD | 0x0600..=0x0605 | 0x061C | 0x06DD | 0x070F | 0x0890..=0x0891 | 0x08E2
        | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x2064 | 0x2066..=0x206F
        | 0xFEFF | 0xFFF9..=0xFFFB | 0x110BD | 0x110CD | 0x13430..=0x1343F
        | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A | 0xE0001 | 0xE0020..=0xE007F
        // Co
        | 0xE000..=0xF8FF | 0xF0000..=0xFFFFD | 0x100000..=0x10FFFD
    )
}

/// Python's `str.strip()` with no argument: removes leading and trailing characters for
/// which `str.isspace()` is true. That is Unicode White_Space (Rust's `char::is_whitespace`)
/// plus the ASCII separators U+001C..U+001F, which Python also counts as space.
pub fn strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c))
}

/// Python's `str(datetime.timedelta)`: `[D day[s], ]H:MM:SS[.ffffff]`. Days carry the sign
/// (a timedelta is normalised to days, then 0 <= seconds < 86400, then microseconds), so
/// minus five minutes is `-1 day, 23:55:00`; "day" is singular only for 1 and -1; the
/// fraction appears only when there are microseconds. Nanoseconds below a microsecond
/// are dropped (floor), which never happens for the whole minutes it is used on.
pub fn timedelta_str(d: time::Duration) -> String {
    const DAY_US: i128 = 86_400_000_000;
    let total_us = d.whole_nanoseconds().div_euclid(1_000);
    let days = total_us.div_euclid(DAY_US);
    let rest = total_us.rem_euclid(DAY_US);
    let (secs, micros) = (rest / 1_000_000, rest % 1_000_000);
    let mut out = String::new();
    if days != 0 {
        let plural = if days.abs() == 1 { "" } else { "s" };
        out.push_str(&format!("{days} day{plural}, "));
    }
    out.push_str(&format!(
        "{}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    ));
    if micros != 0 {
        out.push_str(&format!(".{micros:06}"));
    }
    out
}

/// Python's `str(datetime)` of a naive datetime, here the UTC wall clock of `t`:
/// `YYYY-MM-DD HH:MM:SS`, plus `.ffffff` only when the microseconds are not zero
/// (nanoseconds below a microsecond are dropped, as Python cannot hold them).
pub fn naive_datetime_str(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let mut out = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.microsecond() != 0 {
        out.push_str(&format!(".{:06}", t.microsecond()));
    }
    out
}

/// Python's `textwrap.fill(text, width)` with the default options, as ee-outliers calls
/// it on every summary (`width=150`). It reproduces Python 3.6-3.9, the versions
/// ee-outliers 0.2.17 ran on (its image is Python 3.6): from 3.10 on, a word longer than
/// the width is cut after its last hyphen that fits instead of exactly at the width.
///
/// Steps, as `TextWrapper` takes them:
/// 1. tabs expand to the next multiple of 8 columns (columns restart after `\n`, `\r`);
///    then each of `\t \n \x0b \x0c \r` becomes a space (other Unicode spaces stay);
/// 2. the text splits into chunks: runs of spaces, and words that end at a space, at the
///    end, before an em-dash (`--` between word characters), or after the hyphen of a
///    hyphenated word (two letters before the hyphen, or `x-y-`, and a letter, an optional
///    hyphen and a letter after it) — see [`chunks`];
/// 3. lines are filled greedily with whole chunks, at most `width` characters (code
///    points); a chunk longer than `width` is cut to fill the current line; a whitespace
///    chunk (by `str.strip()`) is dropped at the end of every line and at the start of
///    every line but the first;
/// 4. lines are joined with `\n`. Empty or blank text gives `""`.
///
/// `width` must be at least 1 (Python raises otherwise); 0 is treated as 1.
pub fn textwrap_fill(text: &str, width: usize) -> String {
    let width = width.max(1);
    let text = munge_whitespace(text);
    // A stack: the next chunk is at the end.
    let mut stack: Vec<Vec<char>> = chunks(&text);
    stack.reverse();
    let is_blank = |chunk: &[char]| strip(&chunk.iter().collect::<String>()).is_empty();
    let mut lines: Vec<String> = Vec::new();
    while !stack.is_empty() {
        let mut line: Vec<Vec<char>> = Vec::new();
        let mut len = 0;
        if !lines.is_empty() && stack.last().is_some_and(|c| is_blank(c)) {
            stack.pop();
        }
        while let Some(top) = stack.last() {
            if len + top.len() > width {
                break;
            }
            len += top.len();
            line.extend(stack.pop());
        }
        if let Some(top) = stack.last_mut() {
            if top.len() > width {
                // Only when the line has room left: `width - len` characters of it.
                let rest = top.split_off(width - len);
                line.push(std::mem::replace(top, rest));
            }
        }
        if line.last().is_some_and(|c| is_blank(c)) {
            line.pop();
        }
        if !line.is_empty() {
            lines.push(line.iter().flatten().collect());
        }
    }
    lines.join("\n")
}

/// Step 1 of [`textwrap_fill`]: `str.expandtabs(8)`, then the six ASCII whitespace
/// characters become spaces.
fn munge_whitespace(text: &str) -> Vec<char> {
    let mut out = Vec::with_capacity(text.len());
    let mut column = 0;
    for c in text.chars() {
        match c {
            '\t' => {
                let n = 8 - column % 8;
                out.extend(std::iter::repeat_n(' ', n));
                column += n;
            }
            '\n' | '\r' => {
                out.push(' ');
                column = 0;
            }
            '\u{b}' | '\u{c}' => {
                out.push(' ');
                column += 1;
            }
            c => {
                out.push(c);
                column += 1;
            }
        }
    }
    out
}

/// Python's `\w` on one character: alphanumeric or `_`. (Rust's alphanumeric also counts
/// combining marks with the Other_Alphabetic property, which Python does not.)
fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The `letter` class of `TextWrapper` (`[^\d\W]`): a word character that is not a
/// decimal digit (Python's `\d` is the category Nd). Nd is taken as the numerics that
/// are not alphabetic (which leaves out Nl, e.g. `Ⅻ`) minus the common No characters
/// (superscripts, subscripts, vulgar fractions, circled and parenthesised numbers);
/// rarer No characters count as digits here and as letters in Python.
fn is_letter(c: char) -> bool {
    let other_number = matches!(
        c,
        '\u{b2}' | '\u{b3}' | '\u{b9}' | '\u{bc}'..='\u{be}'
            | '\u{2070}'..='\u{209f}'
            | '\u{2150}'..='\u{215f}'
            | '\u{2189}'
            | '\u{2460}'..='\u{24ff}'
            | '\u{2776}'..='\u{2793}'
    );
    let decimal = c.is_numeric() && !c.is_alphabetic() && !other_number;
    is_word(c) && !decimal
}

/// The `word_punct` class of `TextWrapper`: a word character or one of `!"'&.,?`.
fn is_word_punct(c: char) -> bool {
    is_word(c) || matches!(c, '!' | '"' | '\'' | '&' | '.' | ',' | '?')
}

/// Step 2 of [`textwrap_fill`]: what `TextWrapper.wordsep_re.split` returns, without the
/// empty strings. At each position, in the regex's order of alternatives: a run of spaces;
/// an em-dash (two or more hyphens after a `word_punct` character and before a word
/// character); else the shortest run of non-spaces that ends (a) with a hyphen preceded
/// by two letters or by letter-hyphen-letter and followed by letter, optional hyphen,
/// letter, (b) before a space or the end, or (c) after a `word_punct` character and
/// before an em-dash. Every alternative consumes at least one character and one of them
/// always matches, so the chunks cover the text. Look-behinds see the whole text, also
/// before the chunk.
fn chunks(text: &[char]) -> Vec<Vec<char>> {
    let at = |i: usize| text.get(i).copied();
    let is = |i: usize, f: fn(char) -> bool| at(i).is_some_and(f);
    // Length of the run of hyphens starting at i.
    let hyphens = |i: usize| {
        text[i.min(text.len())..]
            .iter()
            .take_while(|c| **c == '-')
            .count()
    };
    // An em-dash starts at i: two or more hyphens, then a word character.
    let em_dash_at = |i: usize| {
        let h = hyphens(i);
        h >= 2 && is(i + h, is_word)
    };
    let mut out = Vec::new();
    let mut p = 0;
    while p < text.len() {
        let end = if text[p] == ' ' {
            p + text[p..].iter().take_while(|c| **c == ' ').count()
        } else if p > 0 && is(p - 1, is_word_punct) && em_dash_at(p) {
            p + hyphens(p)
        } else {
            let mut q = p + 1;
            loop {
                // (a) hyphenated word: the hyphen at q is part of this chunk.
                let behind = (q >= 2 && is(q - 2, is_letter) && is(q - 1, is_letter))
                    || (q >= 3
                        && is(q - 3, is_letter)
                        && at(q - 2) == Some('-')
                        && is(q - 1, is_letter));
                let ahead = is(q + 1, is_letter)
                    && (is(q + 2, is_letter) || (at(q + 2) == Some('-') && is(q + 3, is_letter)));
                if at(q) == Some('-') && behind && ahead {
                    break q + 1;
                }
                // (b) end of word; (c) before an em-dash.
                if q == text.len() || text[q] == ' ' || (is(q - 1, is_word_punct) && em_dash_at(q))
                {
                    break q;
                }
                q += 1;
            }
        };
        out.push(text[p..end].to_vec());
        p = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_render_as_python_str() {
        assert_eq!(str_of(&json!("cmd.exe")), "cmd.exe");
        assert_eq!(str_of(&json!(true)), "True");
        assert_eq!(str_of(&json!(false)), "False");
        assert_eq!(str_of(&json!(null)), "None");
        assert_eq!(str_of(&json!(42)), "42");
        assert_eq!(str_of(&json!(-7)), "-7");
        assert_eq!(str_of(&json!(1.0)), "1.0");
        assert_eq!(str_of(&json!(2.5)), "2.5");
    }

    #[test]
    fn floats_follow_python_repr_thresholds() {
        // Python: repr(1e15) '1000000000000000.0', repr(1e16) '1e+16',
        // repr(0.0001) '0.0001', repr(0.00001) '1e-05', repr(1.5e-7) '1.5e-07',
        // repr(1e100) '1e+100', repr(123456.789) '123456.789', repr(-0.0) '-0.0',
        // repr(0.1 + 0.2) '0.30000000000000004', repr(1.17) '1.17'.
        for (x, want) in [
            (1e15, "1000000000000000.0"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1.5e-7, "1.5e-07"),
            (1e100, "1e+100"),
            (123456.789, "123456.789"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1.17, "1.17"),
            (-2.0, "-2.0"),
            (200.0, "200.0"),
            (f64::NAN, "nan"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(float_repr(x), want, "{x}");
        }
    }

    #[test]
    fn nested_containers_render_as_python_repr() {
        // str({'a': [1, 'x', None, True]}) == "{'a': [1, 'x', None, True]}"
        assert_eq!(
            str_of(&json!({"a": [1, "x", null, true]})),
            "{'a': [1, 'x', None, True]}"
        );
        assert_eq!(str_of(&json!([])), "[]");
        assert_eq!(str_of(&json!({})), "{}");
    }

    #[test]
    fn string_repr_picks_quotes_and_escapes_like_python() {
        // repr("it's") == '"it\'s"' -> "it's" in double quotes; repr('say "hi"') uses
        // single quotes; repr('both \' and "') escapes the single quote.
        assert_eq!(repr_of(&json!("it's")), "\"it's\"");
        assert_eq!(repr_of(&json!("say \"hi\"")), "'say \"hi\"'");
        assert_eq!(repr_of(&json!("both ' and \"")), "'both \\' and \"'");
        assert_eq!(repr_of(&json!("C:\\x\n")), "'C:\\\\x\\n'");
        assert_eq!(
            repr_of(&json!("\u{1}\u{a0}\u{200b}é")),
            "'\\x01\\xa0\\u200bé'"
        );
    }

    #[test]
    fn strip_removes_python_whitespace() {
        assert_eq!(strip("  ws-1 \t\n"), "ws-1");
        assert_eq!(strip("\u{1f}x\u{a0}"), "x");
        assert_eq!(strip("a b"), "a b");
        assert_eq!(strip(""), "");
    }
    #[test]
    fn timedelta_renders_as_python_str() {
        use time::Duration;
        // Python 3.6: str(timedelta(...)) for each.
        for (d, want) in [
            (Duration::days(1), "1 day, 0:00:00"),
            (Duration::minutes(2 * 1440 + 3 * 60 + 4), "2 days, 3:04:00"),
            (Duration::minutes(5), "0:05:00"),
            (Duration::hours(25), "1 day, 1:00:00"),
            (Duration::ZERO, "0:00:00"),
            (Duration::minutes(-5), "-1 day, 23:55:00"),
            (Duration::days(-1), "-1 day, 0:00:00"),
            (
                Duration::days(-2) + Duration::seconds(5),
                "-2 days, 0:00:05",
            ),
            (Duration::microseconds(5), "0:00:00.000005"),
            (Duration::days(999_999), "999999 days, 0:00:00"),
        ] {
            assert_eq!(timedelta_str(d), want, "{d:?}");
        }
    }

    #[test]
    fn naive_datetime_shows_microseconds_only_when_not_zero() {
        use time::macros::datetime;
        assert_eq!(
            naive_datetime_str(datetime!(2026-11-28 00:00:00 UTC)),
            "2026-11-28 00:00:00"
        );
        assert_eq!(
            naive_datetime_str(datetime!(2026-11-28 01:02:03.004 UTC)),
            "2026-11-28 01:02:03.004000"
        );
        assert_eq!(
            naive_datetime_str(datetime!(2026-01-02 03:04:05.123456789 UTC)),
            "2026-01-02 03:04:05.123456"
        );
        assert_eq!(
            naive_datetime_str(datetime!(0001-01-01 00:00:00 UTC)),
            "0001-01-01 00:00:00"
        );
        // The UTC wall clock, whatever the offset of the value.
        assert_eq!(
            naive_datetime_str(datetime!(2026-11-28 01:00:00 +01:00)),
            "2026-11-28 00:00:00"
        );
    }

    // Every expected value below is Python 3.6's textwrap.fill(text, width=w).
    #[test]
    fn textwrap_keeps_short_text_and_inner_spaces() {
        assert_eq!(textwrap_fill("a  b   c", 150), "a  b   c");
        assert_eq!(
            textwrap_fill("Look, goof-ball -- use the -b option!", 150),
            "Look, goof-ball -- use the -b option!"
        );
    }

    #[test]
    fn textwrap_keeps_leading_spaces_of_the_first_line_and_drops_trailing_ones() {
        assert_eq!(textwrap_fill("  lead and trail  ", 150), "  lead and trail");
    }

    #[test]
    fn textwrap_expands_tabs_to_columns_and_turns_newlines_into_spaces() {
        assert_eq!(textwrap_fill("ab\tc", 150), "ab      c");
        assert_eq!(
            textwrap_fill("one\ttwo\nthree\r\nfour", 150),
            "one     two three  four"
        );
    }

    #[test]
    fn textwrap_of_empty_or_blank_text_is_empty() {
        assert_eq!(textwrap_fill("", 150), "");
        assert_eq!(textwrap_fill(" \n\t ", 150), "");
    }

    #[test]
    fn textwrap_breaks_after_hyphens_of_compound_words_and_around_em_dashes() {
        assert_eq!(
            textwrap_fill("Look, goof-ball -- use the -b option!", 10),
            "Look,\ngoof-ball\n-- use the\n-b option!"
        );
        assert_eq!(textwrap_fill("re-evaluate", 5), "re-ev\naluat\ne");
    }

    #[test]
    fn textwrap_cuts_long_words_at_the_width() {
        assert_eq!(textwrap_fill("xxxxxxx", 3), "xxx\nxxx\nx");
        // The line is full when the long word comes: its space stays at the line end.
        assert_eq!(
            textwrap_fill("abcdefghi xxxxxxxxxxxx", 10),
            "abcdefghi \nxxxxxxxxxx\nxx"
        );
    }

    #[test]
    fn textwrap_wraps_at_150_columns_between_words() {
        let text = "word ".repeat(40);
        let want = format!("{}\n{}", ["word"; 30].join(" "), ["word"; 10].join(" "));
        assert_eq!(textwrap_fill(&text, 150), want);
    }

    #[test]
    fn textwrap_treats_unicode_spaces_as_letters_but_drops_them_at_line_starts() {
        // A no-break space does not split words, but a chunk of them is blank for
        // str.strip(), so it is dropped at the start of the second line.
        assert_eq!(textwrap_fill("a\u{a0}b c", 3), "a\u{a0}b\nc");
        assert_eq!(textwrap_fill("x \u{a0}\u{a0} y", 3), "x\n y");
    }
    #[test]
    fn textwrap_cuts_long_words_as_python_3_6_not_after_their_last_hyphen() {
        // Python 3.10+ would give "x-\n123456\n7890".
        assert_eq!(textwrap_fill("x-1234567890", 6), "x-1234\n567890");
    }
}
