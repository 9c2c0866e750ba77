//! The projector API as the CLI calls it: base URL, bearer token, tenant; answers read into
//! the API's own response types; a refusal carries the API's own message.

use serde::de::DeserializeOwned;
use std::time::Duration;
use thiserror::Error;

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("--api {0:?} is not a URL")]
    BadUrl(String),
    #[error("cannot reach the projector API at {base} (is `projector serve` running?): {source}")]
    Unreachable {
        base: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("reading the API's answer: {0}")]
    Read(#[source] reqwest::Error),
    /// The API answered with an error status: its `error.message`, else its body.
    #[error("the API refused: {status}: {message}")]
    Refused { status: reqwest::StatusCode, message: String },
    #[error("unexpected answer from the API: {0}")]
    Unexpected(#[source] serde_json::Error),
    #[error("building the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// One projector API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    pub base: String,
    pub token: Option<String>,
    /// On an API without tokens, the tenant to ask about (`default` there when None).
    pub tenant: Option<String>,
}

impl ApiClient {
    /// The query parameters every call carries (the tenant, when given).
    pub fn params(&self) -> Vec<(&'static str, String)> {
        self.tenant.iter().map(|t| ("tenant", t.clone())).collect()
    }

    /// GET or POST `path`, the answer read as `T`.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        params: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<T, ClientError> {
        let text = self.text(method, path, params, body).await?;
        serde_json::from_str(&text).map_err(ClientError::Unexpected)
    }

    /// The answer as text (CSV, say).
    pub async fn text(
        &self,
        method: reqwest::Method,
        path: &str,
        params: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<String, ClientError> {
        let mut url = reqwest::Url::parse(&self.base).map_err(|_| ClientError::BadUrl(self.base.clone()))?;
        url.set_path(path);
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in params {
                query.append_pair(k, v);
            }
        }
        let client = reqwest::Client::builder().timeout(CALL_TIMEOUT).build().map_err(ClientError::Client)?;
        let mut request = client.request(method, url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response =
            request.send().await.map_err(|source| ClientError::Unreachable { base: self.base.clone(), source })?;
        let status = response.status();
        let text = response.text().await.map_err(ClientError::Read)?;
        if !status.is_success() {
            let message = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                .unwrap_or(text);
            return Err(ClientError::Refused { status, message });
        }
        Ok(text)
    }
}
