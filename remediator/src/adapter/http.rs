//! The HTTP transport of the Graph and Gmail adapters: reqwest over rustls (the system's
//! root certificates), a bearer token per sign-in, cached until shortly before it expires.
//! A 401 fetches a new token and tries once more; 429 and 503 become temporary failures
//! that wait at least the `Retry-After` the service asked for; other answers go back to
//! the adapter, which maps them (403 and 404 permanent, with the service's reason).

use super::signin::{AccessToken, MicrosoftApp, ServiceAccount, token_answer};
use super::{AdapterError, HttpTransport, Request};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

/// How long one HTTP request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// A token is not used in its last minutes: a request must not outlive it.
const TOKEN_MARGIN: Duration = Duration::from_secs(300);
/// Longest answer body kept in an error message.
const DETAIL_LIMIT: usize = 300;

/// Who the transport signs in as.
// One per tenant, made at start: the size of a variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum SignIn {
    /// One app token for every mailbox of the tenant.
    Microsoft(MicrosoftApp),
    /// One token per mailbox: the service account acts as each user (`sub`).
    Google(ServiceAccount),
}

struct Cached {
    token: String,
    good_until: Instant,
}

/// An [`HttpTransport`] that signs in and sends requests over HTTPS.
pub struct ApiClient {
    http: reqwest::Client,
    sign_in: SignIn,
    tokens: Mutex<HashMap<String, Cached>>,
}

impl ApiClient {
    pub fn new(sign_in: SignIn) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("postern-remediator/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(ApiClient { http, sign_in, tokens: Mutex::new(HashMap::new()) })
    }

    fn cache_key<'a>(&self, mailbox: &'a str) -> &'a str {
        match self.sign_in {
            SignIn::Microsoft(_) => "",
            SignIn::Google(_) => mailbox,
        }
    }

    /// A token for `mailbox`: the cached one, or a new one when there is none, it is near
    /// its end, or `renew` (the service refused it).
    async fn token(&self, mailbox: &str, renew: bool) -> Result<String, AdapterError> {
        let key = self.cache_key(mailbox);
        if !renew {
            let cached = self.tokens.lock().expect("token cache lock");
            if let Some(c) = cached.get(key).filter(|c| c.good_until > Instant::now()) {
                return Ok(c.token.clone());
            }
        }
        let fetched = self.fetch_token(mailbox).await?;
        let margin = TOKEN_MARGIN.min(fetched.expires_in / 2);
        let good_until = Instant::now() + fetched.expires_in - margin;
        tracing::debug!(mailbox = key, expires_in = ?fetched.expires_in, "signed in");
        self.tokens
            .lock()
            .expect("token cache lock")
            .insert(key.to_owned(), Cached { token: fetched.token.clone(), good_until });
        Ok(fetched.token)
    }

    async fn fetch_token(&self, mailbox: &str) -> Result<AccessToken, AdapterError> {
        let (url, form) = match &self.sign_in {
            SignIn::Microsoft(app) => (&app.token_url, app.token_form(SystemTime::now())?),
            SignIn::Google(account) => (&account.token_uri, account.token_form(mailbox, SystemTime::now())?),
        };
        let response = self
            .http
            .post(url)
            .form(&form)
            .send()
            .await
            .map_err(|e| AdapterError::Temporary(format!("sign-in at {url}: {}", e.without_url())))?;
        let status = response.status().as_u16();
        let body = read_body(response).await;
        token_answer(status, &body)
    }
}

/// The answer's JSON (null when empty; the text, shortened, when it is not JSON).
async fn read_body(response: reqwest::Response) -> serde_json::Value {
    let text = response.text().await.unwrap_or_default();
    if text.trim().is_empty() {
        return serde_json::Value::Null;
    }
    serde_json::from_str(&text).unwrap_or_else(|_| serde_json::Value::String(text.chars().take(DETAIL_LIMIT).collect()))
}

/// `Retry-After` in seconds or as an HTTP date, from now.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or_default())
}

impl HttpTransport for ApiClient {
    async fn send(&self, mailbox: &str, request: &Request) -> Result<(u16, serde_json::Value), AdapterError> {
        let what = format!("{} {}", request.method, request.url);
        for renew in [false, true] {
            let token = self.token(mailbox, renew).await?;
            let method = reqwest::Method::from_bytes(request.method.as_bytes())
                .map_err(|_| AdapterError::Permanent(format!("{what}: not an HTTP method")))?;
            let mut builder = self.http.request(method, &request.url).bearer_auth(&token);
            builder = match &request.body {
                Some(body) => builder.json(body),
                // Graph's actions without parameters still take a POST with a length.
                None if request.method == "POST" => builder.header(reqwest::header::CONTENT_LENGTH, "0"),
                None => builder,
            };
            let response =
                builder.send().await.map_err(|e| AdapterError::Temporary(format!("{what}: {}", e.without_url())))?;
            let status = response.status().as_u16();
            let wait = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| retry_after(v, SystemTime::now()));
            let body = read_body(response).await;
            match status {
                401 if !renew => {
                    tracing::info!(mailbox, "the access token was refused; signing in again");
                    continue;
                }
                401 => {
                    return Err(AdapterError::Permanent(format!(
                        "{what}: HTTP 401 with a new token: {}",
                        service_message(&body)
                    )));
                }
                429 | 503 => {
                    let detail = format!("{what}: HTTP {status}: {}", service_message(&body));
                    return Err(match wait {
                        Some(after) => AdapterError::RetryAfter { after, detail },
                        None => AdapterError::Temporary(detail),
                    });
                }
                _ => return Ok((status, body)),
            }
        }
        unreachable!("the loop returns on its second pass")
    }
}

/// The reason a Graph or Gmail error answer gives (`error.message`), else its text.
pub fn service_message(body: &serde_json::Value) -> String {
    body["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .or_else(|| body.as_str().map(str::to_owned))
        .unwrap_or_default()
        .chars()
        .take(DETAIL_LIMIT)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2026 07:28:00 GMT").unwrap();
        assert_eq!(retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("Wed, 21 Oct 2026 07:28:30 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("Wed, 21 Oct 2026 07:27:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(retry_after("soon", now), None);
    }

    #[test]
    fn the_service_reason_is_kept_short() {
        assert_eq!(
            service_message(
                &serde_json::json!({"error": {"code": "ErrorAccessDenied", "message": "Access is denied."}})
            ),
            "Access is denied."
        );
        assert_eq!(service_message(&serde_json::Value::String("x".repeat(1000))).len(), DETAIL_LIMIT);
    }
}
