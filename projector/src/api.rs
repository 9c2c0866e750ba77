//! The HTTP JSON API under `/api/v1/`. Errors are JSON: `{"error": {"code", "message"}}`.
//!
//! Authentication: with tokens configured, every request but `/health` needs
//! `Authorization: Bearer <token>`, or the console's session cookie (which stands for the
//! token it signed in with; a write with it also needs the session's CSRF token, see
//! [`crate::console`]); the token decides the tenant, and another tenant's ids are simply
//! not found (404). Without tokens (a local install) the API is open and
//! takes `tenant=` (default `default`).

use crate::config::{Role, TokenEntry};
use crate::query::{self, SearchQuery, Trace};
use crate::store::schema::search::Field;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use proto::subject::{STREAM_EVENTS, STREAM_RAW};
use proto::{Disposition, PosternId, TenantId, Timestamp};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    /// The views (closed for a moment while the fold reopens them after a failed write).
    pub store: Arc<crate::views::SharedStore>,
    /// JetStream, for raw messages and publishing reclassifications (None: read-only).
    pub js: Option<async_nats::jetstream::Context>,
    pub tokens: Arc<Vec<TokenEntry>>,
    /// How fast each token may ask.
    pub limiter: Arc<crate::rate_limit::RateLimiter>,
    /// Whether the fold keeps the views current (health answers 503 when it does not).
    pub fold: Arc<crate::FoldState>,
    /// The tenants this projector holds (None: all).
    pub shard: Option<crate::shard::Shard>,
    /// Set when serving views that are not folded (`projector serve --db`).
    pub read_only: Option<ReadOnly>,
    /// What the reactor published for recent decisions, for the write answers.
    pub reactions: Arc<crate::reactor::Reports>,
    /// The metrics `/metrics` serves, and the API's own.
    pub registry: prometheus::Registry,
    pub metrics: Arc<crate::metrics::ProjectorMetrics>,
    /// Whether the projector can do its work now (`/ready`).
    pub ready: runtime::ops::ReadyCheck,
    /// The console's signed-in browsers.
    pub sessions: Arc<crate::console::Sessions>,
}

/// Views served without folding.
#[derive(Debug, Clone, Copy)]
pub struct ReadOnly {
    /// The time an as-of rebuild stops at (ms since the epoch), if it is one.
    pub as_of: Option<u64>,
}

/// The header on every answer of a read-only projector: the views' as-of time, or `none`
/// for views rebuilt without one.
pub const HEADER_AS_OF: &str = "Postern-As-Of";

pub fn router(state: AppState) -> Router {
    let read_only = state.read_only;
    let ops = runtime::ops::routes(state.registry.clone(), state.ready.clone());
    let router = routes(state.clone()).merge(crate::console::routes(state)).merge(ops);
    match read_only {
        None => router,
        Some(ReadOnly { as_of }) => {
            let value = as_of.map_or_else(|| "none".to_owned(), |t| Timestamp(t).to_rfc3339());
            let value = HeaderValue::from_str(&value).unwrap_or(HeaderValue::from_static("none"));
            router.layer(axum::middleware::map_response(move |mut response: Response| {
                let value = value.clone();
                async move {
                    response.headers_mut().insert(HEADER_AS_OF, value);
                    response
                }
            }))
        }
    }
}

/// Who may call a route: anyone (`/health`), or a token of at least this role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    AtLeast(Role),
}

/// Every route the API serves, with the least role that may call it. The router refuses a
/// route that is not listed here (403: fail closed), so a route added without its entry is
/// noticed the day it is added; `tests/tests/api_roles.rs` walks this list with every kind of
/// caller. Accepting or rejecting a reclassification needs `admin` besides (checked by its
/// handler: withdrawing needs only `analyst`).
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/api/v1/health", Access::Public),
    ("GET", "/api/v1/messages", Access::AtLeast(Role::Viewer)),
    ("GET", "/api/v1/messages/{postern_id}", Access::AtLeast(Role::Viewer)),
    ("GET", "/api/v1/messages/{postern_id}/raw", Access::AtLeast(Role::Analyst)),
    ("POST", "/api/v1/messages/{postern_id}/release", Access::AtLeast(Role::Admin)),
    ("GET", "/api/v1/search", Access::AtLeast(Role::Viewer)),
    ("GET", "/api/v1/reports/daily", Access::AtLeast(Role::Viewer)),
    ("GET", "/api/v1/reclassifications", Access::AtLeast(Role::Viewer)),
    ("POST", "/api/v1/reclassifications", Access::AtLeast(Role::Analyst)),
    ("POST", "/api/v1/reclassifications/{submission_id}/resolve", Access::AtLeast(Role::Analyst)),
    ("GET", "/api/v1/audit", Access::AtLeast(Role::Admin)),
    ("GET", "/api/v1/policy", Access::AtLeast(Role::Analyst)),
    ("GET", "/api/v1/submissions", Access::AtLeast(Role::Viewer)),
    ("GET", "/api/v1/submissions/{submission_id}/raw", Access::AtLeast(Role::Analyst)),
    // The operators' endpoints (`runtime::ops`, merged beside the API): counts and states,
    // nothing of any tenant's.
    ("GET", "/metrics", Access::Public),
    ("GET", "/health", Access::Public),
    ("GET", "/ready", Access::Public),
];

