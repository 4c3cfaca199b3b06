//! Reading the tenant's price feeds (`sources`): supplier catalogs into
//! supplier costs, competitor lists into comparables, the two facts quote
//! pricing falls through to after stock. The job `price_feeds` runs a pass
//! every 15 minutes; each feed is fetched when its own `schedule` (default
//! every six hours) says it is due, and at once when it was never fetched.

use chrono::Utc;
use sqlx::MySqlPool;

use crate::{
    config::{NamedSource, Sources},
    events::{self, Event, Severity},
    feeds::{self, Fetched},
    inventory::{
        costs::{self, Observation},
        lookup::CodeLookup,
    },
    quotes::comparables,
};

/// Every six hours.
const DEFAULT_SCHEDULE: &str = "0 0 */6 * * *";

/// What a pass reads and where it writes.
pub struct Feeds<'a> {
    pub pool: &'a MySqlPool,
    pub lookup: &'a CodeLookup,
    pub sources: &'a Sources,
    pub currency: &'a str,
    /// Where relative feed paths in the tenant file start.
    pub base_dir: &'a std::path::Path,
}

/// What became of one feed.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct FeedRun {
    pub name: String,
    /// `read`, `unchanged`, `not_due` or `failed`.
    pub outcome: String,
    pub rows: u32,
    pub written: u64,
    pub refused: u32,
    /// The first refusals, "line N: why".
    pub refusals: Vec<String>,
    pub error: Option<String>,
}

/// Reads every due feed (`all`: every feed, due or not). A feed that fails
/// is reported and the others still run; the run fails only when every feed read failed.
pub async fn run(st: &Feeds<'_>, all: bool) -> anyhow::Result<Vec<FeedRun>> {
    let s = st.sources;
    let feeds = s.supplier_catalogs.iter().map(|f| (f, true)).chain(s.competitors.iter().map(|f| (f, false)));
    let http = feeds::client();
    let mut out = Vec::new();
    for (src, supplier) in feeds {
        let r = match one(st, &http, src, supplier, all).await {
            Ok(r) => r,
            Err(e) => {
                let message = format!("{e:#}");
                events::record(
                    st.pool,
                    Event::info("feed.failed", format!("price feed `{}` was not read: {message}", src.name)).severity(Severity::Error),
                )
                .await?;
                FeedRun { name: src.name.clone(), outcome: "failed".into(), error: Some(message), ..FeedRun::default() }
            }
        };
        out.push(r);
    }
    if !out.is_empty() && out.iter().all(|r| r.outcome == "failed") {
        anyhow::bail!("no price feed could be read: {}", out.iter().filter_map(|r| r.error.clone()).collect::<Vec<_>>().join("; "));
    }
    Ok(out)
}

async fn one(st: &Feeds<'_>, http: &reqwest::Client, src: &NamedSource, supplier: bool, all: bool) -> anyhow::Result<FeedRun> {
    let pool = st.pool;
    let known = feeds::state(pool, &src.name).await?;
    let mut run = FeedRun { name: src.name.clone(), ..FeedRun::default() };
    if !all && let Some(last) = known.fetched_at {
        let cron = crate::config::check::parse_cron(src.schedule.as_deref().unwrap_or(DEFAULT_SCHEDULE)).map_err(anyhow::Error::msg)?;
        let next = cron.find_next_occurrence(&last.and_utc(), false)?;
        if next > Utc::now() {
            run.outcome = "not_due".into();
            return Ok(run);
        }
    }
    let base_dir = st.base_dir;
    let (bytes, etag, last_modified) = match feeds::fetch(http, src, base_dir, &known).await? {
        Fetched::Unchanged => {
            feeds::touched(pool, &src.name).await?;
            run.outcome = "unchanged".into();
            return Ok(run);
        }
        Fetched::Body { bytes, etag, last_modified } => (bytes, etag, last_modified),
    };
    let now = Utc::now().naive_utc();
    let (rows, mut refused) = feeds::parse(src, &bytes, st.currency, now)?;
    let who = src.supplier.clone().unwrap_or_else(|| src.name.clone());
    let supplier_id = if supplier { Some(costs::supplier_id(pool, &who).await?) } else { None };
    let products = costs::resolve(pool, st.lookup, supplier_id, &rows).await?;
    let mut obs = Vec::with_capacity(rows.len());
    for (row, product) in rows.iter().zip(products) {
        match product {
            Some(pid) => obs.push(Observation::new(pid, row.cost_minor, &row.currency, row.observed_at)),
            None => {
                let named = [row.sku.as_deref(), row.gtin.as_deref(), row.part_number.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" / ");
                refused.push(feeds::Refused { line: row.line, reason: format!("no product with SKU, GTIN or part number {named}") });
            }
        }
    }
    run.written = match supplier_id {
        Some(id) => costs::record(pool, id, &src.name, &obs).await?,
        None => comparables::record(pool, &src.name, &obs).await?,
    };
    refused.sort_by_key(|r| r.line);
    run.rows = rows.len() as u32;
    run.refused = refused.len() as u32;
    run.refusals = refused.iter().take(20).map(|r| format!("line {}: {}", r.line, r.reason)).collect();
    feeds::remember(pool, &src.name, etag.as_deref(), last_modified.as_deref(), obs.len() as u32, run.refused).await?;
    run.outcome = "read".into();
    let what = if supplier { "supplier costs" } else { "comparables" };
    events::record(
        pool,
        Event::info("feed.read", format!("price feed `{}`: {} {what} from {} row(s)", src.name, obs.len(), run.rows))
            .audience(events::Audience::BackOffice),
    )
    .await?;
    if !refused.is_empty() {
        events::record(
            pool,
            Event::info(
                "feed.rows_refused",
                format!("price feed `{}`: {} row(s) not taken: {}", src.name, refused.len(), run.refusals.join("; ")),
            )
            .severity(Severity::Warning)
            .audience(events::Audience::BackOffice),
        )
        .await?;
    }
    Ok(run)
}
