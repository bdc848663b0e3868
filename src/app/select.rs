//! `app`: which config files and use cases a command works on, and its time span.

use anyhow::Result;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::ExitStatus;
use crate::cli::{ConfigArgs, Selection};
use crate::config::{self, Config, UseCase};
use crate::plan::TimeWindow;

/// Loads the config file, or every `.conf` file of a folder in name order. Every problem
/// of every file is printed; any problem means exit status 2.
pub(crate) fn load_all(args: &ConfigArgs) -> Result<Vec<Config>, ExitStatus> {
    let files = match config::files(&args.config) {
        Ok(f) if !f.is_empty() => f,
        Ok(_) => {
            eprintln!("error: {} holds no .conf file", args.config.display());
            return Err(ExitStatus::Usage);
        }
        Err(e) => {
            eprintln!("error: cannot read {}: {e}", args.config.display());
            return Err(ExitStatus::Usage);
        }
    };
    let mut out = Vec::new();
    let mut problems = 0;
    for f in files {
        match config::load(&f) {
            Ok(c) => {
                for n in &c.notices {
                    tracing::info!("{}: {}", n.location, n.message);
                }
                out.push(c);
            }
            Err(errors) => {
                eprintln!("{errors}");
                problems += errors.errors.len();
            }
        }
    }
    if problems > 0 {
        eprintln!(
            "error: {} problem(s) in {}; nothing was run",
            problems,
            args.config.display()
        );
        return Err(ExitStatus::Usage);
    }
    Ok(out)
}

/// `*` and `?` wildcards, matched against the whole name. Only those two are wildcards
/// (the README promises no more): `[`, `]`, `{` and `}` are escaped into literals before
/// globset sees the pattern, and a backslash is an ordinary character.
pub(crate) fn glob_match(pattern: &str, name: &str) -> bool {
    let literal_elsewhere: String = pattern
        .chars()
        .map(|c| match c {
            '[' | ']' | '{' | '}' => format!("[{c}]"),
            c => c.to_string(),
        })
        .collect();
    globset::GlobBuilder::new(&literal_elsewhere)
        .literal_separator(false)
        .backslash_escape(false)
        .build()
        .is_ok_and(|g| g.compile_matcher().is_match(name))
}

/// The use cases to run per config: those matching a `--use-case` name or glob (each
/// pattern must match something), or every `run_model=1` case.
pub(crate) fn select_all<'a>(
    cfgs: &'a [Config],
    sel: &Selection,
) -> Result<Vec<(&'a Config, Vec<&'a UseCase>)>, ExitStatus> {
    let mut out = Vec::new();
    let mut matched = vec![false; sel.use_cases.len()];
    for cfg in cfgs {
        let ucs: Vec<&UseCase> = cfg
            .use_cases
            .iter()
            .filter(|u| {
                if sel.use_cases.is_empty() {
                    return u.run_model && cfg.general.run_models;
                }
                let mut any = false;
                for (i, p) in sel.use_cases.iter().enumerate() {
                    if glob_match(p, &u.name) || glob_match(p, &u.model_name) {
                        matched[i] = true;
                        any = true;
                    }
                }
                any
            })
            .collect();
        out.push((cfg, ucs));
    }
    if let Some(i) = matched.iter().position(|m| !m) {
        let known: Vec<&str> = cfgs
            .iter()
            .flat_map(|c| c.use_cases.iter().map(|u| u.name.as_str()))
            .collect();
        eprintln!(
            "error: --use-case {}: matches no use case; known: {}",
            sel.use_cases[i],
            known.join(", ")
        );
        return Err(ExitStatus::Usage);
    }
    Ok(out)
}

/// The time span of a run: the window ends at `until` (default now) and starts at
/// `since` when given, else `history_window_days/hours` before `until`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    until: OffsetDateTime,
    since: Option<OffsetDateTime>,
}

impl Span {
    pub(crate) fn from_args(
        now: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
    ) -> Result<Span, ExitStatus> {
        let now = parse_now(now)?;
        let until = match until {
            Some(u) => parse_time("--until", u, now)?,
            None => now,
        };
        let since = since.map(|s| parse_time("--since", s, until)).transpose()?;
        if since.is_some_and(|s| s >= until) {
            eprintln!("error: --since must be before --until");
            return Err(ExitStatus::Usage);
        }
        Ok(Span { until, since })
    }