/// The access a matched route has in [`ROUTES`]; None for one that is not listed.
pub fn access_of(method: &str, route: &str) -> Option<Access> {
    ROUTES.iter().find(|(m, r, _)| *m == method && *r == route).map(|(_, _, access)| *access)
}

/// Runs after routing: the caller of a listed route is identified (once; the handler reads
/// it from the request) and refused below the route's role; an unlisted route is refused.
async fn authorize(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_owned());
    let access = route.as_deref().and_then(|r| access_of(request.method().as_str(), r));
    let needed = match access {
        Some(Access::Public) => return next.run(request).await,
        Some(Access::AtLeast(role)) => role,
        None => {
            let what = format!("{} {}", request.method(), route.as_deref().unwrap_or("?"));
            tracing::error!(route = %what, "a route with no access rule was called: refused");
            return ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("{what} has no access rule"))
                .into_response();
        }
    };
    let (mut parts, body) = request.into_parts();
    let caller = match Caller::identify(&mut parts, &state).await {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = caller.may(needed) {
        return e.into_response();
    }
    // Each token has its own allowance (two tokens of one name do not share one).
    if let Some(token) = &caller.token
        && let Err(wait) = state.limiter.check(token, std::time::Instant::now())
    {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("this token asks faster than its limit; try again in {seconds} s"),
        )
        .into_response();
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        return response;
    }
    parts.extensions.insert(caller);
    next.run(axum::extract::Request::from_parts(parts, body)).await
}

/// Counts each API request by route and status, and times it (refusals included).
async fn measure(
    State(state): State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let timer = state.metrics.http_seconds.with_label_values(&[&route]).start_timer();
    let response = next.run(request).await;
    timer.observe_duration();
    state.metrics.http_requests.with_label_values(&[route.as_str(), response.status().as_str()]).inc();
    response
}

fn routes(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/messages", get(lookup_messages))
        .route("/api/v1/messages/{postern_id}", get(get_message))
        .route("/api/v1/messages/{postern_id}/raw", get(get_raw))
        .route("/api/v1/messages/{postern_id}/release", post(release_message))
        .route("/api/v1/search", get(search))
        .route("/api/v1/reports/daily", get(daily_report))
        .route("/api/v1/reclassifications", post(submit_reclassification).get(list_reclassifications))
        .route("/api/v1/reclassifications/{submission_id}/resolve", post(resolve_reclassification))
        .route("/api/v1/audit", get(audit_trail))
        .route("/api/v1/policy", get(tenant_policy))
        .route("/api/v1/submissions", get(list_mail_submissions))
        .route("/api/v1/submissions/{submission_id}/raw", get(mail_submission_raw))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), authorize))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), measure))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", format!("{method} is not allowed here"))
        })
        .with_state(state)
}

/// 409 `read_only` for a write to views that are not folded: the event would never show.
fn refuse_writes_when_read_only(state: &AppState) -> Result<(), ApiError> {
    match state.read_only {
        Some(_) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "read_only",
            "this projector serves views that are not folded (projector serve --db): nothing can be written here",
        )),
        None => Ok(()),
    }
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": {"code": self.code, "message": self.message}}))).into_response()
    }
}

impl From<crate::views::ViewsClosed> for ApiError {
    fn from(e: crate::views::ViewsClosed) -> Self {
        ApiError::unavailable(e.to_string())
    }
}

impl From<crate::error::StoreError> for ApiError {
    fn from(e: crate::error::StoreError) -> Self {
        tracing::error!(error = %e, "store read failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the views could not be read")
    }
}

/// An error answer, for the modules that serve the API.
pub fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(status, code, message)
}

/// SHA-256 of a token, hex.
pub fn token_hash(token: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 bytes from the system's random source, in hex: API tokens (`projector token new`),
/// console session ids and CSRF tokens.
pub fn random_hex() -> Result<String, ring::error::Unspecified> {
    let mut bytes = [0u8; 32];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// The configured token whose hash is the presented token's. Every entry is compared, each
/// in constant time over the 32 bytes of the digest, so the answer's timing says nothing of
/// how close a guess came.
pub(crate) fn find_token<'a>(
    tokens: &'a [crate::config::TokenEntry],
    presented: &str,
) -> Option<&'a crate::config::TokenEntry> {
    let digest = ring::digest::digest(&ring::digest::SHA256, presented.as_bytes());
    let mut found = None;
    for entry in tokens {
        let Some(stored) = hex_digest(&entry.sha256) else { continue };
        if bool::from(subtle::ConstantTimeEq::ct_eq(&stored[..], digest.as_ref())) && found.is_none() {
            found = Some(entry);
        }
    }
    found
}

/// The 32 bytes of a SHA-256 written as 64 hex digits (checked at start-up).
fn hex_digest(hex: &str) -> Option<[u8; 32]> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let text = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(text, 16).ok()?;
    }
    Some(out)
}

