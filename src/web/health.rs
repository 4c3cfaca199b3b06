//! Health endpoints for the container runtime and the edge: `/healthz` says
//! the process is up; `/readyz` says it can do its work (database reachable,
//! migrations current, config valid). Both sit outside sign-in and outside
//! the base path, so a healthcheck needs no prefix.

use axum::{Json, Router, extract::State, http::StatusCode, routing::get};
use serde_json::{Value, json};

use super::AppState;
use crate::db;

pub fn router() -> Router<AppState> {
    Router::new().route("/healthz", get(healthz)).route("/readyz", get(readyz))
}

async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = sqlx::query("SELECT 1").execute(&state.pool).await.map(|_| ()).map_err(|e| e.to_string());
    let migrations = match &database {
        Ok(()) => match db::migrations_current(&state.pool).await {
            Ok(true) => Ok(()),
            Ok(false) => Err("pending migrations: run `qm migrate`".to_owned()),
            Err(e) => Err(e.to_string()),
        },
        Err(_) => Err("database unreachable".to_owned()),
    };
    // The running config passed every check at start; a file edited since is
    // re-checked so a bad edit shows before the next restart fails.
    let config = crate::config::LoadedConfig::load(&state.loaded.path).map(|_| ()).map_err(|e| e.to_string());
    let check = |r: &Result<(), String>| match r {
        Ok(()) => json!("ok"),
        Err(e) => json!(e),
    };
    let ready = database.is_ok() && migrations.is_ok() && config.is_ok();
    if !ready {
        tracing::warn!(database = ?database.as_ref().err(), migrations = ?migrations.as_ref().err(), "not ready");
    }
    let body = json!({
        "status": if ready { "ready" } else { "not ready" },
        "tenant": state.config.tenant.id.as_str(),
        "checks": { "database": check(&database), "migrations": check(&migrations), "config": check(&config) },
    });
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}
