//! Stage `config`: the `[general]` section becomes [`General`].
//!
//! Every key of ee-outliers' `[general]` is either read, or accepted and reported as a
//! notice when it only concerns the Python tool (logging, scrolling, training,
//! credentials), so that ee-outliers' own files load unchanged. Any other key is an error.
//! Credentials are never copied into a message. Whether `es_index_pattern` and the
//! history window are required depends on the use cases, so `mod.rs` checks that.

use super::error::{did_you_mean, Diagnostics};
use super::model::General;
use super::scan::RawSection;
use super::value;

/// `[general]` as read, with what the use cases need to fall back on it.
#[derive(Debug, Clone)]
pub(super) struct GeneralSection {
    pub general: General,
    /// `history_window_days` as written (0 when absent).
    pub days: u64,
    /// `history_window_hours` as written (0 when absent).
    pub hours: u64,
    /// Line of the `[general]` header; 0 when the file has none.
    pub line: usize,
    /// Line and key (as written) of `es_index_pattern`, when written.
    pub index_at: Option<(usize, String)>,
    /// Line and key of `history_window_days`, else of `history_window_hours`, when written.
    pub window_at: Option<(usize, String)>,
}

/// Keys this module reads.
const READ: [&str; 13] = [
    "es_url",
    "es_index_pattern",
    "timestamp_field",
    "history_window_days",
    "history_window_hours",
    "es_save_results",
    "print_outliers_to_console",
    "es_timeout",
    "es_scan_size",
    "run_models",
    "test_models",
    "es_wipe_all_existing_outliers",
    "es_wipe_all_whitelisted_outliers",
];

/// ee-outliers keys that esoutliers accepts and ignores, with why.
const IGNORED: [(&str, &str); 19] = [
    ("es_username", CREDENTIALS),
    ("es_password", CREDENTIALS),
    ("verify_certs", TLS),
    ("ca_certs", TLS),
    ("es_verify_certs", TLS),
    ("es_ca_certs", TLS),
    ("es_client_cert", TLS),
    ("es_client_key", TLS),
    ("use_ssl", TLS),
    ("es_scroll_time", INTERNALS),
    ("log_verbosity", LOGGING),
    ("log_level", LOGGING),
    ("log_file", LOGGING),
    ("train_models", INTERNALS),
    ("terms_batch_eval_size", BATCHES),
    ("metrics_batch_eval_size", INTERNALS),
    ("beaconing_batch_eval_size", INTERNALS),
    ("word2vec_batch_eval_size", INTERNALS),
    (
        "highlight_match",
        "ignored: ee-outliers reads highlight_match from a simplequery use case or from the [simplequery] section, not from [general], and so does esoutliers; move it there",
    ),
];

const CREDENTIALS: &str = "ignored: credentials belong in the ES_USER/ES_PASSWORD (or ES_API_KEY) environment variables; esoutliers never reads them from a config file";
const TLS: &str = "ignored: esoutliers takes TLS settings from the ES_CA_CERT environment variable and the --insecure flag, not from the config";
const LOGGING: &str = "ignored: this concerns ee-outliers' internals; esoutliers' logging is chosen with -v/-q and RUST_LOG";
const INTERNALS: &str = "ignored: this concerns ee-outliers' internals; esoutliers does not use it";
const BATCHES: &str = "ignored: this concerns ee-outliers' internals; esoutliers evaluates the whole window at once instead of in batches";