    pub(crate) fn window(&self, hours: u64) -> TimeWindow {
        match self.since {
            Some(start) => TimeWindow {
                start,
                end: self.until,
            },
            None => TimeWindow::ending_at(self.until, hours),
        }
    }
}

/// RFC 3339, or a duration before `base` in humantime's syntax: `90m`, `24h`, `7d`,
/// `1h 30m` (a leading `+` is allowed, as before). A time before year -9999 is refused
/// like any other bad value.
pub(crate) fn parse_time(
    flag: &str,
    s: &str,
    base: OffsetDateTime,
) -> Result<OffsetDateTime, ExitStatus> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Ok(t);
    }
    let ago = humantime::parse_duration(s.strip_prefix('+').unwrap_or(s))
        .ok()
        .and_then(|d| time::Duration::try_from(d).ok())
        .and_then(|d| base.checked_sub(d));
    ago.ok_or_else(|| {
        eprintln!("error: {flag} {s}: write an RFC 3339 time (2026-11-28T00:00:00Z) or a duration ago (90m, 24h, 7d)");
        ExitStatus::Usage
    })
}

pub(crate) fn parse_now(now: Option<&str>) -> Result<OffsetDateTime, ExitStatus> {
    match now {
        None => Ok(OffsetDateTime::now_utc()),
        Some(s) => OffsetDateTime::parse(s, &Rfc3339).map_err(|e| {
            eprintln!("error: --now {s}: not an RFC 3339 time ({e}); e.g. 2026-11-28T00:00:00Z");
            ExitStatus::Usage
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::{glob_match, parse_time};
    use time::macros::datetime;

    #[test]
    fn use_case_globs_know_only_star_and_question_mark() {
        assert!(glob_match("terms_*", "terms_rare_childname"));
        assert!(glob_match("*_b", "terms_rare_b"));
        assert!(glob_match("rare_?hild*", "rare_childname"));
        assert!(
            !glob_match("rare_?", "rare_ab"),
            "? is exactly one character"
        );
        assert!(
            !glob_match("terms", "terms_rare"),
            "the whole name must match"
        );
        // Class and alternation syntax is literal, and never a pattern error.
        assert!(glob_match("a[b]*", "a[b]c"));
        assert!(!glob_match("a[b]*", "abc"));
        assert!(glob_match("{x,y}", "{x,y}"));
        assert!(!glob_match("{x,y}", "x"));
        assert!(glob_match("a[", "a["));
        assert!(glob_match(r"a\*", r"a\bc"), "a backslash escapes nothing");
    }

    #[test]
    fn since_and_until_take_rfc3339_or_a_duration_before_the_base() {
        let base = datetime!(2026-11-28 12:00:00 UTC);
        let at = |s| parse_time("--since", s, base).ok();
        assert_eq!(at("90m"), Some(datetime!(2026-11-28 10:30:00 UTC)));
        assert_eq!(at("24h"), Some(datetime!(2026-11-27 12:00:00 UTC)));
        assert_eq!(at("7d"), Some(datetime!(2026-11-21 12:00:00 UTC)));
        assert_eq!(at("+2h"), Some(datetime!(2026-11-28 10:00:00 UTC)));
        assert_eq!(at("0m"), Some(base));
        assert_eq!(at("1h 30m"), Some(datetime!(2026-11-28 10:30:00 UTC)));
        assert_eq!(
            at("2026-11-01T00:00:00Z"),
            Some(datetime!(2026-11-01 00:00:00 UTC))
        );
    }

    #[test]
    fn since_and_until_refuse_a_bare_number_a_negative_duration_and_an_overflow() {
        let base = datetime!(2026-11-28 12:00:00 UTC);
        for bad in ["yesterday", "5", "-5m", "", "99999999999999d"] {
            assert!(parse_time("--until", bad, base).is_err(), "{bad:?}");
        }
    }
}