/// Who is asking: the tenant their token (or, on an open API, `tenant=`) names.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: TenantId,
    /// The token's name, when a token was used.
    pub name: Option<String>,
    /// The token's role; on an open API (no tokens: a local install), `admin`.
    pub role: Role,
    /// The token's hash, which its rate limit is kept under (None on an open API).
    pub token: Option<String>,
    /// The peer's address (`ip:port`), when the server knows it.
    pub addr: Option<String>,
}

impl Caller {
    /// 403 below `needed`.
    pub fn may(&self, needed: Role) -> Result<(), ApiError> {
        if self.role >= needed {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this needs the {} role; the token has {}", needed.as_str(), self.role.as_str()),
        ))
    }

    /// Who asks, for the record (`requested_by`, `resolved_by`): the token's name, never what
    /// the request says (a `claimed` name that differs is a 400); on an open API, the claimed
    /// name, else `api`.
    fn who(&self, field: &str, claimed: Option<&str>) -> Result<String, ApiError> {
        match (&self.name, claimed) {
            (Some(name), Some(claimed)) if claimed != name => Err(ApiError::bad_request(format!(
                "{field}: it is the token's name ({name}), not something a request can set"
            ))),
            (Some(name), _) => Ok(name.clone()),
            (None, claimed) => Ok(claimed.unwrap_or("api").to_owned()),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// The caller [`authorize`] identified; identified here when a route runs without it.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Caller>() {
            Some(caller) => Ok(caller.clone()),
            None => Caller::identify(parts, state).await,
        }
    }
}

impl Caller {
    /// Who the request comes from: its token's tenant, name and role (401 without a known
    /// token when tokens are configured; 404 when it asks for another tenant).
    async fn identify(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let peer = |parts: &Parts| {
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|axum::extract::ConnectInfo(addr)| addr.to_string())
        };
        let asked = parts
            .uri
            .query()
            .and_then(|q| url_param(q, "tenant"))
            .map(|t| TenantId::customer(&t).map_err(|e| ApiError::bad_request(format!("tenant: {e}"))))
            .transpose()?;
        if state.tokens.is_empty() {
            let tenant = match asked {
                Some(t) => t,
                None => TenantId::new("default").expect("a valid name"),
            };
            held_here(state, &tenant)?;
            return Ok(Caller { tenant, name: None, role: Role::Admin, token: None, addr: peer(parts) });
        }
        let unauthorized = |m: &str| {
            let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
            r.message.push_str(" (Authorization: Bearer <token>)");
            r
        };
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let entry = match bearer {
            Some(token) => {
                find_token(&state.tokens, token.trim()).cloned().ok_or_else(|| unauthorized("unknown token"))?
            }
            // The console's session cookie stands for the token it signed in with.
            None => {
                use crate::console::SessionRefusal;
                let write = !matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD);
                match state.sessions.caller(&parts.headers, write, std::time::Instant::now()) {
                    Ok(entry) => entry,
                    Err(SessionRefusal::NoCookie) => return Err(unauthorized("a bearer token is required")),
                    Err(SessionRefusal::Unknown) => {
                        return Err(unauthorized("the console session has ended; sign in again"));
                    }
                    Err(SessionRefusal::Csrf) => return Err(crate::console::csrf_refusal()),
                }
            }
        };
        let tenant = TenantId::customer(&entry.tenant).map_err(|e| ApiError::bad_request(e.to_string()))?;
        // Another tenant's data does not exist for this token.
        if asked.is_some_and(|a| a != tenant) {
            return Err(ApiError::not_found("no such tenant"));
        }
        held_here(state, &tenant)?;
        let name = if entry.name.is_empty() { format!("a token of {tenant}") } else { entry.name.clone() };
        Ok(Caller {
            tenant,
            name: Some(name),
            role: entry.role,
            token: Some(entry.sha256.to_ascii_lowercase()),
            addr: peer(parts),
        })
    }
}

/// A tenant another shard holds: 421 Misdirected Request, naming that shard. (No proxy: the
/// client, or the load balancer in front, asks the right projector.)
fn held_here(state: &AppState, tenant: &TenantId) -> Result<(), ApiError> {
    match state.shard {
        Some(shard) if !shard.holds(tenant.as_str()) => Err(ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "wrong_shard",
            format!(
                "tenant {tenant} is held by the projector of shard {}; this one holds shard {shard}",
                shard.owner_of(tenant.as_str())
            ),
        )),
        _ => Ok(()),
    }
}

