//! The cron fleet. Each job is a file with a `run_once` that tests call
//! directly; this module schedules them with tokio-cron-scheduler and
//! records every run in `job_runs`.

pub mod inventory_poll;
pub mod print_retry;
pub mod session_sweep;

use std::future::Future;

use serde_json::Value;
use sqlx::MySqlPool;
use tokio_cron_scheduler::{Job, JobScheduler};

use crate::app::AppState;

/// Starts the scheduler with every job the tenant's config enables.
pub async fn start(state: AppState) -> anyhow::Result<JobScheduler> {
    let scheduler = JobScheduler::new().await?;
    let pool = state.pool.clone();
    // Expired sessions are swept every 15 minutes, at second 30.
    scheduler
        .add(Job::new_async("30 */15 * * * *", move |_id, _lock| {
            let pool = pool.clone();
            Box::pin(async move {
                let _ = record(&pool, "session_sweep", async {
                    session_sweep::run_once(&pool).await.map(|n| serde_json::json!({ "deleted": n }))
                })
                .await;
            })
        })?)
        .await?;
    // The scanner lookup: rebuilt now (it served from disk until then) and every 10 minutes.
    let (lookup, pool) = (state.lookup.clone(), state.pool.clone());
    tokio::spawn(async move {
        let _ = record(&pool, "code_lookup_refresh", async { Ok(serde_json::json!({ "codes": lookup.refresh(&pool).await? })) }).await;
    });
    let (lookup, pool) = (state.lookup.clone(), state.pool.clone());
    scheduler
        .add(Job::new_async("45 */10 * * * *", move |_id, _lock| {
            let (lookup, pool) = (lookup.clone(), pool.clone());
            Box::pin(async move {
                let _ =
                    record(&pool, "code_lookup_refresh", async { Ok(serde_json::json!({ "codes": lookup.refresh(&pool).await? })) }).await;
            })
        })?)
        .await?;
    if !state.config.printers.is_empty() {
        let (pool, printers) = (state.pool.clone(), state.config.printers.clone());
        scheduler
            .add(Job::new_async("15 * * * * *", move |_id, _lock| {
                let (pool, printers) = (pool.clone(), printers.clone());
                Box::pin(async move {
                    let _ =
                        record(&pool, "print_retry", async { Ok(serde_json::to_value(print_retry::run_once(&pool, &printers).await?)?) })
                            .await;
                })
            })?)
            .await?;
    }
    if state.config.modules.fulfillment {
        // Tracking write-backs WooCommerce did not take yet, every minute at :40.
        let (pool, woo) = (state.pool.clone(), state.woo.clone());
        scheduler
            .add(Job::new_async("40 * * * * *", move |_id, _lock| {
                let (pool, woo) = (pool.clone(), woo.clone());
                Box::pin(async move {
                    let _ = record(&pool, "shipment_writeback", async {
                        let (done, failing) = crate::station::ship::write_back_pending(&pool, woo).await?;
                        Ok(serde_json::json!({ "done": done, "failing": failing }))
                    })
                    .await;
                })
            })?)
            .await?;
    }
    if state.config.modules.quotes {
        // Sent quotes past their window become expired, hourly at :05.
        let pool = state.pool.clone();
        scheduler
            .add(Job::new_async("0 5 * * * *", move |_id, _lock| {
                let pool = pool.clone();
                Box::pin(async move {
                    let _ = record(&pool, "quote_expiry", async {
                        Ok(serde_json::json!({ "expired": crate::quotes::quote::expire_due(&pool).await? }))
                    })
                    .await;
                })
            })?)
            .await?;
    }
    if state.config.modules.inventory_sync {
        // One poller per process; the advisory lock keeps replicas from overlapping.
        let poller = std::sync::Arc::new(inventory_poll::Poller::from_state(&state)?);
        // The catalog mirror (products, variations, GTINs, manage_stock) hourly at :17.
        let (p2, pool2, currency, fix) =
            (poller.clone(), state.pool.clone(), state.config.tenant.currency.clone(), state.config.woocommerce.fix_manage_stock);
        scheduler
            .add(Job::new_async("0 17 * * * *", move |_id, _lock| {
                let (p, pool, currency) = (p2.clone(), pool2.clone(), currency.clone());
                Box::pin(async move {
                    let _ = record(&pool, "catalog_sync", async {
                        let s = crate::inventory::catalog::sync_from_woo(&pool, &p.woo, &currency, fix).await?;
                        Ok(serde_json::to_value(s).unwrap_or_default())
                    })
                    .await;
                })
            })?)
            .await?;
        let pool = state.pool.clone();
        let cron = state.config.polling.inventory_cron.clone();
        scheduler
            .add(Job::new_async(cron.as_str(), move |_id, _lock| {
                let (poller, pool) = (poller.clone(), pool.clone());
                Box::pin(async move {
                    let _ = record(&pool, "inventory_poll", async {
                        poller.run_once().await.map(|s| serde_json::to_value(s).unwrap_or_default())
                    })
                    .await;
                })
            })?)
            .await?;
    }
    scheduler.start().await?;
    Ok(scheduler)
}

/// Runs `work` as one recorded job run: a `job_runs` row that ends `ok` with
/// the summary or `failed` with the error chain (also logged).
pub async fn record<F>(pool: &MySqlPool, job: &str, work: F) -> anyhow::Result<Value>
where
    F: Future<Output = anyhow::Result<Value>>,
{
    let id = sqlx::query("INSERT INTO job_runs (job) VALUES (?)").bind(job).execute(pool).await?.last_insert_id();
    let outcome = work.await;
    let (status, summary, error) = match &outcome {
        Ok(v) => ("ok", Some(v.to_string()), None),
        Err(e) => {
            tracing::error!(job, error = format!("{e:#}"), "job failed");
            ("failed", None, Some(format!("{e:#}").chars().take(1024).collect::<String>()))
        }
    };
    sqlx::query("UPDATE job_runs SET status = ?, finished_at = UTC_TIMESTAMP(6), summary = ?, error = ? WHERE id = ?")
        .bind(status)
        .bind(summary)
        .bind(error)
        .bind(id)
        .execute(pool)
        .await?;
    outcome
}
