//! HTTP for the API connectors: one reqwest client (rustls, verification
//! on, optional extra CA and client certificate), requests sent through the
//! one retry helper (`super::retry`: rate limit, retries within a time
//! budget honouring `Retry-After`, TLS failures not retried), and the
//! caller's credentials — none, a static
//! bearer token, or OAuth2 client credentials whose token is cached,
//! renewed shortly before it expires and once more when the API answers
//! 401. Errors name the URL with credentials and token-like query values
//! removed, and the status.

use std::future::Future;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::Mutex as StdMutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, FixedOffset};
use governor::{Quota, RateLimiter};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, ClientId, ClientSecret, EndpointNotSet, EndpointSet, RequestTokenError, Scope,
    TokenResponse, TokenUrl,
};
use reqwest::header;
use reqwest::{Method, StatusCode, Url};
use skolsync_model::{Secret, error_chain};

use super::retry::Sender;
use crate::error::{ConfigError, SourceError};
use crate::source::ReadProgress;

/// How long establishing a connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// A token is renewed this long before it expires (at most a fifth of its lifetime).
const RENEW_BEFORE_EXPIRY: Duration = Duration::from_secs(60);
/// Assumed lifetime of a token whose answer has no `expires_in`; a 401
/// renews it earlier if needed.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Largest certificate or key file read.
const MAX_PEM_BYTES: u64 = 1 << 20;
/// Largest answer of a token endpoint.
const MAX_TOKEN_ANSWER: u64 = 1 << 20;

/// TLS settings: an extra trusted root and an optional client certificate.
#[derive(Debug, Clone, Default)]
pub(crate) struct TlsSettings {
    /// Extra CA certificate (PEM) to trust besides the public roots.
    pub ca_cert: Option<(String, PathBuf)>,
    /// Client certificate and key (PEM) for mutual TLS.
    pub client_cert: Option<((String, PathBuf), (String, PathBuf))>,
}

/// How requests are authorised.
#[derive(Debug, Clone)]
pub(crate) enum AuthSettings {
    None,
    Bearer(Secret),
    OAuth2 {
        token_url: String,
        client_id: String,
        client_secret: Secret,
        scope: Option<String>,
        basic_auth: bool,
    },
}

/// Everything the HTTP layer needs.
#[derive(Debug, Clone)]
pub(crate) struct HttpSettings {
    pub auth: AuthSettings,
    pub tls: TlsSettings,
    pub requests_per_second: Option<u32>,
    pub max_retries: u32,
    /// How long one request is retried.
    pub retry_budget: Duration,
    pub timeout: Duration,
    /// Credentials may go over plain `http://` to any host.
    pub allow_insecure_http: bool,
}

/// A successful answer, read in full.
pub(crate) struct Answer {
    pub body: Vec<u8>,
    /// The server's clock (`Date` header), when it sent one.
    pub date: Option<DateTime<FixedOffset>>,
}

/// The HTTP client of one source.
pub(crate) struct HttpClient {
    http: reqwest::Client,
    sender: Sender,
    auth: Auth,
}

enum Auth {
    None,
    Bearer(Secret),
    OAuth2(Box<TokenSource>),
}

/// Reads a certificate or key file: a regular file only (a FIFO or device
/// would block or never end), checked before it is opened.
fn read_pem(field: &str, path: &PathBuf) -> Result<Vec<u8>, ConfigError> {
    let meta = std::fs::metadata(path).map_err(|source| ConfigError::File {
        field: field.to_string(),
        path: path.clone(),
        source,
    })?;
    if !meta.is_file() {
        return Err(ConfigError::invalid(
            field,
            format!(
                "{} is not a regular file (a folder, FIFO, socket or device); give a PEM file",
                path.display()
            ),
        ));
    }
    if meta.len() > MAX_PEM_BYTES {
        return Err(ConfigError::invalid(
            field,
            format!(
                "{} is {} bytes, too large for a PEM certificate or key",
                path.display(),
                meta.len()
            ),
        ));
    }
    std::fs::read(path).map_err(|source| ConfigError::File {
        field: field.to_string(),
        path: path.clone(),
        source,
    })
}

