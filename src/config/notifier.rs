//! Stage `config`: the `[notifier]` section becomes a [`Notifier`].
//!
//! ee-outliers 0.2.17 reads `email_notifier`, `notification_email`, `smtp_user`,
//! `smtp_pass`, `smtp_server`, `smtp_port` (implicit TLS) and `max_cache_ignore` (default
//! 1000); a use case is notified when `email_notifier` and its own `should_notify` are
//! both 1. esoutliers reads the same keys and adds `smtp_security` (`tls`, the default as
//! in ee-outliers, `starttls` or `none` for a local relay; an empty `smtp_user` means no
//! login), `smtp_ca_cert` (a PEM file of extra roots for a private mail server) and
//! `webhook_url` (one JSON POST per run with the new outliers).
//!
//! Invariant: `smtp_pass` is never copied into a message or a notice, and [`Secret`]
//! prints as `***` in `Debug`. No I/O here (`smtp_ca_cert` is read when sending).

use std::path::PathBuf;

use super::error::{did_you_mean, Diagnostics};
use super::scan::RawSection;
use super::value;

/// A password: kept out of `Debug` output and every message.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// The password itself, for the one call that logs in.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// How the connection to the mail server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// TLS from the first byte (SMTPS, port 465 usually), as ee-outliers' `SMTP_SSL`.
    Tls,
    /// Plain connection upgraded with STARTTLS (port 587 usually); refused without it.
    StartTls,
    /// No encryption, for a relay on the same host or network.
    None,
}

impl SmtpSecurity {
    /// The value as written in `smtp_security`.
    pub fn as_str(self) -> &'static str {
        match self {
            SmtpSecurity::Tls => "tls",
            SmtpSecurity::StartTls => "starttls",
            SmtpSecurity::None => "none",
        }
    }
}

/// The mail settings, present when `email_notifier=1`.
#[derive(Debug, Clone, PartialEq)]
pub struct Smtp {
    pub server: String,
    pub port: u16,
    /// Login name and sender address; empty = no login (the sender is then the first
    /// recipient).
    pub user: String,
    pub pass: Secret,
    /// Recipients (`notification_email`, comma-separated).
    pub to: Vec<String>,
    pub security: SmtpSecurity,
    /// Extra trusted root certificates (PEM); `None` = the built-in web roots only.
    pub ca_cert: Option<PathBuf>,
}

/// `[notifier]` as read. `Notifier::default()` sends nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Notifier {
    /// `Some` when `email_notifier=1`.
    pub email: Option<Smtp>,
    /// `webhook_url`; `None` when absent or empty.
    pub webhook_url: Option<String>,
    /// How many summaries are remembered (and not notified again): `max_cache_ignore`.
    pub max_cache_ignore: usize,
}

impl Default for Notifier {
    fn default() -> Self {
        Notifier {
            email: None,
            webhook_url: None,
            max_cache_ignore: DEFAULT_CACHE,
        }
    }
}

impl Notifier {
    /// True when some channel is configured.
    pub fn enabled(&self) -> bool {
        self.email.is_some() || self.webhook_url.is_some()
    }
}

/// ee-outliers' default for `max_cache_ignore`.
pub const DEFAULT_CACHE: usize = 1000;

const KEYS: [&str; 10] = [
    "email_notifier",
    "notification_email",
    "smtp_user",
    "smtp_pass",
    "smtp_server",
    "smtp_port",
    "max_cache_ignore",
    "smtp_security",
    "smtp_ca_cert",
    "webhook_url",
];