/// One query parameter, percent-decoded.
fn url_param(query: &str, name: &str) -> Option<String> {
    url_decode_pairs(query).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn url_decode_pairs(query: &str) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let bytes = s.replace('+', " ").into_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%'
                && let Some(v) =
                    bytes.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
            {
                out.push(v);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// 200 `ok` while the fold keeps the views current; 503 `not_ready` with the reason while it
/// cannot write (a full disk, say) and tries again: the views answer, but fall behind.
async fn health(State(state): State<AppState>) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let checkpoints = match state.store.get() {
        Ok(store) => json!({
            STREAM_RAW: store.checkpoint(STREAM_RAW)?,
            STREAM_EVENTS: store.checkpoint(STREAM_EVENTS)?,
        }),
        Err(_) => serde_json::Value::Null,
    };
    if let Some(ReadOnly { as_of }) = state.read_only {
        return Ok((
            StatusCode::OK,
            Json(json!({
                "status": "ok",
                "read_only": true,
                "as_of": as_of.map(|t| Timestamp(t).to_rfc3339()),
                "checkpoints": checkpoints,
                "shard": state.shard.map_or_else(|| "all".to_owned(), |s| s.to_string()),
            })),
        ));
    }
    Ok(match state.fold.failure() {
        None => (
            StatusCode::OK,
            Json(json!({
                "status": "ok",
                "checkpoints": checkpoints,
                "shard": state.shard.map_or_else(|| "all".to_owned(), |s| s.to_string()),
            })),
        ),
        Some(failure) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "not_ready",
                "reason": format!("the views are not being updated: {}", failure.reason),
                "since": failure.since.to_string(),
                "attempts": failure.attempts,
                "checkpoints": checkpoints,
            })),
        ),
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupQuery {
    /// RFC 5322 Message-ID, with or without angle brackets.
    message_id: Option<String>,
    postern_id: Option<String>,
    tenant: Option<String>,
    /// The message as it stood then (YYYY-MM-DD or RFC 3339 UTC).
    as_of: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessageQuery {
    #[allow(dead_code)]
    tenant: Option<String>,
    /// The message as it stood then (YYYY-MM-DD or RFC 3339 UTC).
    as_of: Option<String>,
}

/// An `as_of` parameter: a time in ms since the epoch.
fn parse_as_of(value: Option<&str>) -> Result<Option<u64>, ApiError> {
    value
        .map(|t| Timestamp::parse(t).map(|t| t.millis()).map_err(|e| ApiError::bad_request(format!("as_of: {e}"))))
        .transpose()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantOnly {
    #[allow(dead_code)]
    tenant: Option<String>,
    copy: Option<usize>,
}

fn parse_postern_id(id: &str) -> Result<PosternId, ApiError> {
    PosternId::parse(id).map_err(|e| ApiError::bad_request(format!("postern id: {e}")))
}

async fn lookup_messages(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<LookupQuery>, QueryRejection>,
) -> Result<Json<query::TraceList>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let _ = q.tenant;
    let tenant = caller.tenant.as_str();
    let records = match (q.message_id.as_deref(), q.postern_id.as_deref()) {
        (Some(mid), None) if !mid.trim().is_empty() => query::by_message_id(&*state.store.get()?, tenant, mid)?,
        (None, Some(pid)) => {
            query::by_postern_id(&*state.store.get()?, tenant, parse_postern_id(pid)?.as_str())?.into_iter().collect()
        }
        _ => return Err(ApiError::bad_request("give exactly one of message_id or postern_id")),
    };
    let as_of = parse_as_of(q.as_of.as_deref())?;
    let messages: Vec<Trace> = records.iter().filter_map(|r| Trace::at(r, as_of)).collect();
    Ok(Json(query::TraceList { messages }))
}

async fn get_message(
    State(state): State<AppState>,
    caller: Caller,
    Path(postern_id): Path<String>,
    query: Result<Query<MessageQuery>, QueryRejection>,
) -> Result<Json<Trace>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let as_of = parse_as_of(q.as_of.as_deref())?;
    let pid = parse_postern_id(&postern_id)?;
    let record = query::by_postern_id(&*state.store.get()?, caller.tenant.as_str(), pid.as_str())?
        .ok_or_else(|| ApiError::not_found(format!("no message {pid}")))?;
    Trace::at(&record, as_of).map(Json).ok_or_else(|| {
        ApiError::not_found(format!("message {pid} had not arrived by {}", q.as_of.as_deref().unwrap_or_default()))
    })
}

/// The message as it arrived (its first copy, or `copy=N`), read back from MAIL_RAW and,
/// for large ones, the Object Store.
async fn get_raw(
    State(state): State<AppState>,
    caller: Caller,
    Path(postern_id): Path<String>,
    query: Result<Query<TenantOnly>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let pid = parse_postern_id(&postern_id)?;
    let record = query::by_postern_id(&*state.store.get()?, caller.tenant.as_str(), pid.as_str())?
        .ok_or_else(|| ApiError::not_found(format!("no message {pid}")))?;
    let index = q.copy.unwrap_or(0);
    let copy = record.copies.get(index).ok_or_else(|| {
        ApiError::not_found(format!("message {pid} has {} cop(ies); no copy {index}", record.copies.len()))
    })?;
    raw_answer(&state, copy.position.seq).await
}

/// The message stored at `seq` of MAIL_RAW, as `message/rfc822`.
async fn raw_answer(state: &AppState, seq: u64) -> Result<Response, ApiError> {
    let js = state.js.as_ref().ok_or_else(|| ApiError::unavailable("no JetStream connection"))?;
    let bytes = crate::raw::fetch(js, seq).await.map_err(|e| match e {
        crate::raw::RawError::Gone(m) => ApiError::new(StatusCode::GONE, "gone", m),
        crate::raw::RawError::Unavailable(m) => ApiError::unavailable(m),
    })?;
    let mut response = bytes.into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("message/rfc822"));
    Ok(response)
}