/// Reads `[general]`; `s` is `None` when the file has no such section (defaults apply).
pub(super) fn read(diag: &mut Diagnostics, s: Option<&RawSection>) -> GeneralSection {
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
    let mut out = GeneralSection {
        general: g.clone(),
        days: 0,
        hours: 0,
        line: 0,
        index_at: None,
        window_at: None,
    };
    let Some(s) = s else {
        return out;
    };
    out.line = s.line;
    let name = s.name.as_str();
    for e in s.unique_entries() {
        let at = diag.at(e.line, Some(name), Some(&e.key));
        let v = e.value.trim();
        // Each arm yields Err(message) when the value is wrong.
        let checked: Result<(), String> = match e.lower.as_str() {
            "es_url" => url(v).map(|u| g.es_url = u),
            "es_index_pattern" => {
                g.es_index_pattern = v.to_string();
                out.index_at = Some((e.line, e.key.clone()));
                Ok(())
            }
            "timestamp_field" if v.is_empty() => {
                Err("empty; name the event time field, e.g. timestamp_field=@timestamp".into())
            }
            "timestamp_field" => {
                g.timestamp_field = v.to_string();
                Ok(())
            }
            "history_window_days" => value::whole_number(v, 0).map(|n| {
                out.days = n;
                out.window_at = Some((e.line, e.key.clone()));
            }),
            "history_window_hours" => value::whole_number(v, 0).map(|n| {
                out.hours = n;
                out.window_at.get_or_insert_with(|| (e.line, e.key.clone()));
            }),
            "es_save_results" => value::boolean(v).map(|b| g.save_results = b),
            "print_outliers_to_console" => {
                value::boolean(v).map(|b| g.print_outliers_to_console = b)
            }
            "es_timeout" => value::whole_number(v, 1).map(|n| g.es_timeout_secs = n),
            "es_scan_size" => value::whole_number(v, 1).and_then(|n| {
                u32::try_from(n)
                    .map(|n| g.es_scan_size = n)
                    .map_err(|_| format!("{n} is too large; write a page size such as 1000"))
            }),
            "run_models" => value::boolean(v).map(|b| g.run_models = b),
            "test_models" => value::boolean(v).map(|b| g.test_models = b),
            "es_wipe_all_existing_outliers" => {
                value::boolean(v).map(|b| g.wipe_all_existing_outliers = b)
            }
            "es_wipe_all_whitelisted_outliers" => {
                value::boolean(v).map(|b| g.wipe_all_whitelisted_outliers = b)
            }
            k => {
                match IGNORED.iter().find(|(i, _)| *i == k) {
                    Some((_, why)) => diag.notice(at.clone(), *why),
                    None => diag.error(at.clone(), unknown_key(k)),
                }
                Ok(())
            }
        };
        if let Err(message) = checked {
            diag.error(at, message);
        }
    }
    if s.get("timestamp_field").is_none() {
        diag.notice(
            diag.at(s.line, Some(name), Some("timestamp_field")),
            "not set: esoutliers uses @timestamp, while ee-outliers falls back to a field named timestamp; set timestamp_field to make the choice explicit",
        );
    }
    g.history_window_hours = out.days.saturating_mul(24).saturating_add(out.hours);
    out.general = g;
    out
}

/// `es_url`: empty means absent; otherwise an http(s) URL with a host.
fn url(v: &str) -> Result<Option<String>, String> {
    if v.is_empty() {
        return Ok(None);
    }
    let rest = v
        .strip_prefix("http://")
        .or_else(|| v.strip_prefix("https://"));
    match rest {
        Some(r) if !r.is_empty() && !r.starts_with('/') && !v.contains(char::is_whitespace) => {
            Ok(Some(v.to_string()))
        }
        _ => Err(format!(
            "{v:?} is not an Elasticsearch URL; write http://host:9200 or https://host:9200"
        )),
    }
}