/// A reqwest client with rustls (ring), certificate verification on, the
/// public roots plus an optional extra CA, and an optional client identity.
fn build_reqwest(
    tls: &TlsSettings,
    timeout: Duration,
    redirects: bool,
) -> Result<reqwest::Client, ConfigError> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(concat!("skolsync/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(timeout)
        .redirect(if redirects {
            reqwest::redirect::Policy::limited(5)
        } else {
            // The OAuth2 crate asks for this: a redirected token request
            // could carry the client secret elsewhere.
            reqwest::redirect::Policy::none()
        });
    if let Some((field, path)) = &tls.ca_cert {
        let pem = read_pem(field, path)?;
        let certs =
            reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| ConfigError::Pem {
                field: field.clone(),
                path: path.clone(),
                message: err.to_string(),
            })?;
        if certs.is_empty() {
            return Err(ConfigError::Pem {
                field: field.clone(),
                path: path.clone(),
                message: "no certificate found".to_string(),
            });
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some(((cert_field, cert_path), (key_field, key_path))) = &tls.client_cert {
        let mut pem = read_pem(cert_field, cert_path)?;
        if !pem.ends_with(b"\n") {
            pem.push(b'\n');
        }
        pem.extend(read_pem(key_field, key_path)?);
        let identity = reqwest::Identity::from_pem(&pem).map_err(|err| ConfigError::Pem {
            field: format!("{cert_field}/{key_field}"),
            path: cert_path.clone(),
            message: err.to_string(),
        })?;
        builder = builder.identity(identity);
    }
    builder.build().map_err(|err| {
        ConfigError::invalid(
            "tls",
            format!("cannot set up the HTTPS client: {}", error_chain(&err)),
        )
    })
}

impl HttpClient {
    /// Builds the client; reads the certificate files.
    pub(crate) fn new(settings: &HttpSettings) -> Result<HttpClient, ConfigError> {
        let http = build_reqwest(&settings.tls, settings.timeout, true)?;
        let limiter = match settings.requests_per_second {
            None | Some(0) => None,
            Some(n) => {
                NonZeroU32::new(n).map(|n| Arc::new(RateLimiter::direct(Quota::per_second(n))))
            }
        };
        let auth = match &settings.auth {
            AuthSettings::None => Auth::None,
            AuthSettings::Bearer(token) => Auth::Bearer(token.clone()),
            AuthSettings::OAuth2 {
                token_url,
                client_id,
                client_secret,
                scope,
                basic_auth,
            } => {
                let url = TokenUrl::new(token_url.clone()).map_err(|err| {
                    ConfigError::invalid("token_url", format!("`{token_url}`: {err}"))
                })?;
                let client = BasicClient::new(ClientId::new(client_id.clone()))
                    .set_client_secret(ClientSecret::new(client_secret.expose().to_string()))
                    .set_token_uri(url)
                    .set_auth_type(if *basic_auth {
                        AuthType::BasicAuth
                    } else {
                        AuthType::RequestBody
                    });
                let scopes = scope
                    .iter()
                    .flat_map(|s| s.split_whitespace())
                    .map(str::to_string)
                    .collect();
                let shown_url = Url::parse(token_url)
                    .map(|u| redact(&u))
                    .unwrap_or_else(|_| token_url.clone());
                Auth::OAuth2(Box::new(TokenSource {
                    client,
                    http: build_reqwest(&settings.tls, settings.timeout, false)?,
                    shown_url,
                    scopes,
                    cached: tokio::sync::Mutex::new(None),
                }))
            }
        };
        Ok(HttpClient {
            http,
            sender: Sender {
                limiter,
                max_retries: settings.max_retries,
                budget: settings.retry_budget,
            },
            auth,
        })
    }

    /// GETs `url` (JSON), retrying what retrying can cure, renewing an
    /// OAuth2 token once on 401.
    /// `max_body`: the most bytes the answer may have.
    pub(crate) async fn get(
        &self,
        url: &Url,
        progress: Option<&Arc<ReadProgress>>,
        max_body: u64,
    ) -> Result<Answer, SourceError> {
        self.send(Method::GET, url, None, progress, max_body).await
    }

    /// Sends a request (with `body` as JSON, if any) the way [`HttpClient::get`]
    /// does: authorised, within the rate limit, retried, its answer read in
    /// full. Any 2xx is an [`Answer`]; any other status an error naming the
    /// method, the URL and the server's message.
    pub(crate) async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&serde_json::Value>,
        progress: Option<&Arc<ReadProgress>>,
        max_body: u64,
    ) -> Result<Answer, SourceError> {
        let shown = redact(url);
        let mut renewed = false;
        loop {
            let token = match &self.auth {
                Auth::None => None,
                Auth::Bearer(token) => Some(token.clone()),
                Auth::OAuth2(source) => Some(source.token(&self.sender, progress).await?),
            };
            let reply = self
                .sender
                .send(&method, &shown, progress, max_body, || {
                    let mut request = self
                        .http
                        .request(method.clone(), url.clone())
                        .header(header::ACCEPT, "application/json");
                    if let Some(body) = body {
                        request = request.json(body);
                    }
                    match &token {
                        Some(t) => request.bearer_auth(t.expose()),
                        None => request,
                    }
                })
                .await?;
            let status = reply.status;
            if status.is_success() {
                let date = reply
                    .headers
                    .get(header::DATE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| DateTime::parse_from_rfc2822(v).ok());
                return Ok(Answer {
                    body: reply.body,
                    date,
                });
            }
            if status == StatusCode::UNAUTHORIZED
                && let (Auth::OAuth2(source), Some(used), false) = (&self.auth, &token, renewed)
            {
                // The token was revoked or expired early: get a new one, once.
                tracing::debug!(url = %shown, "401 with a cached token; renewing it");
                source.invalidate(used).await;
                renewed = true;
                if let Some(p) = progress {
                    p.count_retry();
                }
                continue;
            }
            let message = server_message(&reply.body);
            return Err(match status {
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => SourceError::Auth {
                    url: shown,
                    status: Some(status.as_u16()),
                    message: match (&self.auth, renewed) {
                        (Auth::OAuth2(_), true) => format!(
                            "the API refused a freshly issued token ({message}); \
                             check that the client may read this API"
                        ),
                        (Auth::None, _) => {
                            format!("{message}; the API wants credentials, configure `auth`")
                        }
                        _ => format!("{message}; check the token or client credentials"),
                    },
                },
                _ => SourceError::Http {
                    method: method.to_string(),
                    url: shown,
                    status: status.as_u16(),
                    attempts: 1,
                    message,
                },
            });
        }
    }
}

/// The message of an error body: SS 12000's `{code, message}`, OAuth2's
/// `{error, error_description}`, or the start of the text.
pub(crate) fn server_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        code: Option<serde_json::Value>,
        message: Option<String>,
        error: Option<String>,
        error_description: Option<String>,
    }
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(body) {
        let parts: Vec<String> = [
            e.code.map(|c| match c {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
            e.message,
            e.error,
            e.error_description,
        ]
        .into_iter()
        .flatten()
        .collect();
        if !parts.is_empty() {
            return parts.join(": ");
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        "no message".to_string()
    } else {
        text.chars().take(200).collect()
    }
}

/// The URL as it may be shown: no user info, and the values of query
/// parameters that could be secrets (or are long opaque tokens) replaced.
pub(crate) fn redact(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    if shown.query().is_some() {
        let pairs: Vec<(String, String)> = shown
            .query_pairs()
            .map(|(k, v)| {
                let lower = k.to_ascii_lowercase();
                let hide = ["token", "secret", "password", "key", "code", "signature"]
                    .iter()
                    .any(|w| lower.contains(w));
                (
                    k.into_owned(),
                    if hide { "***".into() } else { v.into_owned() },
                )
            })
            .collect();
        shown.query_pairs_mut().clear().extend_pairs(pairs);
    }
    shown.to_string()
}

// ---------------------------------------------------------------------------
// OAuth2 client credentials.

type TokenClient =
    BasicClient<EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Fetches and caches the access token.
struct TokenSource {
    client: TokenClient,
    /// Without redirects (see [`build_reqwest`]).
    http: reqwest::Client,
    shown_url: String,
    scopes: Vec<String>,
    cached: tokio::sync::Mutex<Option<CachedToken>>,
}

struct CachedToken {
    token: Secret,
    renew_at: Instant,
}

impl TokenSource {
    /// The cached token, or a new one if there is none or it is about to expire.
    async fn token(
        &self,
        sender: &Sender,
        progress: Option<&Arc<ReadProgress>>,
    ) -> Result<Secret, SourceError> {
        // Held across the fetch, so concurrent readers wait for one fetch
        // instead of each asking for a token.
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref()
            && Instant::now() < c.renew_at
        {
            return Ok(c.token.clone());
        }
        let fresh = self.fetch(sender, progress).await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Forgets `used` if it is still the cached token (another reader may
    /// already have replaced it).
    async fn invalidate(&self, used: &Secret) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| &c.token == used) {
            *cached = None;
        }
    }

    async fn fetch(
        &self,
        sender: &Sender,
        progress: Option<&Arc<ReadProgress>>,
    ) -> Result<CachedToken, SourceError> {
        let last_status = Arc::new(StdMutex::new(None));
        let transport = Transport {
            http: self.http.clone(),
            sender: sender.clone(),
            shown_url: self.shown_url.clone(),
            progress: progress.cloned(),
            last_status: Arc::clone(&last_status),
        };
        let client = self.client.clone();
        let scopes = self.scopes.clone();
        let requested_at = Instant::now();
        // The oauth2 crate's future cannot be proven `Send` inside ours
        // (its client trait is generic over a lifetime), so it runs to
        // completion on a blocking thread, driven by this runtime.
        let runtime = tokio::runtime::Handle::current();
        let outcome = tokio::task::spawn_blocking(move || {
            runtime.block_on(async move {
                let mut request = client.exchange_client_credentials();
                for scope in scopes {
                    request = request.add_scope(Scope::new(scope));
                }
                request.request_async(&transport).await
            })
        })
        .await
        .map_err(|err| SourceError::Auth {
            url: self.shown_url.clone(),
            status: None,
            message: format!("the token request stopped unexpectedly: {err}"),
        })?;
        let status = || last_status.lock().ok().and_then(|s| *s);
        match outcome {
            Ok(answer) => {
                let lifetime = answer.expires_in().unwrap_or(DEFAULT_TOKEN_LIFETIME);
                let margin = RENEW_BEFORE_EXPIRY.min(lifetime / 5);
                tracing::debug!(url = %self.shown_url, ?lifetime, "got an access token");
                Ok(CachedToken {
                    token: Secret::new(answer.access_token().secret().clone()),
                    renew_at: requested_at + lifetime.saturating_sub(margin),
                })
            }
            Err(RequestTokenError::ServerResponse(err)) => {
                let hint = match err.error() {
                    BasicErrorResponseType::InvalidClient => {
                        "the client id or secret is wrong (invalid_client); check client_id and client_secret"
                            .to_string()
                    }
                    BasicErrorResponseType::InvalidScope => {
                        "the scope is not allowed for this client (invalid_scope); check `scope`"
                            .to_string()
                    }
                    BasicErrorResponseType::UnauthorizedClient => {
                        "the client may not use the client credentials grant (unauthorized_client)"
                            .to_string()
                    }
                    other => format!("the token endpoint refused the request ({})", other.as_ref()),
                };
                let description = err
                    .error_description()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default();
                Err(SourceError::Auth {
                    url: self.shown_url.clone(),
                    status: status(),
                    message: format!("{hint}{description}"),
                })
            }
            Err(RequestTokenError::Request(err)) => Err(err),
            Err(RequestTokenError::Parse(err, body)) => Err(SourceError::Auth {
                url: self.shown_url.clone(),
                status: status(),
                message: format!(
                    "the answer is not an OAuth2 token response ({err}): {}",
                    server_message(&body)
                ),
            }),
            Err(RequestTokenError::Other(message)) => Err(SourceError::Auth {
                url: self.shown_url.clone(),
                status: status(),
                message,
            }),
        }
    }
}

/// The OAuth2 crate's HTTP client: our retrying sender, remembering the
/// last status for error messages.
struct Transport {
    http: reqwest::Client,
    sender: Sender,
    shown_url: String,
    progress: Option<Arc<ReadProgress>>,
    last_status: Arc<StdMutex<Option<u16>>>,
}

type TransportFuture<'c> =
    Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, SourceError>> + Send + 'c>>;

impl<'c> oauth2::AsyncHttpClient<'c> for Transport {
    type Error = SourceError;
    type Future = TransportFuture<'c>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let shown = &self.shown_url;
            let (parts, body) = request.into_parts();
            let url = Url::parse(&parts.uri.to_string()).map_err(|err| SourceError::Protocol {
                url: shown.clone(),
                message: format!("invalid token URL: {err}"),
            })?;
            let reply = self
                .sender
                .send(
                    &parts.method,
                    shown,
                    self.progress.as_ref(),
                    MAX_TOKEN_ANSWER,
                    || {
                        self.http
                            .request(parts.method.clone(), url.clone())
                            .headers(parts.headers.clone())
                            .body(body.clone())
                    },
                )
                .await?;
            if let Ok(mut s) = self.last_status.lock() {
                *s = Some(reply.status.as_u16());
            }
            let mut response = oauth2::HttpResponse::new(reply.body);
            *response.status_mut() = reply.status;
            *response.headers_mut() = reply.headers;
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_shown_without_credentials_or_tokens() {
        let url = Url::parse(
            "https://user:pw@api.example/v2.0/persons?limit=5&pageToken=abc&access_token=s3cret",
        )
        .unwrap();
        let shown = redact(&url);
        assert!(!shown.contains("pw"), "{shown}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains("abc"), "{shown}");
        assert!(shown.contains("limit=5"), "{shown}");
    }

    #[test]
    fn server_messages_are_read_from_both_error_shapes() {
        assert_eq!(
            server_message(br#"{"code":"NotFound","message":"no such thing"}"#),
            "NotFound: no such thing"
        );
        assert_eq!(
            server_message(br#"{"error":"invalid_client"}"#),
            "invalid_client"
        );
        assert_eq!(server_message(b""), "no message");
    }
}
