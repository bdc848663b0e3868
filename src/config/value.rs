//! Stage `config`: the grammar of single values shared by `[general]` and use cases:
//! booleans, whole numbers, decimal numbers, `DD:HH:MM` spans and lists of field names.
//!
//! Pure functions from the raw value to a typed value. An `Err` is the message only
//! (what is wrong and what would be right); the caller knows the location. Messages may
//! quote the value, so these are never used for secrets.

/// `1/0`, `true/false`, `yes/no`, `on/off`, in any case: the values Python's
/// `configparser.getboolean` accepts, so every file ee-outliers reads is read the same.
pub(super) fn boolean(v: &str) -> Result<bool, String> {
    match v.trim().to_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("{v:?} is not a boolean; write 1 or 0")),
    }
}

/// A whole number of at least `min` (no sign, no decimals, no unit).
pub(super) fn whole_number(v: &str, min: u64) -> Result<u64, String> {
    let t = v.trim();
    match t.parse::<u64>() {
        Ok(n) if n >= min => Ok(n),
        Ok(n) => Err(format!(
            "{n} is too small; write a whole number of at least {min}"
        )),
        Err(_) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => Err(format!(
            "{t} is too large; write a whole number below {}",
            u64::MAX
        )),
        Err(_) => Err(format!(
            "{v:?} is not a whole number; write a whole number of at least {min}"
        )),
    }
}

/// A finite decimal number such as `1`, `0.5`, `-2` or `1e3`.
pub(super) fn number(v: &str) -> Result<f64, String> {
    match v.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        _ => Err(format!(
            "{v:?} is not a finite number; write a number such as 1, 0.5 or 95"
        )),
    }
}

/// A `DD:HH:MM` span (`sliding_window_size`, `sliding_window_step_size`) in minutes:
/// days * 1440 + hours * 60 + minutes, and whether a part is negative.
///
/// Each part is read as Python's `int()` reads it, since ee-outliers splits the value on
/// `:` and converts each part with `int()`: surrounding blanks, a sign and `_` between
/// digits are accepted, and hours and minutes may exceed 23 and 59 (`00:00:90` is 90
/// minutes). Exactly three parts. The total may be 0 or negative; the caller decides.
pub(super) fn span_minutes(v: &str) -> Result<(i64, bool), String> {
    let bad = || {
        format!(
            "{:?} is not a span written DD:HH:MM (days:hours:minutes); write e.g. 01:00:00 for one day or 00:00:30 for 30 minutes",
            v.trim()
        )
    };
    let parts: Vec<&str> = v.split(':').collect();
    let [d, h, m] = parts.as_slice() else {
        return Err(bad());
    };
    let (d, h, m) = match (python_int(d), python_int(h), python_int(m)) {
        (Some(d), Some(h), Some(m)) => (d, h, m),
        _ => return Err(bad()),
    };
    let total = d
        .checked_mul(1440)
        .and_then(|x| h.checked_mul(60).and_then(|y| x.checked_add(y)))
        .and_then(|x| x.checked_add(m))
        .ok_or_else(|| {
            format!(
                "{:?} is too long a span; write DD:HH:MM with fewer days",
                v.trim()
            )
        })?;
    Ok((total, d < 0 || h < 0 || m < 0))
}

/// A whole number as Python's `int()` reads a string: blanks around, an optional sign,
/// ASCII digits with single `_` between them. `None` otherwise (or when it does not fit).
fn python_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (negative, digits) = match t.as_bytes().first()? {
        b'-' => (true, &t[1..]),
        b'+' => (false, &t[1..]),
        _ => (false, t),
    };
    let ok = !digits.is_empty()
        && !digits.starts_with('_')
        && !digits.ends_with('_')
        && !digits.contains("__")
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_');
    if !ok {
        return None;
    }
    let n: i64 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -n } else { n })
}

