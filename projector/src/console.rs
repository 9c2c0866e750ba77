//! The analyst's console: a page served from assets embedded in the binary, and the
//! session endpoints it signs in with. Everything it shows it reads from the public
//! `/api/v1/` API, which the session cookie authenticates like a bearer token.
//!
//! - `POST /console/session` `{"token": "..."}`: signs in with an API token. The answer sets
//!   `postern_session` (HttpOnly, SameSite=Strict, Path=/) and returns the tenant, the name,
//!   the role and the session's CSRF token. The token itself is never stored in the browser.
//! - `GET /console/session`: who is signed in (401 when no one is); on an open API (no
//!   tokens configured: a local install), the default tenant as admin.
//! - `DELETE /console/session`: signs out (needs the CSRF token).
//! - `GET /console/`, `GET /console/assets/{file}`: the page.
//!
//! A request authenticated by the cookie that changes something (any method but GET and
//! HEAD) must carry the session's CSRF token in `X-CSRF-Token` ([`Sessions::caller`]);
//! SameSite=Strict keeps the cookie off other sites' requests besides.

use crate::api::{ApiError, AppState, error};
use crate::config::{Role, TokenEntry};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The cookie that carries the session id.
pub const COOKIE: &str = "postern_session";
/// The header a cookie-authenticated write carries the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// How long a session lasts from sign-in (a working day).
pub const SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// At most this many sessions at once; a sign-in beyond them is refused (503) until some
/// expire or sign out.
pub const MAX_SESSIONS: usize = 10_000;

/// One signed-in browser.
#[derive(Debug, Clone)]
struct Session {
    token: TokenEntry,
    csrf: String,
    expires: Instant,
}

/// The sessions of this projector, in memory: a restart signs everyone out.
#[derive(Debug, Default)]
pub struct Sessions {
    /// SHA-256 of the session id -> the session.
    by_id_hash: Mutex<HashMap<String, Session>>,
    /// The cookie is `Secure` (config `console_secure_cookie`: behind a TLS proxy).
    secure_cookie: bool,
}

/// Why a cookie does not authenticate a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionRefusal {
    /// No session cookie on the request.
    NoCookie,
    /// A cookie of no live session (expired, signed out, or the projector restarted).
    Unknown,
    /// A write without the session's CSRF token.
    Csrf,
}

impl Sessions {
    pub fn new(secure_cookie: bool) -> Self {
        Sessions { by_id_hash: Mutex::default(), secure_cookie }
    }

    /// The `Set-Cookie` value for a session id (an empty id with `Max-Age=0` ends it).
    fn cookie(&self, id: &str, max_age: Duration) -> String {
        let secure = if self.secure_cookie { "; Secure" } else { "" };
        format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}", max_age.as_secs())
    }

    fn start(&self, token: TokenEntry, now: Instant) -> Result<(String, String), ApiError> {
        let mut sessions = self.by_id_hash.lock().expect("sessions lock");
        sessions.retain(|_, s| s.expires > now);
        if sessions.len() >= MAX_SESSIONS {
            return Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_sessions",
                format!("{MAX_SESSIONS} sessions are open; try again when some have ended"),
            ));
        }
        let random = || crate::api::random_hex().expect("the system's random source");
        let (id, csrf) = (random(), random());
        sessions.insert(
            crate::api::token_hash(&id),
            Session { token, csrf: csrf.clone(), expires: now + SESSION_LIFETIME },
        );
        Ok((id, csrf))
    }

    fn end(&self, id: &str) {
        self.by_id_hash.lock().expect("sessions lock").remove(&crate::api::token_hash(id));
    }

    fn find(&self, id: &str, now: Instant) -> Option<Session> {
        let sessions = self.by_id_hash.lock().expect("sessions lock");
        sessions.get(&crate::api::token_hash(id)).filter(|s| s.expires > now).cloned()
    }

    /// The token a request's session cookie stands for. `write`: the request changes
    /// something, and must carry the session's CSRF token.
    pub fn caller(&self, headers: &HeaderMap, write: bool, now: Instant) -> Result<TokenEntry, SessionRefusal> {
        let id = session_cookie(headers).ok_or(SessionRefusal::NoCookie)?;
        let session = self.find(&id, now).ok_or(SessionRefusal::Unknown)?;
        if write {
            let presented = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
            if !bool::from(subtle::ConstantTimeEq::ct_eq(presented.as_bytes(), session.csrf.as_bytes())) {
                return Err(SessionRefusal::Csrf);
            }
        }
        Ok(session.token)
    }
}