/// How far back a search looks when not told.
pub const DEFAULT_SEARCH_DAYS: u64 = 30;

/// A search the API cannot run: which parameter, and why (a 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadSearch(pub String);

impl BadSearch {
    fn new(reason: impl Into<String>) -> Self {
        BadSearch(reason.into())
    }
}

/// Builds a search from API parameters (shared with tests).
pub fn search_query(tenant: &str, p: &SearchParamsFields, now: u64) -> Result<SearchQuery, BadSearch> {
    let time = |name: &str, v: &Option<String>| {
        v.as_deref()
            .map(|t| Timestamp::parse(t).map(|t| t.millis()).map_err(|e| BadSearch::new(format!("{name}: {e}"))))
            .transpose()
    };
    let to = time("to", &p.to)?.unwrap_or(now + 1);
    let from = time("from", &p.from)?.unwrap_or(to.saturating_sub(DEFAULT_SEARCH_DAYS * 86_400_000));
    if from >= to {
        return Err(BadSearch::new("from must be before to"));
    }
    let mut filters = Vec::new();
    // Each filter by the parameter's name, as the caller wrote it.
    let mut add = |field: Field, parameter: &str, v: &Option<String>| -> Result<(), BadSearch> {
        if let Some(v) = v {
            if v.trim().is_empty() {
                return Err(BadSearch::new(format!("{parameter} is empty")));
            }
            filters.push((field, v.clone()));
        }
        Ok(())
    };
    add(Field::AlertId, "alert_id", &p.alert_id)?;
    add(Field::MessageId, "message_id", &p.message_id)?;
    add(Field::Sender, "sender", &p.sender)?;
    add(Field::Recipient, "recipient", &p.recipient)?;
    add(Field::SenderDomain, "domain", &p.domain)?;
    add(Field::Action, "action", &p.action)?;
    if let Some(d) = &p.disposition {
        let d: Disposition = d.parse().map_err(|e| BadSearch::new(format!("disposition: {e}")))?;
        filters.push((Field::Disposition, d.as_str().to_owned()));
    }
    if let Some(subject) = &p.subject {
        let words = crate::store::schema::search::subject_words(subject);
        if words.is_empty() {
            return Err(BadSearch::new("subject: give at least one word of two letters or more"));
        }
        filters.extend(words.into_iter().map(|w| (Field::SubjectWord, w)));
    }
    let postern_id = p
        .postern_id
        .as_deref()
        .map(|id| {
            PosternId::parse(id).map(|p| p.as_str().to_owned()).map_err(|e| BadSearch::new(format!("postern_id: {e}")))
        })
        .transpose()?;
    let after = p
        .cursor
        .as_deref()
        .map(|c| query::decode_cursor(c).ok_or_else(|| BadSearch::new("cursor: not a cursor this API gave")))
        .transpose()?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=1000).contains(&limit) {
        return Err(BadSearch::new("limit: 1 to 1000"));
    }
    Ok(SearchQuery { tenant: tenant.to_owned(), from, to, postern_id, filters, limit, after })
}