/// Reads `[notifier]`; `None` (no section) sends nothing.
pub(super) fn read(diag: &mut Diagnostics, s: Option<&RawSection>) -> Notifier {
    let mut n = Notifier::default();
    let Some(s) = s else {
        return n;
    };
    let name = s.name.as_str();
    let mut on = false;
    let mut smtp = Smtp {
        server: String::new(),
        port: 0,
        user: String::new(),
        pass: Secret::default(),
        to: Vec::new(),
        security: SmtpSecurity::Tls,
        ca_cert: None,
    };
    for e in s.unique_entries() {
        let at = diag.at(e.line, Some(name), Some(&e.key));
        let v = e.value.trim();
        let checked: Result<(), String> = match e.lower.as_str() {
            "email_notifier" => value::boolean(v).map(|b| on = b),
            "notification_email" => {
                smtp.to = v
                    .split(',')
                    .map(str::trim)
                    .filter(|a| !a.is_empty())
                    .map(str::to_string)
                    .collect();
                match smtp.to.iter().find(|a| !looks_like_address(a)) {
                    Some(a) => Err(format!(
                        "{a:?} is not an e-mail address; write name@example.org (several: comma-separated)"
                    )),
                    None => Ok(()),
                }
            }
            "smtp_user" => {
                smtp.user = v.to_string();
                Ok(())
            }
            // The value is never quoted back.
            "smtp_pass" => {
                smtp.pass = Secret(e.value.trim().to_string());
                Ok(())
            }
            "smtp_server" => {
                smtp.server = v.to_string();
                Ok(())
            }
            "smtp_port" => value::whole_number(v, 1).and_then(|p| {
                u16::try_from(p).map(|p| smtp.port = p).map_err(|_| {
                    format!("{p} is not a TCP port; write 465 (tls), 587 (starttls) or 25")
                })
            }),
            "max_cache_ignore" => value::whole_number(v, 0).map(|c| {
                n.max_cache_ignore = usize::try_from(c).unwrap_or(usize::MAX);
            }),
            "smtp_security" => parse_security(v).map(|x| smtp.security = x),
            "smtp_ca_cert" => {
                smtp.ca_cert = (!v.is_empty()).then(|| PathBuf::from(v));
                Ok(())
            }
            "webhook_url" if v.is_empty() => Ok(()),
            "webhook_url" => {
                if v.starts_with("http://") || v.starts_with("https://") {
                    n.webhook_url = Some(v.to_string());
                    Ok(())
                } else {
                    Err(format!(
                        "{v:?} is not an http(s) URL; write e.g. https://chat.example.org/hooks/outliers"
                    ))
                }
            }
            k => {
                let hint = match did_you_mean(k, &KEYS) {
                    Some(m) => format!("unknown key in [notifier]; did you mean {m}?"),
                    None => format!(
                        "unknown key in [notifier]; esoutliers reads {}",
                        KEYS.join(", ")
                    ),
                };
                diag.error(at.clone(), hint);
                Ok(())
            }
        };
        if let Err(m) = checked {
            diag.error(at, m);
        }
    }
    if on {
        let header = diag.at(s.line, Some(name), Some("email_notifier"));
        let mut missing = Vec::new();
        if smtp.server.is_empty() {
            missing.push("smtp_server");
        }
        // A written but invalid port has its own error already.
        if smtp.port == 0 && s.get("smtp_port").is_none_or(|e| e.value.trim().is_empty()) {
            missing.push("smtp_port");
        }
        if smtp.to.is_empty() {
            missing.push("notification_email");
        }
        if !missing.is_empty() {
            diag.error(
                header,
                format!(
                    "email_notifier=1 needs {}; set each, or write email_notifier=0",
                    missing.join(", ")
                ),
            );
        } else if smtp.user.is_empty() && !smtp.pass.0.is_empty() {
            diag.error(
                header,
                "smtp_pass is set but smtp_user is empty; set smtp_user to log in, or remove smtp_pass",
            );
        }
        n.email = Some(smtp);
    }
    n
}

/// `smtp_security`: `tls` (or `ssl`), `starttls`, `none` (or `plain`), any case.
fn parse_security(v: &str) -> Result<SmtpSecurity, String> {
    match v.to_lowercase().as_str() {
        "tls" | "ssl" => Ok(SmtpSecurity::Tls),
        "starttls" => Ok(SmtpSecurity::StartTls),
        "none" | "plain" => Ok(SmtpSecurity::None),
        _ => Err(format!(
            "{v:?} is not a connection security; write tls (implicit TLS, as ee-outliers), starttls or none"
        )),
    }
}

