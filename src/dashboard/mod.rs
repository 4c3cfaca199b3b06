//! The live dashboard: tiles read by collectors, each a small unit behind
//! [`Collector`] (name, TTL, deadline, collect). A render asks every
//! collector at once; each answers from its TTL cache when fresh, else
//! starts (or joins) one collection and waits for it no longer than its
//! deadline. A source slower than that shows its last value as *stale* and
//! keeps collecting in the background for the next render; one that fails
//! shows *failed* with its error, cached for its TTL so a failing service is
//! not hammered. No tile can hold up another, so a render takes at most the
//! longest deadline.
//!
//! While a dashboard is open the board refreshes itself every
//! `dashboard.refresh_seconds` and broadcasts the tiles that changed, which
//! the event stream carries to the page. Collectors' readings also carry the
//! samples `/metrics` exposes, so the page and Prometheus see one truth.

pub mod charts;
pub mod collectors;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use chrono::{NaiveDateTime, Utc};
use futures::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::{events::Audience, metrics::Labels, operators::Role, services::Services};

/// How a tile's figure reads at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Warn,
    Bad,
    /// Not configured or its module is off.
    Off,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Ok => "ok",
            Level::Warn => "warn",
            Level::Bad => "bad",
            Level::Off => "off",
        }
    }

    /// `Warn` past `warn`, `Bad` past `bad` (both inclusive).
    pub fn by(value: i64, warn: i64, bad: i64) -> Level {
        if value >= bad {
            Level::Bad
        } else if value >= warn {
            Level::Warn
        } else {
            Level::Ok
        }
    }
}

/// A series value for `/metrics`: (gauge name from [`crate::metrics::GAUGES`], labels, value).
pub type Sample = (&'static str, Labels, f64);

/// What one collection read.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reading {
    /// The headline figure, as shown ("12", "98 %", "OK").
    pub value: String,
    /// One line under it ("oldest waits 2 h 5 min").
    pub detail: String,
    pub level: Option<Level>,
    /// A short breakdown (per station, per job, the lowest SKUs…).
    pub rows: Vec<(String, String)>,
    pub samples: Vec<Sample>,
}

impl Reading {
    pub fn new(value: impl ToString, level: Level) -> Self {
        Self { value: value.to_string(), level: Some(level), ..Self::default() }
    }

    pub fn detail(mut self, d: impl Into<String>) -> Self {
        self.detail = d.into();
        self
    }

    pub fn row(mut self, k: impl Into<String>, v: impl Into<String>) -> Self {
        self.rows.push((k.into(), v.into()));
        self
    }

    pub fn sample(mut self, name: &'static str, labels: &[(&str, &str)], value: f64) -> Self {
        self.samples.push((name, labels.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(), value));
        self
    }
}

/// One tile source.
pub trait Collector: Send + Sync {
    /// Its key (`awaiting_pick`): the tile's id on the page and in metrics.
    fn name(&self) -> &'static str;
    /// The tile's heading.
    fn title(&self) -> &'static str;
    /// How long a reading stays fresh.
    fn ttl(&self) -> Duration {
        Duration::from_secs(10)
    }
    /// How long a render waits for a collection before showing the last value as stale.
    fn deadline(&self) -> Duration {
        Duration::from_millis(500)
    }
    /// Who sees the tile.
    fn audience(&self) -> Audience {
        Audience::All
    }
    /// One reading.
    fn collect<'a>(&'a self, st: &'a Services) -> BoxFuture<'a, anyhow::Result<Reading>>;
}

/// How fresh a tile is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Read within its TTL.
    Fresh,
    /// Its source did not answer within the deadline: the last value, if any.
    Stale,
    /// Its source failed: the error, and the last value if any.
    Failed,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Fresh => "fresh",
            Status::Stale => "stale",
            Status::Failed => "failed",
        }
    }
}

/// A tile as the page and the stream show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Tile {
    pub name: &'static str,
    pub title: &'static str,
    pub value: String,
    pub detail: String,
    pub level: &'static str,
    pub status: &'static str,
    /// Why it failed, or how long its source has been silent.
    pub note: String,
    /// When its value was read (UTC), for "as of" on the page.
    #[serde(skip)]
    pub read_at: Option<NaiveDateTime>,
    /// The reading's time in the tenant's zone ("14:05:09").
    pub updated: String,
    pub rows: Vec<(String, String)>,
    #[serde(skip)]
    pub audience: Audience,
}

type Pending = Shared<BoxFuture<'static, ()>>;