/// Comma-separated parts, each trimmed, empty parts dropped (whitelist entries).
pub(super) fn parts(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

/// One or more field names separated by commas (`aggregator`, `target`).
///
/// Each name is trimmed; an empty name, a name with whitespace inside, a name with `*`
/// (unless `allow_star`) and a repeated name are errors. ee-outliers deletes every space
/// of the value before splitting, so a name with a space inside is a typo for both tools.
pub(super) fn field_list(v: &str, allow_star: bool) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for part in v.split(',') {
        let f = part.trim();
        if f.is_empty() {
            return Err(format!(
                "{v:?} has an empty field name; list field names separated by single commas, e.g. host.name, process.name"
            ));
        }
        if f.chars().any(char::is_whitespace) {
            return Err(format!(
                "field name {f:?} contains whitespace; separate field names with commas"
            ));
        }
        if f.contains('*') && !allow_star {
            return Err(format!(
                "field name {f:?} contains '*'; name each field exactly"
            ));
        }
        if out.iter().any(|o| o == f) {
            return Err(format!("field {f} is listed twice; list each field once"));
        }
        out.push(f.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_accept_configparser_spellings() {
        for t in ["1", "true", "YES", "On", " 1 "] {
            assert_eq!(boolean(t), Ok(true), "{t}");
        }
        for f in ["0", "False", "no", "OFF"] {
            assert_eq!(boolean(f), Ok(false), "{f}");
        }
        assert!(boolean("2").unwrap_err().contains("write 1 or 0"));
    }

    #[test]
    fn whole_numbers_respect_minimum_and_reject_decimals() {
        assert_eq!(whole_number(" 30 ", 0), Ok(30));
        assert_eq!(whole_number("0", 0), Ok(0));
        assert!(whole_number("0", 1).unwrap_err().contains("at least 1"));
        assert!(whole_number("1.5", 0)
            .unwrap_err()
            .contains("not a whole number"));
        assert!(whole_number("-1", 0)
            .unwrap_err()
            .contains("not a whole number"));
        assert!(whole_number("99999999999999999999999", 0)
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn numbers_must_be_finite() {
        assert_eq!(number("0.5"), Ok(0.5));
        assert_eq!(number("-2"), Ok(-2.0));
        assert_eq!(number("1e2"), Ok(100.0));
        assert!(number("inf").is_err());
        assert!(number("NaN").is_err());
        assert!(number("one").is_err());
    }

    #[test]
    fn spans_are_days_hours_minutes_in_minutes() {
        assert_eq!(span_minutes("01:00:00"), Ok((1440, false)));
        assert_eq!(span_minutes("00:01:00"), Ok((60, false)));
        assert_eq!(
            span_minutes("20:13:20"),
            Ok((20 * 1440 + 13 * 60 + 20, false))
        );
        assert_eq!(span_minutes("00:00:00"), Ok((0, false)));
    }

    #[test]
    fn span_parts_are_read_as_python_int_reads_them() {
        assert_eq!(span_minutes(" 0 : 0 : 90 "), Ok((90, false)));
        assert_eq!(span_minutes("0:48:0"), Ok((2880, false)));
        assert_eq!(span_minutes("+1:0:1_0"), Ok((1450, false)));
        assert_eq!(span_minutes("1:-1:0"), Ok((1380, true)));
        for bad in [
            "1:00",
            "1:00:00:00",
            "1.5:00:00",
            "a:b:c",
            "1__0:0:0",
            "_1:0:0",
            "::",
            "1:0:",
        ] {
            assert!(span_minutes(bad).unwrap_err().contains("DD:HH:MM"), "{bad}");
        }
        assert!(span_minutes("9999999999999999:0:0")
            .unwrap_err()
            .contains("too long"));
    }

    #[test]
    fn parts_are_trimmed_and_empty_parts_dropped() {
        assert_eq!(parts(" a , b ,, "), vec!["a", "b"]);
        assert!(parts(" , ").is_empty());
    }

    #[test]
    fn field_lists_are_trimmed_and_checked() {
        assert_eq!(
            field_list("host.name, process.parent.name", false).unwrap(),
            vec!["host.name", "process.parent.name"]
        );
        assert!(field_list("a,,b", false)
            .unwrap_err()
            .contains("empty field name"));
        assert!(field_list("a,", false)
            .unwrap_err()
            .contains("empty field name"));
        assert!(field_list("process name", false)
            .unwrap_err()
            .contains("whitespace"));
        assert!(field_list("a, a", false)
            .unwrap_err()
            .contains("listed twice"));
        assert!(field_list("*", false).unwrap_err().contains("'*'"));
        assert_eq!(field_list("*", true).unwrap(), vec!["*"]);
    }
}
