//! Stage `execute`: the ONLY code that does network I/O. Sends the bodies `plan` and `tag`
//! built, pages composite aggregations with `after_key`, fetches candidate events, runs
//! and polls `_update_by_query` tasks, retries transient failures.
//!
//! Invariants: credentials are held in [`Credentials`] whose `Debug` is redacted and are
//! never formatted into errors or logs; partial search results (`_shards.failed > 0`,
//! `timed_out`) are errors, never counts.

pub mod explain;
pub mod meter;
pub mod policy;
pub mod retry;
pub mod throttle;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};
use thiserror::Error;

use crate::es::{
    AfterKey, CompositePage, ErrorBody, FieldCapsResponse, Hit, RootInfo, SearchResponse,
    TaskResponse, TaskStarted, UpdateByQueryResponse,
};
use crate::plan::PageRequest;
pub use policy::Policy;
use retry::{classify, Verdict};

/// A cluster error. Messages name the request and index, and carry Elasticsearch's own
/// `type: reason`; never a credential.
#[derive(Debug, Error)]
pub enum EsError {
    #[error("cannot reach the cluster at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the cluster at {url} refused the credentials (HTTP {status}); check ES_USER/ES_PASSWORD (or ES_PASSWORD_FILE) or ES_API_KEY (or ES_API_KEY_FILE)")]
    Auth { url: String, status: u16 },
    /// The TLS handshake failed; `message` names the URL and says what to do.
    #[error("cannot connect: {message}")]
    Tls { message: String },
    /// `GET /` answered, but not like Elasticsearch or OpenSearch.
    #[error(
        "{url} does not answer like Elasticsearch or OpenSearch to GET / ({what}); check ES_URL"
    )]
    NotElasticsearch { url: String, what: String },
    /// HTTP 403 (or a task ended by a security exception): the user is known but lacks a
    /// privilege. `indices` are the ones refused, when known.
    #[error("{request} on index {index} was refused: the user lacks the privilege for {action}{}; grant it (README, \"Secured clusters\"). The cluster said: {reason}", on_indices(.indices))]
    Forbidden {
        request: String,
        index: String,
        action: String,
        indices: Vec<String>,
        reason: String,
    },
    #[error("{request} on index {index} failed (HTTP {status}): {summary}")]
    Request {
        request: String,
        index: String,
        status: u16,
        summary: String,
    },
    #[error("{request} on index {index}: page of {page_size} buckets exceeds search.max_buckets")]
    TooManyBuckets {
        request: String,
        index: String,
        page_size: u32,
    },
    #[error("{request} on index {index} returned partial results ({failed} of {total} shards failed{timed_out}); counts would be wrong, so nothing is flagged")]
    Partial {
        request: String,
        index: String,
        failed: u64,
        total: u64,
        timed_out: &'static str,
    },
    #[error("{request} on index {index}: unexpected response: {reason}")]
    Decode {
        request: String,
        index: String,
        reason: String,
    },
    #[error("{request} on index {index}: {reason}")]
    Task {
        request: String,
        index: String,
        reason: String,
    },
    /// The mapping of the indices cannot serve the use case (missing or text field).
    #[error("index {index}: {reason}")]
    Mapping { index: String, reason: String },
    /// The count this use case shares with `use_case` (same counts, counted once) failed
    /// there.
    #[error("the count shared with use case {use_case} failed there: {reason}")]
    Shared { use_case: String, reason: String },
    /// SIGINT/SIGTERM arrived; the run stopped between two requests.
    #[error("stopped by a signal before {before}; every request already sent completed")]
    Interrupted { before: String },
}

impl EsError {
    /// True when the cluster could not be reached or refused the credentials (exit code 3).
    pub fn is_connection(&self) -> bool {
        matches!(
            self,
            EsError::Unreachable { .. }
                | EsError::Auth { .. }
                | EsError::Tls { .. }
                | EsError::NotElasticsearch { .. }
        )
    }
}

fn on_indices(indices: &[String]) -> String {
    match indices {
        [] => String::new(),
        [one] => format!(" on index {one}"),
        many => format!(" on indices {}", many.join(", ")),
    }
}

/// A 403 body (or a task's security exception) as [`EsError::Forbidden`].
fn forbidden(request: &str, index: &str, reason: String) -> EsError {
    EsError::Forbidden {
        request: request.into(),
        index: index.into(),
        action: explain::denied_action(&reason)
            .unwrap_or("this request")
            .to_string(),
        indices: explain::denied_indices_named(&reason),
        reason,
    }
}

