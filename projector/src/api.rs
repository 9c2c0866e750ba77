//! The HTTP JSON API under `/api/v1/`. Errors are JSON: `{"error": {"code", "message"}}`.

use crate::query::{self, Trace};
use crate::store::Store;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use proto::subject::{STREAM_EVENTS, STREAM_RAW};
use proto::{PosternId, TenantId};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

pub fn router(store: Arc<Store>) -> Router {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/messages", get(search_messages))
        .route("/api/v1/messages/{postern_id}", get(get_message))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint") })
        .with_state(store)
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
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({"error": {"code": self.code, "message": self.message}}))).into_response()
    }
}

impl From<crate::error::StoreError> for ApiError {
    fn from(e: crate::error::StoreError) -> Self {
        tracing::error!(error = %e, "store read failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the views could not be read")
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MessagesQuery {
    /// RFC 5322 Message-ID, with or without angle brackets.
    message_id: Option<String>,
    /// Postern's id.
    postern_id: Option<String>,
    /// Tenant; `default` when absent.
    tenant: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantQuery {
    tenant: Option<String>,
}

fn tenant_of(param: Option<&str>) -> Result<TenantId, ApiError> {
    TenantId::new(param.unwrap_or("default")).map_err(|e| ApiError::bad_request(e.to_string()))
}

async fn health(State(store): State<Arc<Store>>) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(json!({
        "status": "ok",
        "checkpoints": {
            STREAM_RAW: store.checkpoint(STREAM_RAW)?,
            STREAM_EVENTS: store.checkpoint(STREAM_EVENTS)?,
        }
    })))
}

async fn search_messages(
    State(store): State<Arc<Store>>,
    query: Result<Query<MessagesQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let tenant = tenant_of(q.tenant.as_deref())?;
    let records = match (q.message_id.as_deref(), q.postern_id.as_deref()) {
        (Some(mid), None) if !mid.trim().is_empty() => query::by_message_id(&store, tenant.as_str(), mid)?,
        (None, Some(pid)) => {
            let pid = PosternId::parse(pid).map_err(|e| ApiError::bad_request(e.to_string()))?;
            query::by_postern_id(&store, tenant.as_str(), pid.as_str())?.into_iter().collect()
        }
        _ => return Err(ApiError::bad_request("give exactly one of message_id or postern_id")),
    };
    let messages: Vec<Trace> = records.iter().map(Trace::of).collect();
    Ok(Json(json!({ "messages": messages })))
}

async fn get_message(
    State(store): State<Arc<Store>>,
    Path(postern_id): Path<String>,
    query: Result<Query<TenantQuery>, QueryRejection>,
) -> Result<Json<Trace>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let tenant = tenant_of(q.tenant.as_deref())?;
    let pid = PosternId::parse(&postern_id).map_err(|e| ApiError::bad_request(e.to_string()))?;
    match query::by_postern_id(&store, tenant.as_str(), pid.as_str())? {
        Some(record) => Ok(Json(Trace::of(&record))),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no message {pid} in tenant {tenant}"))),
    }
}