fn unknown_key(k: &str) -> String {
    let mut known: Vec<&str> = READ.to_vec();
    known.extend(IGNORED.iter().map(|(i, _)| *i));
    match did_you_mean(k, &known) {
        Some(m) => format!("unknown key in [general]; did you mean {m}?"),
        None => format!(
            "unknown key in [general]; esoutliers reads {} and accepts ee-outliers' other [general] keys",
            READ.join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::scan;
    use super::*;

    fn general(
        text: &str,
    ) -> (
        GeneralSection,
        Result<Vec<super::super::model::Notice>, super::super::ConfigErrors>,
    ) {
        let mut d = Diagnostics::new(Path::new("t.conf"));
        let secs = scan::read(text, &mut d);
        let g = read(&mut d, secs.iter().find(|s| s.name == "general"));
        (g, d.finish())
    }

    fn errors(text: &str) -> Vec<String> {
        general(text)
            .1
            .expect_err("expected errors")
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn defaults_apply_when_keys_are_absent() {
        let (g, r) = general("[general]\ntimestamp_field=@timestamp\n");
        r.unwrap();
        let g = g.general;
        assert_eq!(g.timestamp_field, "@timestamp");
        assert!(g.save_results && g.run_models && !g.test_models && !g.print_outliers_to_console);
        assert_eq!(
            (g.es_timeout_secs, g.es_scan_size, g.history_window_hours),
            (300, 1000, 0)
        );
        assert!(!g.wipe_all_existing_outliers && !g.wipe_all_whitelisted_outliers);
        assert_eq!(g.es_url, None);
    }

    #[test]
    fn history_window_is_days_times_24_plus_hours() {
        let (g, _) = general("[general]\nhistory_window_days=7\nhistory_window_hours=12\n");
        assert_eq!(g.general.history_window_hours, 7 * 24 + 12);
        assert_eq!((g.days, g.hours), (7, 12));
    }

    #[test]
    fn every_key_is_read() {
        let (g, r) = general(
            "[general]\nes_url=https://es:9200\nes_index_pattern=logs-*\ntimestamp_field=ts\nes_save_results=0\n\
             print_outliers_to_console=yes\nes_timeout=60\nes_scan_size=500\nrun_models=false\ntest_models=1\n\
             es_wipe_all_existing_outliers=1\nes_wipe_all_whitelisted_outliers=true\n",
        );
        assert!(r.unwrap().is_empty());
        let g = g.general;
        assert_eq!(g.es_url.as_deref(), Some("https://es:9200"));
        assert_eq!(
            (g.es_index_pattern.as_str(), g.timestamp_field.as_str()),
            ("logs-*", "ts")
        );
        assert!(!g.save_results && g.print_outliers_to_console && !g.run_models && g.test_models);
        assert_eq!((g.es_timeout_secs, g.es_scan_size), (60, 500));
        assert!(g.wipe_all_existing_outliers && g.wipe_all_whitelisted_outliers);
    }

    #[test]
    fn keys_are_case_insensitive() {
        let (g, r) = general("[general]\nES_Index_Pattern=logs-*\nTimestamp_Field=ts\n");
        r.unwrap();
        assert_eq!(g.general.es_index_pattern, "logs-*");
        assert_eq!(g.general.timestamp_field, "ts");
    }

    #[test]
    fn bad_values_name_line_section_and_key() {
        let e = errors("[general]\nes_timeout=0\nes_save_results=maybe\nhistory_window_days=-1\nes_url=esnode1:9200\n");
        assert_eq!(e.len(), 4);
        assert!(
            e[0].starts_with("t.conf:2: [general] es_timeout: 0 is too small"),
            "{}",
            e[0]
        );
        assert!(
            e[1].starts_with("t.conf:3: [general] es_save_results: \"maybe\" is not a boolean"),
            "{}",
            e[1]
        );
        assert!(
            e[2].starts_with(
                "t.conf:4: [general] history_window_days: \"-1\" is not a whole number"
            ),
            "{}",
            e[2]
        );
        assert!(
            e[3].starts_with(
                "t.conf:5: [general] es_url: \"esnode1:9200\" is not an Elasticsearch URL"
            ),
            "{}",
            e[3]
        );
    }

    #[test]
    fn empty_timestamp_field_is_an_error() {
        assert!(errors("[general]\ntimestamp_field=\n")[0].contains("timestamp_field: empty"));
    }

    #[test]
    fn unknown_key_is_an_error_with_a_suggestion() {
        let e = errors("[general]\ntimestamp_field=@timestamp\nes_index_patern=logs-*\nfoo=1\n");
        assert_eq!(e[0], "t.conf:3: [general] es_index_patern: unknown key in [general]; did you mean es_index_pattern?");
        assert!(
            e[1].starts_with(
                "t.conf:4: [general] foo: unknown key in [general]; esoutliers reads es_url,"
            ),
            "{}",
            e[1]
        );
    }

    #[test]
    fn ignored_keys_are_notices_not_errors() {
        let (_, r) = general("[general]\ntimestamp_field=@timestamp\nes_scroll_time=25m\nlog_level=INFO\nterms_batch_eval_size=1000\n");
        let n = r.unwrap();
        assert_eq!(n.len(), 3);
        assert!(n.iter().all(|n| n.message.starts_with("ignored: ")));
        assert_eq!(n[0].location.key.as_deref(), Some("es_scroll_time"));
    }

    #[test]
    fn credentials_are_accepted_and_never_echoed() {
        let (_, r) = general("[general]\ntimestamp_field=@timestamp\nes_username=elastic\nes_password=s3cr3t-value\n");
        let n = r.unwrap();
        assert_eq!(n.len(), 2);
        for x in &n {
            assert!(x.message.contains("ES_USER/ES_PASSWORD"));
            assert!(!x.message.contains("s3cr3t") && !x.message.contains("elastic"));
        }
    }

    #[test]
    fn missing_timestamp_field_gets_a_notice_about_ee_outliers_default() {
        let (g, r) = general("[general]\nes_index_pattern=x\n");
        assert_eq!(g.general.timestamp_field, "@timestamp");
        let n = r.unwrap();
        assert!(n[0]
            .message
            .contains("falls back to a field named timestamp"));
    }
}