/// The session id in a request's `Cookie` headers.
fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

pub fn routes(state: AppState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/console/") }))
        .route("/console", get(|| async { Redirect::to("/console/") }))
        .route("/console/", get(index))
        .route("/console/assets/{file}", get(asset))
        .route("/console/session", get(who).post(sign_in).delete(sign_out))
        .with_state(state)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: String,
}

fn session_answer(entry: &TokenEntry, csrf: &str, open: bool) -> serde_json::Value {
    json!({
        "tenant": entry.tenant,
        "name": entry.name,
        "role": entry.role.as_str(),
        "csrf": csrf,
        "open": open,
    })
}

/// The open API's caller (no tokens configured): the default tenant, as admin.
fn open_entry() -> TokenEntry {
    TokenEntry { tenant: "default".into(), sha256: String::new(), name: "local".into(), role: Role::Admin }
}

async fn sign_in(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<SignIn>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(|e| error(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    if state.tokens.is_empty() {
        return Err(error(
            StatusCode::CONFLICT,
            "open_api",
            "this projector has no tokens configured: the API is open and needs no sign-in",
        ));
    }
    // Guesses are limited per address, as API calls are per token.
    if let Err(wait) = state.limiter.check(&format!("sign-in {}", peer.ip()), Instant::now()) {
        return Err(error(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many sign-ins from this address; try again in {} s", wait.as_secs().max(1)),
        ));
    }
    let Some(entry) = crate::api::find_token(&state.tokens, body.token.trim()).cloned() else {
        tracing::info!(from = %peer, "console sign-in with an unknown token refused");
        return Err(error(StatusCode::UNAUTHORIZED, "unauthorized", "unknown token"));
    };
    let (id, csrf) = state.sessions.start(entry.clone(), Instant::now())?;
    tracing::info!(tenant = %entry.tenant, name = %entry.name, from = %peer, "console sign-in");
    let mut response = Json(session_answer(&entry, &csrf, false)).into_response();
    let cookie = state.sessions.cookie(&id, SESSION_LIFETIME);
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("an ASCII cookie"));
    Ok(response)
}

async fn who(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<serde_json::Value>, ApiError> {
    if state.tokens.is_empty() {
        return Ok(Json(session_answer(&open_entry(), "", true)));
    }
    let id =
        session_cookie(&headers).ok_or_else(|| error(StatusCode::UNAUTHORIZED, "unauthorized", "not signed in"))?;
    let session = state
        .sessions
        .find(&id, Instant::now())
        .ok_or_else(|| error(StatusCode::UNAUTHORIZED, "unauthorized", "the session has ended; sign in again"))?;
    Ok(Json(session_answer(&session.token, &session.csrf, false)))
}

async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    match state.sessions.caller(&headers, true, Instant::now()) {
        Ok(_) | Err(SessionRefusal::Unknown) => {}
        Err(SessionRefusal::NoCookie) => return Err(error(StatusCode::UNAUTHORIZED, "unauthorized", "not signed in")),
        Err(SessionRefusal::Csrf) => return Err(csrf_refusal()),
    }
    if let Some(id) = session_cookie(&headers) {
        state.sessions.end(&id);
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let cookie = state.sessions.cookie("", Duration::ZERO);
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("an ASCII cookie"));
    Ok(response)
}

/// 403 for a cookie-authenticated write without the session's CSRF token.
pub fn csrf_refusal() -> ApiError {
    error(StatusCode::FORBIDDEN, "csrf", "a write with the session cookie needs the session's token in X-CSRF-Token")
}

/// The page's files, embedded at build time (`projector/console/`; Chart.js from npm,
/// installed by `scripts/setup.sh` with the lockfile).
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("app.js", "text/javascript; charset=utf-8", include_bytes!("../console/app.js")),
    ("app.css", "text/css; charset=utf-8", include_bytes!("../console/app.css")),
    (
        "chart.umd.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../console/node_modules/chart.js/dist/chart.umd.min.js"),
    ),
];

