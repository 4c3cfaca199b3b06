//! The live event log as server-sent events: the latest events at once,
//! then each new one as it is written (polled every second, by id).

use std::{convert::Infallible, time::Duration};

use super::{AppState, Result, session::Session};
use crate::operators::Role;
use axum::{
    Router,
    extract::State,
    response::sse::{Event as SseEvent, KeepAlive, Sse},
    routing::get,
};
use futures::stream::{self, Stream};

pub fn router() -> Router<AppState> {
    Router::new().route("/events/stream", get(stream_events))
}

/// The next events after `after` that the role may see.
async fn batch(state: &AppState, role: Role, after: u64) -> Vec<(u64, String)> {
    let rows = crate::events::after(&state.pool, role, after, 50).await.unwrap_or_default();
    rows.into_iter()
        .map(|(id, at, kind, severity, message)| {
            let data = serde_json::json!({ "id": id, "at": state.local_time(at), "kind": kind, "severity": severity, "message": message });
            (id, data.to_string())
        })
        .collect()
}

async fn stream_events(State(state): State<AppState>, session: Session) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>> {
    // Start from the ten latest events so a new page has something at once.
    let start = crate::events::id_before_latest(&state.pool, 10).await?;
    let role = session.operator.role;
    let s =
        stream::unfold((state, start, Vec::<(u64, String)>::new(), true), move |(state, mut last, mut pending, mut first)| async move {
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
                pending = batch(&state, role, last).await;
            }
        });
    Ok(Sse::new(s).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}