/// `local@domain` with no blank: enough to catch a swapped key; the mail server decides.
fn looks_like_address(a: &str) -> bool {
    match a.split_once('@') {
        Some((l, d)) => !l.is_empty() && !d.is_empty() && !a.contains(char::is_whitespace),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::scan;
    use super::*;

    fn notifier(text: &str) -> (Notifier, Result<Vec<super::super::Notice>, String>) {
        let mut d = Diagnostics::new(Path::new("t.conf"));
        let secs = scan::read(text, &mut d);
        let n = read(&mut d, secs.iter().find(|s| s.name == "notifier"));
        (n, d.finish().map_err(|e| e.to_string()))
    }

    #[test]
    fn ee_outliers_keys_give_an_implicit_tls_mailer_with_a_cache_of_1000() {
        let (n, r) = notifier(
            "[notifier]\nemail_notifier=1\nnotification_email=soc@example.org\nsmtp_user=bot@example.org\n\
             smtp_pass=hunter2\nsmtp_server=mail.example.org\nsmtp_port=465\n",
        );
        r.unwrap();
        let m = n.email.expect("email on");
        assert_eq!((m.server.as_str(), m.port), ("mail.example.org", 465));
        assert_eq!(m.security, SmtpSecurity::Tls);
        assert_eq!(m.to, vec!["soc@example.org"]);
        assert_eq!(m.pass.expose(), "hunter2");
        assert_eq!(n.max_cache_ignore, 1000);
        assert!(n.webhook_url.is_none());
    }

    #[test]
    fn email_notifier_0_with_a_webhook_sends_only_the_webhook() {
        let (n, r) = notifier(
            "[notifier]\nemail_notifier=0\nwebhook_url=http://127.0.0.1:9/hook\nmax_cache_ignore=5\n",
        );
        r.unwrap();
        assert!(n.email.is_none());
        assert_eq!(n.webhook_url.as_deref(), Some("http://127.0.0.1:9/hook"));
        assert_eq!(n.max_cache_ignore, 5);
        assert!(n.enabled());
    }

    #[test]
    fn missing_mail_keys_are_one_located_error_and_the_password_never_shows() {
        let (_, r) = notifier("[notifier]\nemail_notifier=1\nsmtp_pass=s3cr3t\nsmtp_port=99999\n");
        let e = r.unwrap_err();
        assert!(
            e.contains("t.conf:4: [notifier] smtp_port: 99999 is not a TCP port"),
            "{e}"
        );
        assert!(
            e.contains("t.conf:1: [notifier] email_notifier: email_notifier=1 needs smtp_server, notification_email; set each"),
            "{e}"
        );
        assert!(!e.contains("s3cr3t"), "{e}");
    }

    #[test]
    fn security_and_addresses_are_checked_with_what_would_be_right() {
        let (_, r) = notifier(
            "[notifier]\nsmtp_security=ssl3\nnotification_email=soc\nwebhook_url=chat/hook\nsmpt_server=x\n",
        );
        let e = r.unwrap_err();
        assert!(
            e.contains("smtp_security: \"ssl3\" is not a connection security; write tls"),
            "{e}"
        );
        assert!(
            e.contains("notification_email: \"soc\" is not an e-mail address"),
            "{e}"
        );
        assert!(
            e.contains("webhook_url: \"chat/hook\" is not an http(s) URL"),
            "{e}"
        );
        assert!(
            e.contains("smpt_server: unknown key in [notifier]; did you mean smtp_server?"),
            "{e}"
        );
    }

    #[test]
    fn starttls_and_plain_relays_without_login_are_accepted() {
        let (n, r) = notifier(
            "[notifier]\nemail_notifier=1\nnotification_email=a@x.org, b@x.org\nsmtp_user=\nsmtp_pass=\n\
             smtp_server=127.0.0.1\nsmtp_port=25\nsmtp_security=none\n",
        );
        r.unwrap();
        let m = n.email.unwrap();
        assert_eq!(m.security, SmtpSecurity::None);
        assert_eq!(m.to, vec!["a@x.org", "b@x.org"]);
        assert!(m.user.is_empty());
    }

    #[test]
    fn should_notify_without_a_channel_is_a_notice_on_the_use_case() {
        let text =
            "[general]\nes_index_pattern=x\ntimestamp_field=@timestamp\nhistory_window_days=1\n\
            [notifier]\nemail_notifier=0\n[simplequery_q]\nes_query_filter=a:b\noutlier_type=t\n\
            outlier_reason=r\noutlier_summary=s\nshould_notify=1\n";
        let c = super::super::parse(Path::new("t.conf"), text).unwrap();
        let n: Vec<String> = c
            .notices
            .iter()
            .map(|n| format!("{}: {}", n.location, n.message))
            .collect();
        assert!(
            n.iter().any(
                |x| x.starts_with("t.conf:7: [simplequery_q]") && x.contains("nothing is sent")
            ),
            "{n:?}"
        );
    }

    #[test]
    fn a_password_is_starred_in_debug_output() {
        let (n, _) = notifier(
            "[notifier]\nemail_notifier=1\nnotification_email=a@x.org\nsmtp_user=u@x.org\nsmtp_pass=p4ss\nsmtp_server=h\nsmtp_port=465\n",
        );
        let d = format!("{n:?}");
        assert!(d.contains("***") && !d.contains("p4ss"), "{d}");
    }
}