/// The search parameters, as the API and the CLI name them.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParamsFields {
    /// Taken by [`Caller`]; listed so that it is not an unknown parameter.
    pub tenant: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub alert_id: Option<String>,
    pub postern_id: Option<String>,
    pub message_id: Option<String>,
    pub sender: Option<String>,
    pub recipient: Option<String>,
    pub domain: Option<String>,
    pub subject: Option<String>,
    pub disposition: Option<String>,
    pub action: Option<String>,
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<SearchParamsFields>, QueryRejection>,
) -> Result<Json<query::SearchPage>, ApiError> {
    let Query(p) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let q = search_query(caller.tenant.as_str(), &p, Timestamp::now().millis())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let store = state.store.get()?;
    let page = tokio::task::spawn_blocking(move || query::search(&store, &q))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    Ok(Json(page))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportParams {
    tenant: Option<String>,
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
    top: Option<usize>,
}

async fn daily_report(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ReportParams>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(p) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let _ = p.tenant;
    let day = |name: &str, v: &Option<String>, default: u64| -> Result<u32, ApiError> {
        let ms = match v {
            Some(t) => Timestamp::parse(t).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))?.millis(),
            None => default,
        };
        Ok(crate::store::schema::daily::day_of(ms))
    };
    let now = Timestamp::now().millis();
    let to = day("to", &p.to, now)?;
    let from = day("from", &p.from, now.saturating_sub(6 * 86_400_000))?;
    if from > to || to - from >= query::MAX_REPORT_DAYS {
        return Err(ApiError::bad_request(format!(
            "from must not be after to, and at most {} days",
            query::MAX_REPORT_DAYS
        )));
    }
    let top = p.top.unwrap_or(10);
    if !(1..=100).contains(&top) {
        return Err(ApiError::bad_request("top: 1 to 100"));
    }
    let report = query::report(&*state.store.get()?, caller.tenant.as_str(), from, to, top)?;
    match p.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(report).into_response()),
        "csv" => {
            let mut r = report.to_csv().into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            Ok(r)
        }
        other => Err(ApiError::bad_request(format!("format: {other:?} is not json or csv"))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitBody {
    pub postern_id: Option<String>,
    pub message_id: Option<String>,
    pub alert_id: Option<String>,
    pub disposition: String,
    /// `team` or `user`.
    #[serde(rename = "type")]
    pub submission_type: String,
    pub requested_by: Option<String>,
    #[serde(default)]
    pub comment: String,
}

async fn submit_reclassification(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<SubmitBody>, JsonRejection>,
) -> Result<(StatusCode, Json<crate::reclassify::ReclassificationAnswer>), ApiError> {
    let Json(b) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    refuse_writes_when_read_only(&state)?;
    let js = state.js.as_ref().ok_or_else(|| ApiError::unavailable("no JetStream connection"))?;
    let requested: Disposition =
        b.disposition.parse().map_err(|e| ApiError::bad_request(format!("disposition: {e}")))?;
    let submission_type = match b.submission_type.to_ascii_lowercase().as_str() {
        "team" => proto::SubmissionType::Team,
        "user" => proto::SubmissionType::User,
        other => return Err(ApiError::bad_request(format!("type: {other:?} is not team or user"))),
    };
    let record = crate::reclassify::find_message(&*state.store.get()?, caller.tenant.as_str(), &b)?;
    let requested_by = caller.who("requested_by", b.requested_by.as_deref())?;
    let outcome = crate::reclassify::submit(
        js,
        &*state.store.get()?,
        &state.reactions,
        &record,
        submission_type,
        requested,
        &requested_by,
        &b.comment,
        caller.addr.as_deref(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(outcome)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    tenant: Option<String>,
    status: Option<String>,
    limit: Option<usize>,
}

async fn list_reclassifications(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<crate::reclassify::SubmissionList>, ApiError> {
    let Query(p) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let _ = p.tenant;
    let status = match p.status {
        Some(s) => Some(crate::decide::SubmissionStatus::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
            ApiError::bad_request(format!("status: {s:?} is not pending, accepted, rejected or withdrawn"))
        })?),
        None => None,
    };
    let limit = list_limit(p.limit, 100);
    let reclassifications = crate::reclassify::list(&*state.store.get()?, caller.tenant.as_str(), status, limit)?;
    Ok(Json(crate::reclassify::SubmissionList { reclassifications }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// `accept`, `reject` or `withdraw`.
    pub outcome: String,
    pub resolved_by: Option<String>,
    #[serde(default)]
    pub comment: String,
}

async fn resolve_reclassification(
    State(state): State<AppState>,
    caller: Caller,
    Path(submission_id): Path<String>,
    body: Result<Json<ResolveBody>, JsonRejection>,
) -> Result<Json<crate::reclassify::ReclassificationAnswer>, ApiError> {
    let Json(b) = body.map_err(|e| ApiError::bad_request(e.body_text()))?;
    refuse_writes_when_read_only(&state)?;
    let js = state.js.as_ref().ok_or_else(|| ApiError::unavailable("no JetStream connection"))?;
    let outcome = match b.outcome.to_ascii_lowercase().as_str() {
        "accept" => proto::ReclassificationOutcome::Accepted,
        "reject" => proto::ReclassificationOutcome::Rejected,
        "withdraw" => proto::ReclassificationOutcome::Withdrawn,
        other => return Err(ApiError::bad_request(format!("outcome: {other:?} is not accept, reject or withdraw"))),
    };
    // Deciding on a submission is an admin's; withdrawing one, an analyst's.
    if outcome != proto::ReclassificationOutcome::Withdrawn {
        caller.may(Role::Admin)?;
    }
    let resolved_by = caller.who("resolved_by", b.resolved_by.as_deref())?;
    let answer = crate::reclassify::resolve(
        js,
        &*state.store.get()?,
        &state.reactions,
        caller.tenant.as_str(),
        &submission_id,
        outcome,
        crate::reclassify::Decider {
            name: &resolved_by,
            known: caller.name.is_some(),
            client_addr: caller.addr.as_deref(),
        },
        &b.comment,
    )
    .await?;
    Ok(Json(answer))
}

/// Users' submissions by mail, newest first, each matched, pending, refused or unmatched
/// (`crate::mail_submissions::STATUSES`; `status=` keeps one of them).
async fn list_mail_submissions(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<crate::mail_submissions::MailSubmissionList>, ApiError> {
    let Query(p) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let _ = p.tenant;
    let status = p.status.as_deref().map(str::to_ascii_lowercase);
    if let Some(s) = &status
        && !crate::mail_submissions::STATUSES.contains(&s.as_str())
    {
        return Err(ApiError::bad_request(format!(
            "status: {s:?} is not one of {}",
            crate::mail_submissions::STATUSES.join(", ")
        )));
    }
    let limit = list_limit(p.limit, 100);
    Ok(Json(crate::mail_submissions::list(&*state.store.get()?, caller.tenant.as_str(), status.as_deref(), limit)?))
}

/// A submission mail as it arrived (the attached copy inside), for the team to look at.
async fn mail_submission_raw(
    State(state): State<AppState>,
    caller: Caller,
    Path(submission_id): Path<String>,
) -> Result<Response, ApiError> {
    let row = crate::mail_submissions::by_id(&*state.store.get()?, caller.tenant.as_str(), &submission_id)?
        .ok_or_else(|| ApiError::not_found(format!("no submission {submission_id} in this tenant")))?;
    raw_answer(&state, row.raw_seq).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReleaseBody {
    #[serde(default)]
    comment: String,
}

/// What a release asked for.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct ReleaseAnswer {
    pub remediation_id: String,
    pub postern_id: String,
    pub action: String,
    pub mailboxes: Vec<String>,
    pub reason: String,
    /// Whether the views showed the request before the answer.
    pub folded: bool,
}

/// Puts a message that Postern moved back in every inbox it was moved out of (admin). The
/// body (`{"comment": "..."}`) may be empty.
async fn release_message(
    State(state): State<AppState>,
    caller: Caller,
    Path(postern_id): Path<String>,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<ReleaseAnswer>), ApiError> {
    let b: ReleaseBody = if body.iter().all(u8::is_ascii_whitespace) {
        ReleaseBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("body: {e}")))?
    };
    refuse_writes_when_read_only(&state)?;
    let js = state.js.as_ref().ok_or_else(|| ApiError::unavailable("no JetStream connection"))?;
    let pid = PosternId::parse(&postern_id).map_err(|e| ApiError::bad_request(format!("postern_id: {e}")))?;
    let record = crate::query::by_postern_id(&*state.store.get()?, caller.tenant.as_str(), pid.as_str())?
        .ok_or_else(|| ApiError::not_found(format!("no message {} in this tenant", pid.as_str())))?;
    let who = caller.who("released_by", None)?;
    let mut reason = format!("released by {who}");
    if !b.comment.trim().is_empty() {
        reason.push_str(&format!(": {}", b.comment.trim()));
    }
    let mut request = crate::release::plan(&record, &ulid::Ulid::new().to_string(), reason)
        .map_err(|e| ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string()))?;
    // Who and from where, for the audit trail.
    request.requested_by = Some(who.clone());
    request.client_addr = caller.addr.clone();
    let answer = ReleaseAnswer {
        remediation_id: request.remediation_id.clone(),
        postern_id: record.postern_id.clone(),
        action: request.action.as_str().to_owned(),
        mailboxes: request.mailboxes.clone(),
        reason: request.reason.clone(),
        folded: false,
    };
    let (_, seq) = crate::reclassify::publish(
        js,
        caller.tenant.as_str(),
        &record.postern_id,
        None,
        proto::Event::RemediationRequested(request),
    )
    .await?;
    let folded = crate::reclassify::wait_for_fold(&*state.store.get()?, seq).await;
    tracing::info!(postern_id = %record.postern_id, remediation = %answer.remediation_id, by = %who, "release requested");
    Ok((StatusCode::ACCEPTED, Json(ReleaseAnswer { folded, ..answer })))
}

/// The most entries one list answer holds.
const MAX_LIST_ENTRIES: usize = 1000;

/// How many entries a list answers: `limit` if given (1 to [`MAX_LIST_ENTRIES`]), else
/// the list's default.
fn list_limit(limit: Option<usize>, default: usize) -> usize {
    limit.unwrap_or(default).clamp(1, MAX_LIST_ENTRIES)
}

/// A list's parameters: the tenant (taken by [`Caller`]) and how many entries.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitParams {
    tenant: Option<String>,
    limit: Option<usize>,
}

/// The tenant's audit trail: policy changes and reclassifications, newest first (admin).
async fn audit_trail(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<LimitParams>, QueryRejection>,
) -> Result<Json<crate::audit::AuditTrail>, ApiError> {
    let Query(p) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let _ = p.tenant;
    let limit = list_limit(p.limit, 100);
    Ok(Json(crate::audit::trail(&*state.store.get()?, caller.tenant.as_str(), limit)?))
}

/// The tenant's policy as stored (`scorer policy set` writes it; the scorer applies it), and
/// its change history from the views, newest first. `policy` is null when the tenant has
/// none; `stored` says whether the store could be asked (a projector serving views without
/// NATS, `projector serve --db`, can show only the history).
async fn tenant_policy(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<LimitParams>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(p) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let _ = p.tenant;
    let limit = list_limit(p.limit, 50);
    let history = crate::audit::policy_history(&*state.store.get()?, caller.tenant.as_str(), limit)?;
    let (policy, stored) = match &state.js {
        Some(js) => (
            crate::reactor::tenant_policy(js, caller.tenant.as_str())
                .await
                .map_err(|e| ApiError::unavailable(e.to_string()))?,
            true,
        ),
        None => (None, false),
    };
    Ok(Json(json!({
        "tenant": caller.tenant.as_str(),
        "stored": stored,
        "policy": policy,
        "history": history,
    })))
}

/// How long a write waits for the projector to fold what it published, so the answer
/// shows the new state.
pub const FOLD_WAIT: Duration = Duration::from_secs(5);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_hashes_are_sha256_hex() {
        assert_eq!(token_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn a_token_is_found_by_its_hash_whatever_the_hex_case() {
        let entry = |tenant: &str, token: &str| crate::config::TokenEntry {
            tenant: tenant.into(),
            sha256: token_hash(token),
            name: tenant.into(),
            role: Role::Viewer,
        };
        let mut tokens = vec![entry("acme", "pst_acme"), entry("other", "pst_other")];
        assert_eq!(find_token(&tokens, "pst_other").map(|t| t.tenant.as_str()), Some("other"));
        assert!(find_token(&tokens, "pst_nobody").is_none());
        tokens[0].sha256 = tokens[0].sha256.to_uppercase();
        assert_eq!(find_token(&tokens, "pst_acme").map(|t| t.tenant.as_str()), Some("acme"));
        assert_eq!(hex_digest("zz"), None);
        assert_eq!(hex_digest(&"0g".repeat(32)), None);
    }

    #[test]
    fn every_route_has_one_access_rule_and_roles_are_ordered() {
        for (i, (method, route, _)) in ROUTES.iter().enumerate() {
            assert_eq!(ROUTES.iter().filter(|(m, r, _)| m == method && r == route).count(), 1, "{method} {route}");
            assert_eq!(access_of(method, route), Some(ROUTES[i].2));
        }
        assert_eq!(access_of("DELETE", "/api/v1/search"), None);
        assert!(Role::Viewer < Role::Analyst && Role::Analyst < Role::Admin);
        let caller =
            |role| Caller { tenant: TenantId::new("acme").unwrap(), name: None, role, token: None, addr: None };
        assert!(caller(Role::Analyst).may(Role::Viewer).is_ok());
        assert!(caller(Role::Analyst).may(Role::Analyst).is_ok());
        assert_eq!(caller(Role::Analyst).may(Role::Admin).unwrap_err().status, StatusCode::FORBIDDEN);
    }

    #[test]
    fn query_params_decode() {
        assert_eq!(url_param("a=1&tenant=acme%2Dx&b", "tenant").as_deref(), Some("acme-x"));
        assert_eq!(url_param("subject=hello+world", "subject").as_deref(), Some("hello world"));
        assert_eq!(url_param("x=1", "tenant"), None);
    }

    #[test]
    fn search_parameters_are_checked() {
        let now = 1_800_000_000_000;
        let ok =
            search_query("t", &SearchParamsFields { subject: Some("Invoice due".into()), ..Default::default() }, now)
                .unwrap();
        assert_eq!(ok.to, now + 1);
        assert_eq!(ok.from, now + 1 - 30 * 86_400_000);
        assert_eq!(ok.filters.len(), 2);
        for bad in [
            SearchParamsFields { from: Some("yesterday".into()), ..Default::default() },
            SearchParamsFields { from: Some("2026-02-02".into()), to: Some("2026-02-01".into()), ..Default::default() },
            SearchParamsFields { disposition: Some("EVIL".into()), ..Default::default() },
            SearchParamsFields { cursor: Some("garbage".into()), ..Default::default() },
            SearchParamsFields { limit: Some(0), ..Default::default() },
            SearchParamsFields { subject: Some("!".into()), ..Default::default() },
            SearchParamsFields { sender: Some(" ".into()), ..Default::default() },
        ] {
            assert!(search_query("t", &bad, now).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 500, ..Default::default() })]

        /// Any query string: a parameter is found or not, never a panic (bytes that do not
        /// decode to UTF-8 are replaced, a `%` without two hex digits is kept as it is).
        #[test]
        fn query_strings_never_panic(query in ".{0,200}", name in "[a-z_]{1,12}") {
            let _ = url_param(&query, &name);
            let pairs = url_decode_pairs(&query);
            proptest::prop_assert!(pairs.len() <= query.split('&').count());
        }

        /// Any values for the search parameters: a search or a 400 with the reason, never a
        /// panic, and a search always looks at a time range that ends after it starts.
        #[test]
        fn search_parameters_give_a_search_or_a_reason(
            values in proptest::collection::vec(proptest::option::of(".{0,40}"), 10),
            limit in proptest::option::of(0usize..5000),
        ) {
            let p = SearchParamsFields {
                from: values[0].clone(),
                to: values[1].clone(),
                alert_id: values[2].clone(),
                postern_id: values[3].clone(),
                message_id: values[4].clone(),
                sender: values[5].clone(),
                recipient: values[6].clone(),
                domain: values[7].clone(),
                subject: values[8].clone(),
                disposition: values[9].clone(),
                limit,
                ..Default::default()
            };
            match search_query("acme", &p, 1_800_000_000_000) {
                Ok(q) => proptest::prop_assert!(q.from < q.to, "{q:?}"),
                Err(BadSearch(reason)) => proptest::prop_assert!(!reason.is_empty()),
            }
        }
    }
}