/// How to authenticate. `Debug` never shows the secret.
#[derive(Clone, Default)]
pub enum Credentials {
    #[default]
    None,
    Basic {
        user: String,
        password: String,
    },
    ApiKey(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::None => write!(f, "none"),
            Credentials::Basic { .. } => write!(f, "basic(redacted)"),
            Credentials::ApiKey(_) => write!(f, "api-key(redacted)"),
        }
    }
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct ClusterOptions {
    /// Base URL without credentials, e.g. `http://127.0.0.1:9200`.
    pub url: String,
    pub credentials: Credentials,
    pub timeout: Duration,
    /// PEM file of an extra CA to trust; `None` uses the system roots.
    pub ca_cert: Option<std::path::PathBuf>,
    /// Skip TLS verification (`--insecure`).
    pub insecure: bool,
    /// Retries, waits and the run's cancellation token.
    pub policy: Policy,
}

impl ClusterOptions {
    pub fn new(url: impl Into<String>) -> Self {
        ClusterOptions {
            url: url.into(),
            credentials: Credentials::None,
            timeout: Duration::from_secs(300),
            ca_cert: None,
            insecure: false,
            policy: Policy::default(),
        }
    }
}

/// The I/O edge: everything the pipeline asks of a cluster. [`HttpCluster`] is the real
/// one; the unit tests of the orchestration drive an in-memory fake (`pipeline::fake`).
/// Every call may retry transient failures under [`Cluster::policy`].
#[allow(async_fn_in_trait)] // used generically, never as `dyn`, on one runtime
pub trait Cluster {
    /// The recovery policy and cancellation token of this run.
    fn policy(&self) -> &Policy;
    /// Requests, bytes and retries so far.
    fn traffic(&self) -> Traffic;
    /// `search.max_buckets` and `indices.query.bool.max_clause_count`.
    async fn limits(&self) -> Result<(Option<u32>, Option<usize>), EsError>;
    /// Waits up to `secs` for the primaries of `index`; false on a timeout or error.
    async fn wait_for_yellow(&self, index: &str, secs: u64) -> bool;
    /// The smallest `index.max_terms_count` over the indices of `index`.
    async fn max_terms_count(&self, index: &str) -> Result<Option<usize>, EsError>;
    async fn field_caps(
        &self,
        index: &str,
        fields: &[String],
    ) -> Result<FieldCapsResponse, EsError>;
    /// `GET <index>/_mapping/field/<field>` as returned (index -> mappings -> field).
    async fn field_mapping(&self, index: &str, field: &str) -> Result<Value, EsError>;
    /// The indices `pattern` matches, open or closed (hidden ones left out): name ->
    /// state as the cluster names it (`open`, `close`).
    async fn index_states(&self, pattern: &str) -> Result<BTreeMap<String, String>, EsError>;
    /// One composite page of `plan`; `Err(TooManyBuckets)` asks the caller to halve it.
    async fn composite_page(
        &self,
        plan: &dyn PageRequest,
        after: Option<&AfterKey>,
    ) -> Result<CompositePage, EsError>;
    /// A search whose answer is read whole (small aggregations); partial results are errors.
    async fn search(&self, index: &str, body: &Value, what: &str) -> Result<Value, EsError> {
        let params = [("allow_partial_search_results", "false".to_string())];
        self.search_with(index, body, &params, what).await
    }
    /// As [`Cluster::search`], with the URL parameters `params` (e.g. `filter_path`,
    /// `preference`) instead of only `allow_partial_search_results=false`.
    async fn search_with(
        &self,
        index: &str,
        body: &Value,
        params: &[(&'static str, String)],
        what: &str,
    ) -> Result<Value, EsError>;
    /// Every event matching `query`, passed to `each`.
    async fn scan(
        &self,
        index: &str,
        query: &Value,
        source: Option<&[String]>,
        what: &str,
        each: &mut dyn FnMut(Hit),
    ) -> Result<u64, EsError>;
    /// Every hit of a whole search `body` (e.g. with `highlight`), through a scroll.
    async fn scan_body(
        &self,
        index: &str,
        body: &Value,
        what: &str,
        each: &mut dyn FnMut(Hit),
    ) -> Result<u64, EsError>;
    /// One `_update_by_query` run as a task, polled to the end.
    async fn update_by_query(
        &self,
        index: &str,
        body: &Value,
        opts: &UpdateOptions,
        progress: &mut dyn FnMut(&crate::es::TaskStatus),
    ) -> Result<UpdateByQueryResponse, EsError>;
}

impl Cluster for HttpCluster {
    fn policy(&self) -> &Policy {
        &self.opts.policy
    }
    fn traffic(&self) -> Traffic {
        HttpCluster::traffic(self)
    }
    async fn limits(&self) -> Result<(Option<u32>, Option<usize>), EsError> {
        HttpCluster::limits(self).await
    }
    async fn wait_for_yellow(&self, index: &str, secs: u64) -> bool {
        HttpCluster::wait_for_yellow(self, index, secs).await
    }
    async fn max_terms_count(&self, index: &str) -> Result<Option<usize>, EsError> {
        HttpCluster::max_terms_count(self, index).await
    }
    async fn field_caps(
        &self,
        index: &str,
        fields: &[String],
    ) -> Result<FieldCapsResponse, EsError> {
        HttpCluster::field_caps(self, index, fields).await
    }
    async fn field_mapping(&self, index: &str, field: &str) -> Result<Value, EsError> {
        HttpCluster::field_mapping(self, index, field).await
    }
    async fn index_states(&self, pattern: &str) -> Result<BTreeMap<String, String>, EsError> {
        HttpCluster::index_states(self, pattern).await
    }
    async fn composite_page(
        &self,
        plan: &dyn PageRequest,
        after: Option<&AfterKey>,
    ) -> Result<CompositePage, EsError> {
        HttpCluster::composite_page(self, plan, after).await
    }
    async fn search_with(
        &self,
        index: &str,
        body: &Value,
        params: &[(&'static str, String)],
        what: &str,
    ) -> Result<Value, EsError> {
        HttpCluster::search_with(self, index, body, params, what).await
    }
    async fn scan(
        &self,
        index: &str,
        query: &Value,
        source: Option<&[String]>,
        what: &str,
        each: &mut dyn FnMut(Hit),
    ) -> Result<u64, EsError> {
        HttpCluster::scan(self, index, query, SCAN_SIZE, source, what, each).await
    }
    async fn scan_body(
        &self,
        index: &str,
        body: &Value,
        what: &str,
        each: &mut dyn FnMut(Hit),
    ) -> Result<u64, EsError> {
        HttpCluster::scan_body(self, index, body, what, each).await
    }
    async fn update_by_query(
        &self,
        index: &str,
        body: &Value,
        opts: &UpdateOptions,
        progress: &mut dyn FnMut(&crate::es::TaskStatus),
    ) -> Result<UpdateByQueryResponse, EsError> {
        HttpCluster::update_by_query(self, index, body, opts, progress).await
    }
}

/// Events per scroll page when fetching candidate events or checking tagged ones.
pub const SCAN_SIZE: u32 = 1000;

/// A connection to one cluster over HTTP, with counters for the report.
pub struct HttpCluster {
    client: reqwest::Client,
    opts: ClusterOptions,
    /// The run's bound on requests in flight, and the pause after back-pressure.
    throttle: throttle::Throttle,
    bytes_received: AtomicU64,
    requests: AtomicU64,
    retries: AtomicU64,
}

/// One HTTP answer.
struct Answer {
    status: u16,
    body: Vec<u8>,
    /// The `Content-Type` header; `None` when absent.
    content_type: Option<String>,
}

/// Counters since the cluster was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Traffic {
    pub requests: u64,
    pub bytes_received: u64,
    /// Requests sent again after a transient failure (429, 502-504, connection errors).
    pub retries: u64,
}

impl Traffic {
    pub fn since(self, before: Traffic) -> Traffic {
        Traffic {
            requests: self.requests - before.requests,
            bytes_received: self.bytes_received - before.bytes_received,
            retries: self.retries - before.retries,
        }
    }
}

/// Strips `user:password@` from a URL so it can be shown.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Err(_) => "(invalid URL)".to_string(),
    }
}

impl HttpCluster {
    /// Builds the client; credentials written into the URL are moved to `Credentials`.
    pub fn open(mut opts: ClusterOptions) -> Result<HttpCluster, EsError> {
        let shown = redact_url(&opts.url);
        let bad = |reason: String| EsError::Unreachable {
            url: shown.clone(),
            reason,
        };
        let mut url =
            reqwest::Url::parse(&opts.url).map_err(|e| bad(format!("invalid URL: {e}")))?;
        if !url.username().is_empty() {
            if matches!(opts.credentials, Credentials::None) {
                opts.credentials = Credentials::Basic {
                    user: url.username().to_string(),
                    password: url.password().unwrap_or_default().to_string(),
                };
            }
            let _ = url.set_username("");
            let _ = url.set_password(None);
        }
        opts.url = url.to_string().trim_end_matches('/').to_string();
        let mut b = reqwest::Client::builder()
            .timeout(opts.timeout)
            .connect_timeout(Duration::from_secs(10));
        if let Some(ca) = &opts.ca_cert {
            let pem = std::fs::read(ca)
                .map_err(|e| bad(format!("cannot read CA file {}: {e}", ca.display())))?;
            let cert = reqwest::Certificate::from_pem(&pem)
                .map_err(|e| bad(format!("CA file {}: {e}", ca.display())))?;
            b = b.add_root_certificate(cert);
        }
        if opts.insecure {
            b = b.danger_accept_invalid_certs(true);
        }
        let client = b.build().map_err(|e| bad(e.to_string()))?;
        Ok(HttpCluster {
            client,
            throttle: throttle::Throttle::new(opts.policy.max_concurrent),
            opts,
            bytes_received: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            retries: AtomicU64::new(0),
        })
    }