const INDEX: &[u8] = include_bytes!("../console/index.html");

/// What every console answer carries: nothing but this origin's scripts and styles, no
/// framing, no sniffing.
fn secured(mut response: Response, content_type: &'static str, cache: bool) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(if cache { "public, max-age=300" } else { "no-store" }),
    );
    response
}

async fn index() -> Response {
    secured(INDEX.into_response(), "text/html; charset=utf-8", false)
}

async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => secured(bytes.into_response(), content_type, true),
        None => error(StatusCode::NOT_FOUND, "not_found", format!("no console asset {file:?}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> TokenEntry {
        TokenEntry { tenant: "acme".into(), sha256: "00".repeat(32), name: "ana".into(), role: Role::Analyst }
    }

    fn headers(cookie: Option<&str>, csrf: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(c) = cookie {
            h.insert(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        if let Some(c) = csrf {
            h.insert(CSRF_HEADER, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    #[test]
    fn a_session_reads_freely_and_writes_only_with_its_csrf_token() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let (id, csrf) = sessions.start(entry(), now).unwrap();
        let cookie = format!("theme=dark; {COOKIE}={id}");
        assert_eq!(sessions.caller(&headers(Some(&cookie), None), false, now).unwrap().name, "ana");
        assert_eq!(sessions.caller(&headers(Some(&cookie), None), true, now).unwrap_err(), SessionRefusal::Csrf);
        assert_eq!(
            sessions.caller(&headers(Some(&cookie), Some("nope")), true, now).unwrap_err(),
            SessionRefusal::Csrf
        );
        assert!(sessions.caller(&headers(Some(&cookie), Some(&csrf)), true, now).is_ok());
        assert_eq!(sessions.caller(&headers(None, Some(&csrf)), true, now).unwrap_err(), SessionRefusal::NoCookie);
        let other = format!("{COOKIE}={}", "ab".repeat(32));
        assert_eq!(sessions.caller(&headers(Some(&other), None), false, now).unwrap_err(), SessionRefusal::Unknown);
    }

    #[test]
    fn the_cookie_is_http_only_same_site_strict_and_secure_when_configured() {
        let plain = Sessions::new(false).cookie("abc", SESSION_LIFETIME);
        assert_eq!(plain, format!("{COOKIE}=abc; HttpOnly; SameSite=Strict; Path=/; Max-Age=28800"));
        let secure = Sessions::new(true).cookie("", Duration::ZERO);
        assert_eq!(secure, format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0; Secure"));
    }

    #[test]
    fn sessions_expire_and_end() {
        let sessions = Sessions::default();
        let now = Instant::now();
        let (id, _) = sessions.start(entry(), now).unwrap();
        let cookie = format!("{COOKIE}={id}");
        let later = now + SESSION_LIFETIME + Duration::from_secs(1);
        assert_eq!(sessions.caller(&headers(Some(&cookie), None), false, later).unwrap_err(), SessionRefusal::Unknown);
        let (id, _) = sessions.start(entry(), now).unwrap();
        sessions.end(&id);
        let cookie = format!("{COOKIE}={id}");
        assert_eq!(sessions.caller(&headers(Some(&cookie), None), false, now).unwrap_err(), SessionRefusal::Unknown);
    }

    #[test]
    fn every_asset_the_page_names_is_embedded() {
        let page = String::from_utf8_lossy(INDEX);
        for (name, _, bytes) in ASSETS {
            assert!(!bytes.is_empty(), "{name} is empty");
            assert!(page.contains(&format!("/console/assets/{name}")), "the page does not load {name}");
        }
    }
}