#[derive(Default)]
struct Slot {
    /// The last good reading and when it was read.
    last: Option<(Instant, NaiveDateTime, Arc<Reading>)>,
    /// The last failure, when newer than `last`.
    failed: Option<(Instant, String)>,
    /// A collection under way.
    pending: Option<Pending>,
}

/// The longest a collection may run in the background before it counts as failed.
const HARD_CAP: Duration = Duration::from_secs(30);

/// Every collector with its cache.
pub struct Board {
    collectors: Vec<Arc<dyn Collector>>,
    slots: Vec<Arc<Mutex<Slot>>>,
    tx: broadcast::Sender<Arc<Vec<Tile>>>,
    refresher: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Board {
    /// A board of `collectors`.
    pub fn new(collectors: Vec<Arc<dyn Collector>>) -> Self {
        let slots = collectors.iter().map(|_| Arc::new(Mutex::new(Slot::default()))).collect();
        let (tx, _) = broadcast::channel(16);
        Self { collectors, slots, tx, refresher: Mutex::new(None) }
    }

    /// The standard board (every collector in [`collectors::all`]).
    pub fn standard() -> Self {
        Self::new(collectors::all())
    }

    /// The collectors' names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.collectors.iter().map(|c| c.name()).collect()
    }

    /// Every tile, each collected or answered from cache within its deadline.
    pub async fn render(&self, st: &Services) -> Vec<Tile> {
        let reads = (0..self.collectors.len()).map(|i| self.read(i, st));
        futures::future::join_all(reads).await
    }

    /// The tiles `role` may see.
    pub async fn render_for(&self, st: &Services, role: Role) -> Vec<Tile> {
        self.render(st).await.into_iter().filter(|t| t.audience.visible_to_role(role)).collect()
    }

    /// What the cache holds now, collecting nothing.
    pub fn snapshot(&self, st: &Services) -> Vec<Tile> {
        (0..self.collectors.len()).map(|i| self.view(i, st, None)).collect()
    }

    /// Every sample the last readings carry (for `/metrics`).
    pub fn samples(&self) -> Vec<Sample> {
        let mut out = Vec::new();
        for slot in &self.slots {
            if let Ok(s) = slot.lock()
                && let Some((_, _, r)) = &s.last
            {
                out.extend(r.samples.iter().cloned());
            }
        }
        out
    }

    /// Changed tiles while a dashboard is open (the refresher starts with
    /// the first listener and stops a while after the last one leaves).
    pub fn subscribe(self: &Arc<Self>, st: &Services) -> broadcast::Receiver<Arc<Vec<Tile>>> {
        let rx = self.tx.subscribe();
        if let Ok(mut r) = self.refresher.lock()
            && r.as_ref().is_none_or(|h| h.is_finished())
        {
            *r = Some(tokio::spawn(refresh(self.clone(), st.clone())));
        }
        rx
    }

    async fn read(&self, i: usize, st: &Services) -> Tile {
        let c = &self.collectors[i];
        let pending = {
            let Ok(mut s) = self.slots[i].lock() else { return self.view(i, st, None) };
            let ttl = c.ttl();
            let fresh = s.last.as_ref().is_some_and(|(at, _, _)| at.elapsed() < ttl);
            let failed_recently = s.failed.as_ref().is_some_and(|(at, _)| at.elapsed() < ttl);
            if fresh || failed_recently {
                drop(s);
                return self.view(i, st, None);
            }
            match &s.pending {
                Some(p) => p.clone(),
                None => {
                    let p = self.start(i, st);
                    s.pending = Some(p.clone());
                    p
                }
            }
        };
        match tokio::time::timeout(c.deadline(), pending).await {
            Ok(()) => self.view(i, st, None),
            Err(_) => {
                st.metrics.collector_timeouts.get_or_create(&crate::metrics::CollectorLabels { collector: c.name().to_owned() }).inc();
                self.view(i, st, Some(c.deadline()))
            }
        }
    }

