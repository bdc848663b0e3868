//! Stage `notify`, I/O part: delivers a [`Mail`] over SMTP (lettre, rustls) and the
//! webhook's JSON over HTTP (reqwest). Talks to the mail server and the webhook only,
//! never to the cluster; waits go through the run's [`Policy`] (a signal ends them).
//!
//! Retries: a transient answer (a 4xx SMTP reply, a dropped connection, HTTP 429 or 5xx)
//! is tried again after `Policy::retry_wait`, up to `Policy::max_attempts` times for
//! the webhook and at most 3 times for a mail; anything else fails at once.
//!
//! Invariant: errors name the server and what went wrong, never the password (lettre's
//! errors do not carry the credentials; ours are built without them).

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::Mail;
use crate::config::{Smtp, SmtpSecurity};
use crate::execute::Policy;

/// Why a notification was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("e-mail to {server}:{port}: {reason}")]
    Mail {
        server: String,
        port: u16,
        reason: String,
    },
    #[error("webhook {url}: {reason}")]
    Webhook { url: String, reason: String },
}

/// Sends `mail` to every recipient of `smtp`.
pub async fn mail(smtp: &Smtp, mail: &Mail, policy: &Policy) -> Result<(), NotifyError> {
    let err = |reason: String| NotifyError::Mail {
        server: smtp.server.clone(),
        port: smtp.port,
        reason,
    };
    let transport = transport(smtp).map_err(err)?;
    let from = if smtp.user.contains('@') {
        smtp.user.as_str()
    } else {
        smtp.to[0].as_str()
    };
    let mut b = Message::builder()
        .from(
            from.parse()
                .map_err(|e| err(format!("sender {from:?}: {e}")))?,
        )
        .subject(mail.subject.clone())
        .header(ContentType::TEXT_PLAIN);
    for to in &smtp.to {
        b = b.to(to
            .parse()
            .map_err(|e| err(format!("recipient {to:?}: {e}")))?);
    }
    let msg = b.body(mail.body.clone()).map_err(|e| err(e.to_string()))?;
    let attempts = policy.max_attempts.clamp(1, 3);
    for attempt in 1..=attempts {
        match transport.send(msg.clone()).await {
            Ok(_) => return Ok(()),
            Err(e) if attempt < attempts && (e.is_transient() || e.is_timeout()) => {
                tracing::warn!("e-mail to {}:{}: {e}; trying again", smtp.server, smtp.port);
                policy
                    .sleep(
                        policy.retry_wait(attempt, None, rand::random()),
                        "sending an e-mail",
                    )
                    .await
                    .map_err(|e| err(e.to_string()))?;
            }
            Err(e) => return Err(err(e.to_string())),
        }
    }
    unreachable!("the last attempt returns")
}

fn transport(smtp: &Smtp) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let tls = match smtp.security {
        SmtpSecurity::None => Tls::None,
        s => {
            let mut p = TlsParameters::builder(smtp.server.clone());
            if let Some(path) = &smtp.ca_cert {
                let pem = std::fs::read(path)
                    .map_err(|e| format!("smtp_ca_cert {}: {e}", path.display()))?;
                let cert = Certificate::from_pem(&pem)
                    .map_err(|e| format!("smtp_ca_cert {}: {e}", path.display()))?;
                p = p.add_root_certificate(cert);
            }
            let p = p.build_rustls().map_err(|e| e.to_string())?;
            if s == SmtpSecurity::Tls {
                Tls::Wrapper(p)
            } else {
                Tls::Required(p)
            }
        }
    };
    let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(smtp.server.clone())
        .port(smtp.port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(30)));
    if !smtp.user.is_empty() {
        b = b.credentials(Credentials::new(
            smtp.user.clone(),
            smtp.pass.expose().to_string(),
        ));
    }
    Ok(b.build())
}

/// The scheme, host and port of a webhook URL: chat webhooks carry their secret in the
/// path or the query, so only the origin is ever shown.
pub fn shown_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!("{}/…", u.origin().ascii_serialization()),
        Err(_) => "(invalid URL)".into(),
    }
}

/// POSTs `body` to `url`; a 2xx answer is delivered.
pub async fn webhook(
    url: &str,
    body: &serde_json::Value,
    policy: &Policy,
) -> Result<(), NotifyError> {
    let shown = shown_url(url);
    let err = |reason: String| NotifyError::Webhook {
        url: shown.clone(),
        reason,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| err(e.to_string()))?;
    let attempts = policy.max_attempts.max(1);
    for attempt in 1..=attempts {
        let (retry, reason) = match client.post(url).json(body).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let s = r.status();
                (
                    s.as_u16() == 429 || s.is_server_error(),
                    format!("answered {s}"),
                )
            }
            Err(e) => (e.is_connect() || e.is_timeout(), e.to_string()),
        };
        if !retry || attempt == attempts {
            return Err(err(reason));
        }
        tracing::warn!("webhook {shown}: {reason}; trying again");
        policy
            .sleep(
                policy.retry_wait(attempt, None, rand::random()),
                "posting to the webhook",
            )
            .await
            .map_err(|e| err(e.to_string()))?;
    }
    unreachable!("the last attempt returns")
}
