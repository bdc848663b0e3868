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
    // Rust's `{:e}` gives the shortest round-trip digits ("-1.2345e-7"), as Python does,
    // except on an exact tie between two shortest candidates (see `even_on_tie`).
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
    let (digits, exp) = even_on_tie(x, digits, exp);
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

/// Python's float repr (David Gay's dtoa, mode 0) picks, among the shortest digit strings
/// that read back as `x`, the one nearest `x`, and on an exact tie the one with an even
/// last digit; Rust's shortest formatting takes the upper one. A tie needs `x`'s exact
/// decimal expansion to stop one digit after the candidates with a `5`, which only happens
/// with 16 or 17 digits (e.g. 1682498796945048.25: Python `1682498796945048.2`, Rust's
/// `{:e}` `...048.3`). Returns the digits and exponent to print.
fn even_on_tie(x: f64, digits: String, exp: i32) -> (String, i32) {
    let len = digits.len();
    if len < 16 {
        return (digits, exp);
    }
    // Cheap necessary condition first: rounded to one more digit, it must end in 5.
    let one_more = format!("{:.len$e}", x.abs());
    let ends_in_5 = one_more
        .split_once('e')
        .is_some_and(|(m, _)| m.ends_with('5'));
    if !ends_in_5 {
        return (digits, exp);
    }
    // A double's exact expansion has at most 767 significant digits: 800 shows all.
    let exact = format!("{:.800e}", x.abs());
    let (mantissa, exact_exp) = exact
        .split_once('e')
        .expect("LowerExp always writes an exponent");
    let exact_exp: i32 = exact_exp
        .parse()
        .expect("LowerExp writes a decimal exponent");
    let exact_digits: Vec<u8> = mantissa.bytes().filter(|b| *b != b'.').collect();
    let tie = exact_digits[len] == b'5' && exact_digits[len + 1..].iter().all(|d| *d == b'0');
    let lower = &exact_digits[..len];
    // ASCII digits: b'0' is even, so a byte's parity is its digit's.
    if tie && lower[len - 1].is_multiple_of(2) {
        let lower = String::from_utf8(lower.to_vec()).expect("ASCII digits");
        let trimmed = lower.trim_end_matches('0');
        (trimmed.to_string(), exact_exp)
    } else {
        (digits, exp)
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
    fn float_ties_between_shortest_digits_go_to_the_even_one_as_in_python() {
        // Python 3.6 repr: 1682498796945048.25 -> '1682498796945048.2',
        // 2037789302571906.25 -> '2037789302571906.2', -2037789302571906.25 ->
        // '-2037789302571906.2', 1682498796945048.75 -> '1682498796945048.8'
        // (the even one is the upper there), 9007199254740993.0 -> '9007199254740992.0'.
        for (x, want) in [
            (1682498796945048.0 + 0.25, "1682498796945048.2"),
            (2037789302571906.0 + 0.25, "2037789302571906.2"),
            (-2037789302571906.0 - 0.25, "-2037789302571906.2"),
            (1682498796945048.0 + 0.75, "1682498796945048.8"),
            (9007199254740992.0 + 1.0, "9007199254740992.0"),
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
}
