//! The live event log as server-sent events: the latest events at once,
//! then each new one as it is written (polled every second, by id).

use std::{convert::Infallible, time::Duration};

use axum::{
    Router,
    extract::State,
    response::sse::{Event as SseEvent, KeepAlive, Sse},
    routing::get,
};
use futures::stream::{self, Stream};
use sqlx::Row;

use super::{AppState, Result, session::Session};

pub fn router() -> Router<AppState> {
    Router::new().route("/events/stream", get(stream_events))
}

async fn batch(state: &AppState, after: u64) -> Vec<(u64, String)> {
    let rows = sqlx::query(
        r#"SELECT id, occurred_at, kind, severity, message FROM event_log
           WHERE id > ? ORDER BY id DESC LIMIT 50"#,
    )
    .bind(after)
    .fetch_all(&state.pool)
    .await
    .unwrap_or_default();
    let mut out: Vec<(u64, String)> = rows
        .iter()
        .filter_map(|r| {
            let id: u64 = r.try_get("id").ok()?;
            let at: chrono::NaiveDateTime = r.try_get("occurred_at").ok()?;
            let data = serde_json::json!({
                "id": id,
                "at": state.local_time(at),
                "kind": r.try_get::<String, _>("kind").ok()?,
                "severity": r.try_get::<String, _>("severity").ok()?,
                "message": r.try_get::<String, _>("message").ok()?,
            });
            Some((id, data.to_string()))
        })
        .collect();
    out.reverse();
    out
}

async fn stream_events(State(state): State<AppState>, _session: Session) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    // Start from the ten latest events so a new page has something at once.
    let (start,): (u64,) =
        sqlx::query_as("SELECT CAST(GREATEST(COALESCE(MAX(id), 0) - 10, 0) AS UNSIGNED) FROM event_log").fetch_one(&state.pool).await?;
    let s = stream::unfold((state, start, Vec::<(u64, String)>::new(), true), |(state, mut last, mut pending, mut first)| async move {
        loop {
            if let Some((id, data)) = (!pending.is_empty()).then(|| pending.remove(0)) {
                last = last.max(id);
                let ev = SseEvent::default().id(id.to_string()).event("log").data(data);
                return Some((Ok(ev), (state, last, pending, first)));
            }
            if !first {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            first = false;
            pending = batch(&state, last).await;
        }
    });
    Ok(Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
