//! The live event log as server-sent events. Each event carries its row id;
//! a browser that reconnects sends `Last-Event-ID` (or a page passes
//! `?after=`) and first gets what it missed, read from `event_log`, then
//! every new row as the process's bus publishes it. `?tiles=1` adds the
//! dashboard's changed tiles as `tiles` events. A stream shows only what
//! the operator's role may see, sends a keep-alive every 15 s, and ends
//! with a `signed-out` event once its session is gone (checked every 30 s).

use std::{collections::HashSet, convert::Infallible, sync::Arc, time::Duration};

use axum::{
    Router,
    extract::{Query, State},
    http::HeaderMap,
    response::sse::{Event as SseEvent, KeepAlive, Sse},
    routing::get,
};
use axum_extra::extract::CookieJar;
use futures::stream::Stream;
use tokio::sync::{broadcast::error::RecvError, mpsc};

use super::{AppError, AppState, Result, session::Session};
use crate::{events::Row, operators::Role};

pub fn router() -> Router<AppState> {
    Router::new().route("/events/stream", get(stream_events))
}

/// Rows a reconnecting stream replays at most; past that it says how many it skipped.
const REPLAY_MAX: u32 = 500;
/// Rows a new stream (no id given) starts with.
const FRESH_START: u64 = 10;
/// How often a stream checks that its session still stands.
const SESSION_CHECK: Duration = Duration::from_secs(30);

#[derive(serde::Deserialize)]
struct StreamQuery {
    after: Option<u64>,
    #[serde(default)]
    tiles: Option<String>,
}

fn log_event(state: &AppState, row: &Row) -> SseEvent {
    let data = serde_json::json!({
        "id": row.id, "at": state.local_time(row.occurred_at), "kind": row.kind, "severity": row.severity, "message": row.message,
    });
    SseEvent::default().id(row.id.to_string()).event("log").data(data.to_string())
}

async fn stream_events(
    State(state): State<AppState>,
    session: Session,
    jar: CookieJar,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> Result<Sse<impl Stream<Item = std::result::Result<SseEvent, Infallible>>>> {
    let role = session.operator.role;
    // Held by the stream below: the slot comes back when the client goes.
    let slot = state.streams.take(session.operator.id).map_err(|full| AppError::TooMany(full.to_string()))?;
    let resume = headers.get("last-event-id").and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok()).or(q.after);
    let start = match resume {
        Some(id) => id,
        None => crate::events::id_before_latest(&state.pool, FRESH_START).await?,
    };
    let token = jar.get(super::session::SESSION_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    let tiles = q.tiles.is_some_and(|t| t != "0") && state.config.modules.dashboard;
    // Subscribe before reading the backlog, so nothing falls between them.
    let rx = state.bus.subscribe(&state.pool);
    let tiles_rx = tiles.then(|| state.board.subscribe(&state));
    let (tx, out) = mpsc::channel::<SseEvent>(64);
    tokio::spawn(feed(state, role, token, start, rx, tiles_rx, tx));
    let stream = futures::stream::unfold((out, slot), |(mut out, slot)| async move { out.recv().await.map(|e| (Ok(e), (out, slot))) });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Reads `after`'s backlog visible to `role` into the stream; returns the ids sent.
async fn backlog(state: &AppState, role: Role, after: u64, tx: &mpsc::Sender<SseEvent>) -> Option<(HashSet<u64>, u64)> {
    let rows = crate::events::after(&state.pool, role, after, REPLAY_MAX + 1).await.ok()?;
    let mut sent = HashSet::with_capacity(rows.len());
    let mut newest = after;
    let skipped = rows.len() > REPLAY_MAX as usize;
    // Past the replay bound, send the newest REPLAY_MAX and say so.
    let rows = if skipped {
        let data =
            serde_json::json!({ "message": "more happened while this page was away than a stream replays; the oldest of it is not shown" });
        tx.send(SseEvent::default().event("truncated").data(data.to_string())).await.ok()?;
        let mut latest = crate::events::recent(&state.pool, role, REPLAY_MAX).await.ok()?;
        latest.reverse();
        latest
    } else {
        rows
    };
    for row in rows {
        newest = newest.max(row.id);
        sent.insert(row.id);
        tx.send(log_event(state, &row)).await.ok()?;
    }
    Some((sent, newest))
}

async fn feed(
    state: AppState,
    role: Role,
    token: String,
    start: u64,
    mut rx: tokio::sync::broadcast::Receiver<Arc<Row>>,
    mut tiles_rx: Option<tokio::sync::broadcast::Receiver<Arc<Vec<crate::dashboard::Tile>>>>,
    tx: mpsc::Sender<SseEvent>,
) {
    state.metrics.sse_clients.inc();
    let _gone = Gone(state.metrics.clone());
    let Some((mut replayed, mut newest)) = backlog(&state, role, start, &tx).await else { return };
    if tiles_rx.is_some() {
        let now: Vec<_> = state.board.snapshot(&state).into_iter().filter(|t| t.audience.visible_to_role(role)).collect();
        if tx.send(SseEvent::default().event("tiles").data(serde_json::to_string(&now).unwrap_or_default())).await.is_err() {
            return;
        }
    }
    let mut check = tokio::time::interval(SESSION_CHECK);
    check.tick().await;
    loop {
        let tiles_next = async {
            match tiles_rx.as_mut() {
                Some(r) => r.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            got = rx.recv() => match got {
                Ok(row) => {
                    // Rows the backlog already sent come again from the bus once: skip them.
                    if replayed.remove(&row.id) || !crate::events::Audience::parse(&row.audience).visible_to_role(role) {
                        continue;
                    }
                    newest = newest.max(row.id);
                    if tx.send(log_event(&state, &row)).await.is_err() {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {
                    // This stream fell behind the bus: read what it missed from the table.
                    match backlog(&state, role, newest, &tx).await {
                        Some((again, n)) => {
                            replayed.extend(again);
                            newest = n;
                        }
                        None => return,
                    }
                }
                Err(RecvError::Closed) => return,
            },
            got = tiles_next => match got {
                Ok(tiles) => {
                    let visible: Vec<_> = tiles.iter().filter(|t| t.audience.visible_to_role(role)).collect();
                    if !visible.is_empty()
                        && tx.send(SseEvent::default().event("tiles").data(serde_json::to_string(&visible).unwrap_or_default())).await.is_err()
                    {
                        return;
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => tiles_rx = None,
            },
            _ = check.tick() => {
                let live = crate::operators::sessions::lookup(&state.pool, &token, state.config.server.session_hours).await;
                if matches!(live, Ok(None)) {
                    let _ = tx.send(SseEvent::default().event("signed-out").data("{}")).await;
                    return;
                }
            }
            () = tx.closed() => return,
        }
    }
}

/// Counts a stream out when its feed ends, however it ends.
struct Gone(Arc<crate::metrics::Metrics>);

impl Drop for Gone {
    fn drop(&mut self) {
        self.0.sse_clients.dec();
    }
}
