//! The in-process fan-out of the event log. One pump per process tails
//! `event_log` and broadcasts each new row once to every live stream, so 200
//! open dashboards cost one indexed query per tick, not 200. The pump runs
//! only while someone listens, wakes at once when this process records an
//! event, and polls every [`POLL`] for rows other replicas wrote.
//!
//! Ids are handed out at insert and committed in any order, so a row can
//! appear after a higher id was already published (a long transaction). The
//! pump remembers the ids it skipped over and looks for them again for
//! [`GAP_WAIT`]; past that the id is taken as rolled back.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use sqlx::MySqlPool;
use tokio::sync::{Notify, broadcast};

use super::Row;

/// How often the pump looks for rows written elsewhere.
pub const POLL: Duration = Duration::from_millis(500);
/// How long an id skipped over is looked for before it counts as rolled back.
pub const GAP_WAIT: Duration = Duration::from_secs(15);
/// How long the pump lives on with nobody listening.
const IDLE_EXIT: Duration = Duration::from_secs(30);
/// Rows one tick reads at most; a bigger burst drains over several ticks.
const BATCH: u32 = 1000;
/// Rows a slow stream may fall behind before it re-reads from the table.
const CAPACITY: usize = 4096;

/// Wakes every pump in this process: a row was just recorded. (One process
/// serves one tenant; in a test binary holding many apps a wake only costs
/// the other pumps a query.)
static RECORDED: Notify = Notify::const_new();

/// Called by [`super::record`].
pub(super) fn recorded() {
    RECORDED.notify_waiters();
}

/// The process's event fan-out.
pub struct EventBus {
    tx: broadcast::Sender<Arc<Row>>,
    pump: Mutex<Option<tokio::task::JoinHandle<()>>>,
    on_publish: Option<Arc<dyn Fn(u64) + Send + Sync>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new(None)
    }
}

impl EventBus {
    /// A bus; `on_publish(n)` is told how many rows each tick published (metrics).
    pub fn new(on_publish: Option<Arc<dyn Fn(u64) + Send + Sync>>) -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self { tx, pump: Mutex::new(None), on_publish }
    }

    /// A receiver of every row committed from now on (any audience: the
    /// stream filters), starting the pump when it is not running.
    pub fn subscribe(&self, pool: &MySqlPool) -> broadcast::Receiver<Arc<Row>> {
        let rx = self.tx.subscribe();
        if let Ok(mut pump) = self.pump.lock()
            && pump.as_ref().is_none_or(|h| h.is_finished())
        {
            *pump = Some(tokio::spawn(run(pool.clone(), self.tx.clone(), self.on_publish.clone())));
        }
        rx
    }

    /// Streams listening now.
    pub fn listeners(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// What the pump has published, and the ids it is still waiting for.
#[derive(Debug, Default)]
pub struct Tail {
    /// The highest id published.
    pub newest: u64,
    /// Ids below `newest` not seen yet, with when they were first missed.
    pub missing: BTreeMap<u64, Instant>,
}

impl Tail {
    /// Takes a batch read after `newest` (and any found among the missing):
    /// returns the rows not published before, in id order.
    pub fn take(&mut self, rows: Vec<Row>, now: Instant) -> Vec<Row> {
        let mut out = Vec::with_capacity(rows.len());
        let mut seen = BTreeSet::new();
        for row in rows {
            if !seen.insert(row.id) {
                continue;
            }
            if row.id > self.newest {
                for skipped in self.newest + 1..row.id {
                    // A burst of rollbacks could be huge: remember a bounded number.
                    if self.missing.len() < 10_000 {
                        self.missing.insert(skipped, now);
                    }
                }
                self.newest = row.id;
                out.push(row);
            } else if self.missing.remove(&row.id).is_some() {
                out.push(row);
            }
        }
        self.missing.retain(|_, since| now.duration_since(*since) < GAP_WAIT);
        out.sort_by_key(|r| r.id);
        out
    }
}

async fn run(pool: MySqlPool, tx: broadcast::Sender<Arc<Row>>, on_publish: Option<Arc<dyn Fn(u64) + Send + Sync>>) {
    let mut tail = Tail { newest: super::newest_id(&pool).await.unwrap_or(0), missing: BTreeMap::new() };
    let mut idle_since: Option<Instant> = None;
    loop {
        if tx.receiver_count() == 0 {
            let since = *idle_since.get_or_insert_with(Instant::now);
            if since.elapsed() > IDLE_EXIT {
                return;
            }
        } else {
            idle_since = None;
        }
        tokio::select! {
            () = RECORDED.notified() => {}
            () = tokio::time::sleep(POLL) => {}
        }
        let mut rows = match super::between(&pool, tail.newest, u64::MAX, BATCH).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(error = %e, "event bus could not read the event log; retrying");
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        if let (Some(&low), Some(&high)) = (tail.missing.keys().next(), tail.missing.keys().next_back()) {
            rows.extend(super::between(&pool, low - 1, high, BATCH).await.unwrap_or_default());
        }
        let fresh = tail.take(rows, Instant::now());
        if let Some(f) = &on_publish
            && !fresh.is_empty()
        {
            f(fresh.len() as u64);
        }
        for row in fresh {
            // No receiver is not an error: the pump idles out.
            let _ = tx.send(Arc::new(row));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: u64) -> Row {
        Row {
            id,
            occurred_at: chrono::NaiveDateTime::default(),
            kind: "k".into(),
            severity: "info".into(),
            audience: "all".into(),
            message: String::new(),
        }
    }

    fn ids(rows: &[Row]) -> Vec<u64> {
        rows.iter().map(|r| r.id).collect()
    }

    #[test]
    fn a_row_committed_late_is_published_once_when_it_appears() {
        let t0 = Instant::now();
        let mut tail = Tail { newest: 10, missing: BTreeMap::new() };
        // 12 and 13 commit before 11.
        assert_eq!(ids(&tail.take(vec![row(12), row(13)], t0)), vec![12, 13]);
        assert_eq!(tail.missing.keys().copied().collect::<Vec<_>>(), vec![11]);
        // The next tick reads the gap range again (12, 13 again) and 11 at last.
        assert_eq!(ids(&tail.take(vec![row(11), row(12), row(13)], t0 + Duration::from_secs(1))), vec![11]);
        assert!(tail.missing.is_empty());
        // Nothing is published twice.
        assert!(tail.take(vec![row(11), row(13)], t0 + Duration::from_secs(2)).is_empty());
    }

    #[test]
    fn a_rolled_back_id_is_given_up_after_the_wait() {
        let t0 = Instant::now();
        let mut tail = Tail { newest: 0, missing: BTreeMap::new() };
        tail.take(vec![row(2)], t0);
        assert!(tail.missing.contains_key(&1));
        tail.take(vec![], t0 + GAP_WAIT + Duration::from_millis(1));
        assert!(tail.missing.is_empty());
        // Had it come after all, it would not be published: it is older than the window.
        assert!(tail.take(vec![row(1)], t0 + GAP_WAIT * 2).is_empty());
    }
}