    /// Starts one collection on its own task: it finishes (and fills the
    /// cache) even when every render stopped waiting for it.
    fn start(&self, i: usize, st: &Services) -> Pending {
        let (c, slot, st) = (self.collectors[i].clone(), self.slots[i].clone(), st.clone());
        let task = tokio::spawn(async move {
            let started = Instant::now();
            let result = tokio::time::timeout(HARD_CAP, c.collect(&st)).await;
            let labels = crate::metrics::CollectorLabels { collector: c.name().to_owned() };
            st.metrics.collector_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
            let failure = match result {
                Ok(Ok(reading)) => {
                    if let Ok(mut s) = slot.lock() {
                        s.last = Some((Instant::now(), Utc::now().naive_utc(), Arc::new(reading)));
                        s.failed = None;
                    }
                    None
                }
                Ok(Err(e)) => Some(format!("{e:#}")),
                Err(_) => Some(format!("no answer within {} s", HARD_CAP.as_secs())),
            };
            if let Some(message) = failure {
                st.metrics.collector_failures.get_or_create(&labels).inc();
                tracing::warn!(collector = c.name(), error = %message, "dashboard collector failed");
                if let Ok(mut s) = slot.lock() {
                    s.failed = Some((Instant::now(), message.chars().take(300).collect()));
                }
            }
            if let Ok(mut s) = slot.lock() {
                s.pending = None;
            }
        });
        async move {
            let _ = task.await;
        }
        .boxed()
        .shared()
    }

    /// The tile from the cache; `waited` when a render gave up on the source.
    fn view(&self, i: usize, st: &Services, waited: Option<Duration>) -> Tile {
        let c = &self.collectors[i];
        let mut tile = Tile {
            name: c.name(),
            title: c.title(),
            value: "…".into(),
            detail: String::new(),
            level: Level::Off.as_str(),
            status: Status::Stale.as_str(),
            note: String::new(),
            read_at: None,
            updated: String::new(),
            rows: Vec::new(),
            audience: c.audience(),
        };
        let Ok(s) = self.slots[i].lock() else { return tile };
        if let Some((at, utc, r)) = &s.last {
            tile.value = r.value.clone();
            tile.detail = r.detail.clone();
            tile.level = r.level.unwrap_or(Level::Ok).as_str();
            tile.rows = r.rows.clone();
            tile.read_at = Some(*utc);
            tile.updated = utc.and_utc().with_timezone(&st.tz()).format("%H:%M:%S").to_string();
            tile.status = if at.elapsed() < c.ttl() { Status::Fresh } else { Status::Stale }.as_str();
        }
        if let Some((_, error)) = &s.failed {
            tile.status = Status::Failed.as_str();
            tile.level = Level::Bad.as_str();
            tile.note = error.clone();
        } else if let Some(d) = waited {
            tile.status = Status::Stale.as_str();
            tile.note = format!("no answer within {} ms; still asking", d.as_millis());
        } else if tile.status == Status::Stale.as_str() && s.pending.is_some() {
            tile.note = "still asking".into();
        }
        tile
    }
}

/// While anyone listens: renders every `dashboard.refresh_seconds` and
/// broadcasts the tiles whose shown content changed.
async fn refresh(board: Arc<Board>, st: Services) {
    let every = Duration::from_secs(u64::from(st.config.dashboard.refresh_seconds.max(1)));
    let mut last: HashMap<&'static str, Tile> = HashMap::new();
    let mut idle = 0u32;
    loop {
        tokio::time::sleep(every).await;
        if board.tx.receiver_count() == 0 {
            idle += 1;
            if idle * every.as_secs().max(1) as u32 > 60 {
                return;
            }
            continue;
        }
        idle = 0;
        let tiles = board.render(&st).await;
        let changed: Vec<Tile> = tiles.into_iter().filter(|t| last.get(t.name) != Some(t)).collect();
        for t in &changed {
            last.insert(t.name, t.clone());
        }
        if !changed.is_empty() {
            let _ = board.tx.send(Arc::new(changed));
        }
    }
}

/// "3 h 10 min", "45 s": how long ago `then` was (UTC).
pub fn ago(then: NaiveDateTime) -> String {
    let secs = (Utc::now().naive_utc() - then).num_seconds().max(0);
    match secs {
        0..60 => format!("{secs} s"),
        60..3600 => format!("{} min", secs / 60),
        3600..86_400 => format!("{} h {} min", secs / 3600, secs % 3600 / 60),
        _ => format!("{} d {} h", secs / 86_400, secs % 86_400 / 3600),
    }
}

/// Seconds since `then` (UTC), for samples.
pub fn age_seconds(then: NaiveDateTime) -> f64 {
    (Utc::now().naive_utc() - then).num_milliseconds().max(0) as f64 / 1000.0
}

/// Unix time of a UTC timestamp, for samples.
pub fn unix(t: NaiveDateTime) -> f64 {
    t.and_utc().timestamp_millis() as f64 / 1000.0
}