    /// The URL, without credentials.
    pub fn url(&self) -> &str {
        &self.opts.url
    }

    pub fn traffic(&self) -> Traffic {
        Traffic {
            requests: self.requests.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            retries: self.retries.load(Ordering::Relaxed),
        }
    }

    /// Sends one request with retries; returns the status and body of the last answer.
    /// `what` names the request in errors.
    async fn send(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        body: Option<&Value>,
        what: &str,
        index: &str,
    ) -> Result<(u16, Vec<u8>), EsError> {
        let a = self
            .send_full(method, path, params, body, what, index)
            .await?;
        Ok((a.status, a.body))
    }

    /// As [`HttpCluster::send`], with the answer's content type.
    async fn send_full(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        body: Option<&Value>,
        what: &str,
        index: &str,
    ) -> Result<Answer, EsError> {
        let url = format!("{}/{}", self.opts.url, path.trim_start_matches('/'));
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut req = self.client.request(method.clone(), &url).query(params);
            req = match &self.opts.credentials {
                Credentials::None => req,
                Credentials::Basic { user, password } => req.basic_auth(user, Some(password)),
                Credentials::ApiKey(k) => req.header("Authorization", format!("ApiKey {k}")),
            };
            if let Some(b) = body {
                req = req
                    .header("Content-Type", "application/json")
                    .body(serde_json::to_vec(b).unwrap_or_default());
            }
            let permit = self.throttle.acquire(&self.opts.policy).await;
            self.requests.fetch_add(1, Ordering::Relaxed);
            meter::count(|m| m.requests += 1);
            // A transport failure (connection refused or dropped, body cut off) is retried
            // like a 503: the request is sent again from the start.
            let result: Result<(Answer, Option<Duration>), reqwest::Error> = async {
                let resp = req.send().await?;
                let status = resp.status().as_u16();
                let header = |name: &str| {
                    resp.headers()
                        .get(name)
                        .and_then(|v| v.to_str().ok())
                        .map(|v| v.trim().to_string())
                };
                let retry_after = header("retry-after")
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_secs);
                let content_type = header("content-type");
                let body = resp.bytes().await?.to_vec();
                Ok((
                    Answer {
                        status,
                        body,
                        content_type,
                    },
                    retry_after,
                ))
            }
            .await;
            drop(permit);
            let (answer, retry_after) = match result {
                Ok(r) => {
                    self.bytes_received
                        .fetch_add(r.0.body.len() as u64, Ordering::Relaxed);
                    meter::count(|m| m.bytes_received += r.0.body.len() as u64);
                    r
                }
                Err(e) => {
                    let reason = reason_of(&e);
                    // A certificate does not become trusted by asking again.
                    if let Some(problem) = explain::tls_problem(&reason) {
                        return Err(EsError::Tls {
                            message: explain::tls_message(
                                &problem,
                                &self.opts.url,
                                self.opts.ca_cert.is_some(),
                            ),
                        });
                    }
                    if attempt >= self.opts.policy.max_attempts {
                        return Err(EsError::Unreachable {
                            url: self.opts.url.clone(),
                            reason,
                        });
                    }
                    tracing::warn!("{what} on {index}: {reason}; retrying (attempt {attempt})");
                    self.backoff(attempt, None, what, false).await?;
                    continue;
                }
            };
            match classify(answer.status, &answer.body) {
                Verdict::Retry if attempt < self.opts.policy.max_attempts => {
                    tracing::warn!(
                        "{what} on {index}: HTTP {}; retrying (attempt {attempt})",
                        answer.status
                    );
                    let pushed_back = answer.status == StatusCode::TOO_MANY_REQUESTS.as_u16();
                    self.backoff(attempt, retry_after, what, pushed_back)
                        .await?;
                }
                _ => return Ok(answer),
            }
        }
    }

    /// Counts a retry and waits before it (interrupted by a stop). `pushed_back` (a 429):
    /// every request of the run waits as long, and the bound on requests in flight is
    /// halved ([`throttle::Throttle::push_back`]).
    async fn backoff(
        &self,
        attempt: u32,
        retry_after: Option<Duration>,
        what: &str,
        pushed_back: bool,
    ) -> Result<(), EsError> {
        self.retries.fetch_add(1, Ordering::Relaxed);
        meter::count(|m| m.retries += 1);
        let p = &self.opts.policy;
        let wait = p.retry_wait(attempt, retry_after, rand::random::<f64>());
        if pushed_back {
            self.throttle.push_back(wait);
            tracing::warn!(
                "the cluster pushed back (HTTP 429): every request of the run waits {} ms; at most {} in flight from now on",
                wait.as_millis(),
                self.throttle.limit()
            );
        }
        p.sleep(wait, what).await
    }

    /// Sends and decodes a JSON answer, mapping failures to [`EsError`].
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        params: &[(&str, String)],
        body: Option<&Value>,
        what: &str,
        index: &str,
    ) -> Result<T, EsError> {
        let (status, bytes) = self.send(method, path, params, body, what, index).await?;
        self.decode(status, &bytes, what, index)
    }

    fn decode<T: DeserializeOwned>(
        &self,
        status: u16,
        bytes: &[u8],
        what: &str,
        index: &str,
    ) -> Result<T, EsError> {
        if status == StatusCode::UNAUTHORIZED.as_u16() {
            return Err(EsError::Auth {
                url: self.opts.url.clone(),
                status,
            });
        }
        if !(200..300).contains(&status) {
            let summary = match serde_json::from_slice::<ErrorBody>(bytes) {
                Ok(e) => e.error.summary(),
                Err(_) => String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
            };
            if status == StatusCode::FORBIDDEN.as_u16() {
                return Err(forbidden(what, index, summary));
            }
            return Err(EsError::Request {
                request: what.into(),
                index: index.into(),
                status,
                summary,
            });
        }
        serde_json::from_slice(bytes).map_err(|e| EsError::Decode {
            request: what.into(),
            index: index.into(),
            reason: e.to_string(),
        })
    }

    /// `GET /`: product and version.
    /// An answer that is not an Elasticsearch or OpenSearch root document (a web server,
    /// a proxy's error page) is [`EsError::NotElasticsearch`], naming its status, content
    /// type and first bytes.
    pub async fn info(&self) -> Result<RootInfo, EsError> {
        let what = "GET /";
        let a = self
            .send_full(Method::GET, "/", &[], None, what, "-")
            .await?;
        if a.status == StatusCode::UNAUTHORIZED.as_u16() {
            return Err(EsError::Auth {
                url: self.opts.url.clone(),
                status: a.status,
            });
        }
        if let Some(why) = explain::not_elasticsearch(a.status, a.content_type.as_deref(), &a.body)
        {
            // A 403 to GET / from a real cluster is a JSON security exception.
            if a.status == StatusCode::FORBIDDEN.as_u16()
                && serde_json::from_slice::<ErrorBody>(&a.body).is_ok()
            {
                return self.decode(a.status, &a.body, what, "-");
            }
            return Err(EsError::NotElasticsearch {
                url: self.opts.url.clone(),
                what: why,
            });
        }
        self.decode(a.status, &a.body, what, "-")
    }

    /// `search.max_buckets` and `indices.query.bool.max_clause_count` as the cluster has them.
    pub async fn limits(&self) -> Result<(Option<u32>, Option<usize>), EsError> {
        let v: Value = self
            .call(
                Method::GET,
                "/_cluster/settings",
                &[
                    ("include_defaults", "true".into()),
                    ("flat_settings", "true".into()),
                ],
                None,
                "read cluster settings",
                "-",
            )
            .await?;
        let find = |key: &str| -> Option<u64> {
            ["transient", "persistent", "defaults"]
                .iter()
                .find_map(|s| {
                    v.get(s)
                        .and_then(|m| m.get(key))
                        .and_then(|x| x.as_str())
                        .and_then(|x| x.parse().ok())
                })
        };
        let buckets = find("search.max_buckets").map(|b| b.min(u32::MAX as u64) as u32);
        let clauses = find("indices.query.bool.max_clause_count").map(|c| c as usize);
        Ok((buckets, clauses))
    }

    /// Waits up to `secs` seconds for every primary shard of `index` to be assigned
    /// (status yellow or green), e.g. after a node left. True when they are; false on a
    /// timeout or an error (logged: the caller's next request will tell what is wrong).
    pub async fn wait_for_yellow(&self, index: &str, secs: u64) -> bool {
        let path = format!("/_cluster/health/{}", enc(index));
        let params = [
            ("wait_for_status", "yellow".to_string()),
            ("timeout", format!("{secs}s")),
        ];
        match self
            .call::<Value>(
                Method::GET,
                &path,
                &params,
                None,
                "wait for the cluster to recover",
                index,
            )
            .await
        {
            Ok(v) => v.get("timed_out") != Some(&Value::Bool(true)),
            Err(e) => {
                tracing::warn!("{e}");
                false
            }
        }
    }

    /// The smallest `index.max_terms_count` over the indices of `index` (65,536 by default).
    pub async fn max_terms_count(&self, index: &str) -> Result<Option<usize>, EsError> {
        let path = format!("/{}/_settings", enc(index));
        let v: Value = self
            .call(
                Method::GET,
                &path,
                &[
                    ("include_defaults", "true".into()),
                    ("flat_settings", "true".into()),
                ],
                None,
                "read index settings",
                index,
            )
            .await?;
        let min = v
            .as_object()
            .into_iter()
            .flat_map(|m| m.values())
            .filter_map(|ix| {
                ["settings", "defaults"]
                    .iter()
                    .find_map(|k| ix.get(k).and_then(|s| s.get("index.max_terms_count")))
                    .and_then(|x| x.as_str())
                    .and_then(|x| x.parse::<usize>().ok())
            })
            .min();
        Ok(min)
    }

    /// `_field_caps` for `fields` over `index`.
    /// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/search-field-caps.html>
    pub async fn field_caps(
        &self,
        index: &str,
        fields: &[String],
    ) -> Result<FieldCapsResponse, EsError> {
        let path = format!("/{}/_field_caps", enc(index));
        self.call(
            Method::GET,
            &path,
            &crate::plan::field_caps_params(fields),
            None,
            "field capabilities",
            index,
        )
        .await
    }

    /// The mapping of one field over `index`.
    /// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/indices-get-field-mapping.html>
    pub async fn field_mapping(&self, index: &str, field: &str) -> Result<Value, EsError> {
        let path = format!("/{}/_mapping/field/{}", enc(index), enc(field));
        self.call(
            Method::GET,
            &path,
            &[
                ("ignore_unavailable", "true".into()),
                ("allow_no_indices", "true".into()),
            ],
            None,
            "field mapping",
            index,
        )
        .await
    }

    /// The indices `pattern` matches, open or closed, from the cluster state's metadata
    /// (privilege: cluster `monitor`; it needs none on the indices themselves).
    /// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/cluster-state.html>
    pub async fn index_states(&self, pattern: &str) -> Result<BTreeMap<String, String>, EsError> {
        let path = format!("/_cluster/state/metadata/{}", enc(pattern));
        let v: Value = self
            .call(
                Method::GET,
                &path,
                &crate::plan::index_states_params(),
                None,
                "list the indices of the pattern",
                pattern,
            )
            .await?;
        Ok(v["metadata"]["indices"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, m)| {
                let state = m["state"].as_str().unwrap_or("open").to_string();
                (name.clone(), state)
            })
            .collect())
    }

    /// One composite page. `Err(TooManyBuckets)` tells the caller to halve the page.
    pub async fn composite_page(
        &self,
        plan: &dyn PageRequest,
        after: Option<&AfterKey>,
    ) -> Result<CompositePage, EsError> {
        let what = format!("composite page of use case {}", plan.use_case());
        let index = plan.index();
        let path = format!("/{}/_search", enc(index));
        let body = plan.page_body(after);
        let (status, bytes) = self
            .send(
                Method::POST,
                &path,
                &plan.page_params(),
                Some(&body),
                &what,
                index,
            )
            .await?;
        if classify(status, &bytes) == Verdict::TooManyBuckets {
            return Err(EsError::TooManyBuckets {
                request: what,
                index: index.to_string(),
                page_size: plan.page_size(),
            });
        }
        let page: CompositePage = self.decode(status, &bytes, &what, index)?;
        check_complete(
            &what,
            index,
            page.shards.failed,
            page.shards.total,
            page.timed_out,
        )?;
        Ok(page)
    }

    /// One search whose whole answer is returned (aggregations without paging, e.g. a
    /// `filters` aggregation over findings), with the URL parameters `params`, which should hold
    /// `allow_partial_search_results=false` (partial results are errors either way).
    pub async fn search_with(
        &self,
        index: &str,
        body: &Value,
        params: &[(&'static str, String)],
        what: &str,
    ) -> Result<Value, EsError> {
        let path = format!("/{}/_search", enc(index));
        let v: Value = self
            .call(Method::POST, &path, params, Some(body), what, index)
            .await?;
        let failed = v["_shards"]["failed"].as_u64().unwrap_or(0);
        let total = v["_shards"]["total"].as_u64().unwrap_or(0);
        check_complete(
            what,
            index,
            failed,
            total,
            v["timed_out"].as_bool().unwrap_or(false),
        )?;
        Ok(v)
    }

    /// All events matching `query` (scroll in `_doc` order, `size` per page), each passed
    /// to `each`. Used only for the events of candidate outlier pairs, never a whole window.
    /// `source`: the `_source` fields to return; `None` returns whole events.
    pub async fn scan(
        &self,
        index: &str,
        query: &Value,
        size: u32,
        source: Option<&[String]>,
        what: &str,
        each: &mut dyn FnMut(Hit),
    ) -> Result<u64, EsError> {
        let body = crate::plan::scan_body(query, size, source);
        self.scan_body(index, &body, what, each).await
    }

    /// Every hit of a search `body` (which sets `size`, `sort` and what to return), through
    /// a scroll.
    pub async fn scan_body(
        &self,
        index: &str,
        body: &Value,
        what: &str,
        each: &mut dyn FnMut(Hit),
    ) -> Result<u64, EsError> {
        let path = format!("/{}/_search", enc(index));
        let mut resp: SearchResponse = self
            .call(
                Method::POST,
                &path,
                &crate::plan::scan_params(),
                Some(body),
                what,
                index,
            )
            .await?;
        let mut n = 0u64;
        let mut scroll_id: Option<String> = None;
        loop {
            check_complete(
                what,
                index,
                resp.shards.failed,
                resp.shards.total,
                resp.timed_out,
            )?;
            if resp.hits.hits.is_empty() {
                break;
            }
            n += resp.hits.hits.len() as u64;
            for h in resp.hits.hits.drain(..) {
                each(h);
            }
            let id = resp_scroll_id(&resp).or(scroll_id.clone());
            let Some(id) = id else { break };
            scroll_id = Some(id.clone());
            resp = self
                .call(
                    Method::POST,
                    "/_search/scroll",
                    &[],
                    Some(&json!({ "scroll": "2m", "scroll_id": id })),
                    what,
                    index,
                )
                .await?;
        }
        if let Some(id) = scroll_id {
            let _ = self
                .send(
                    Method::DELETE,
                    "/_search/scroll",
                    &[],
                    Some(&json!({ "scroll_id": id })),
                    what,
                    index,
                )
                .await;
        }
        Ok(n)
    }

    /// Runs one `_update_by_query` as a task and polls it to the end; `progress` sees the
    /// task's status at every poll.
    /// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/docs-update-by-query.html>
    pub async fn update_by_query(
        &self,
        index: &str,
        body: &Value,
        opts: &UpdateOptions,
        progress: &mut dyn FnMut(&crate::es::TaskStatus),
    ) -> Result<UpdateByQueryResponse, EsError> {
        let what = "tag events (_update_by_query)";
        let path = format!("/{}/_update_by_query", enc(index));
        let params = opts.params();
        // A node restart loses the task (GET _tasks answers 404) and makes the node
        // unreachable for a while; a node leaving can end the task with a transient error
        // (its scroll went with the node). Tagging is idempotent, so a lost task or one
        // ended by a transient error is submitted again (at most
        // `policy.task_resubmits` times), and polling waits out an unreachable node for up
        // to `policy.outage`.
        let policy = &self.opts.policy;
        let mut resubmits = 0;
        // Events updated by tasks that were lost or ended early, as last polled: the task
        // submitted again finds them tagged and counts them as noops.
        let mut carried_updated = 0u64;
        let mut last_updated = 0u64;
        'submit: loop {
            carried_updated += std::mem::take(&mut last_updated);
            let started: TaskStarted = self
                .call(Method::POST, &path, &params, Some(body), what, index)
                .await?;
            let task_path = format!("/_tasks/{}", enc(&started.task));
            let mut wait = Duration::from_millis(100);
            let mut unreachable_since: Option<std::time::Instant> = None;
            loop {
                let t: TaskResponse = match self
                    .call(Method::GET, &task_path, &[], None, what, index)
                    .await
                {
                    Ok(t) => t,
                    Err(EsError::Request { status: 404, .. })
                        if resubmits < policy.task_resubmits =>
                    {
                        resubmits += 1;
                        tracing::warn!("{what} on {index}: task {} is gone (node restarted?); submitting it again", started.task);
                        policy.sleep(Duration::from_secs(1), what).await?;
                        continue 'submit;
                    }
                    Err(e @ EsError::Unreachable { .. }) => {
                        let since = *unreachable_since.get_or_insert_with(std::time::Instant::now);
                        if since.elapsed() > policy.outage {
                            return Err(e);
                        }
                        tracing::warn!(
                            "{what} on {index}: {e}; still waiting for task {}",
                            started.task
                        );
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                unreachable_since = None;
                if let Some(s) = t.task.as_ref().and_then(|t| t.status.as_ref()) {
                    last_updated = s.updated;
                    progress(s);
                }
                if t.completed {
                    if let Some(e) = t.error {
                        if e.is_transient() && resubmits < policy.task_resubmits {
                            resubmits += 1;
                            tracing::warn!(
                                "{what} on {index}: the task ended with a transient failure ({}); waiting for the cluster, then submitting it again",
                                e.summary()
                            );
                            policy.sleep(Duration::from_secs(2), what).await?;
                            self.wait_for_yellow(index, policy.recovery_wait_secs).await;
                            continue 'submit;
                        }
                        // A user without write privilege: the task was accepted, then
                        // refused before its first batch was written.
                        if e.has_type("security_exception") {
                            return Err(forbidden(what, index, e.summary()));
                        }
                        return Err(EsError::Task {
                            request: what.into(),
                            index: index.into(),
                            reason: e.summary(),
                        });
                    }
                    let mut response = t.response.unwrap_or_default();
                    response.resubmits = u64::from(resubmits);
                    let carried = carried_updated.min(response.noops);
                    response.updated += carried;
                    response.noops -= carried;
                    return Ok(response);
                }
                // Not interrupted by a stop: a task that was sent is polled to its end, so
                // a signal never leaves one request's events half tagged.
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// `_update_by_query` knobs.
#[derive(Debug, Clone)]
pub struct UpdateOptions {
    /// `slices`: `auto` or a number.
    pub slices: String,
    /// `requests_per_second` throttle; `None` = unthrottled.
    pub requests_per_second: Option<f64>,
    pub scroll_size: u32,
    pub refresh: bool,
}

impl UpdateOptions {
    /// The URL parameters of every `_update_by_query` (also printed by `plan`): a task
    /// (`wait_for_completion=false`), conflicts counted not fatal, sliced, refreshed.
    /// <https://www.elastic.co/guide/en/elasticsearch/reference/7.10/docs-update-by-query.html>
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut params = vec![
            ("wait_for_completion", "false".to_string()),
            ("conflicts", "proceed".to_string()),
            ("slices", self.slices.clone()),
            ("refresh", self.refresh.to_string()),
            ("scroll_size", self.scroll_size.to_string()),
        ];
        if let Some(rps) = self.requests_per_second {
            params.push(("requests_per_second", rps.to_string()));
        }
        params
    }
}

impl Default for UpdateOptions {
    fn default() -> Self {
        UpdateOptions {
            slices: "auto".into(),
            requests_per_second: None,
            scroll_size: 1000,
            refresh: true,
        }
    }
}

fn resp_scroll_id(resp: &SearchResponse) -> Option<String> {
    resp.scroll_id.clone()
}

fn check_complete(
    what: &str,
    index: &str,
    failed: u64,
    total: u64,
    timed_out: bool,
) -> Result<(), EsError> {
    if failed > 0 || timed_out {
        return Err(EsError::Partial {
            request: what.into(),
            index: index.into(),
            failed,
            total,
            timed_out: if timed_out { ", timed out" } else { "" },
        });
    }
    Ok(())
}

/// Percent-encodes a path segment: every byte but ASCII letters, digits and
/// `-_.~+` is encoded, except `*` and `,`, which index patterns hold and Elasticsearch
/// reads in the path.
fn enc(s: &str) -> String {
    const KEEP_IN_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'*')
        .remove(b',')
        .remove(b'~')
        .remove(b'+');
    percent_encoding::utf8_percent_encode(s, KEEP_IN_SEGMENT).to_string()
}

/// A transport error's reason. The URL in it never carries credentials: `open` moved
/// them out of the URL before any request was built.
fn reason_of(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}
