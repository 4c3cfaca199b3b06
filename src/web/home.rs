//! The signed-in home page: who is here, what the appliance holds, what
//! happened lately.

use askama::Template;
use axum::{Router, extract::State, routing::get};
use chrono::NaiveDateTime;
use sqlx::Row;

use super::{AppState, Page, Result, session::Session};

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home))
}

/// One line of the recent-events list.
pub struct EventRow {
    pub at: String,
    pub kind: String,
    pub severity: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    base: String,
    tenant_name: String,
    operator: String,
    role: &'static str,
    csrf: String,
    timezone: String,
    products: i64,
    lots: i64,
    units_on_hand: i64,
    open_orders: i64,
    backordered_lines: i64,
    expiring_quotes: usize,
    channel_problems: Vec<(String, String, String, String)>,
    events: Vec<EventRow>,
}

async fn home(State(state): State<AppState>, session: Session) -> Result<Page<HomePage>> {
    let counts = sqlx::query(
        r#"SELECT (SELECT COUNT(*) FROM products WHERE status = 'active') AS products,
                  (SELECT COUNT(*) FROM inventory_lots WHERE qty_remaining > 0) AS lots,
                  (SELECT CAST(COALESCE(SUM(qty_remaining), 0) AS SIGNED) FROM inventory_lots) AS units,
                  (SELECT COUNT(*) FROM orders WHERE status IN ('processing', 'on-hold')) AS open_orders,
                  (SELECT COUNT(*) FROM order_lines l JOIN orders o ON o.id = l.order_id
                    WHERE l.backordered_qty > 0 AND NOT l.removed AND o.status IN ('processing', 'on-hold')) AS backordered"#,
    )
    .fetch_one(&state.pool)
    .await?;
    let events = sqlx::query("SELECT occurred_at, kind, severity, message FROM event_log ORDER BY id DESC LIMIT 20")
        .fetch_all(&state.pool)
        .await?
        .into_iter()
        .map(|r| -> Result<EventRow, sqlx::Error> {
            let at: NaiveDateTime = r.try_get("occurred_at")?;
            Ok(EventRow {
                at: state.local_time(at),
                kind: r.try_get("kind")?,
                severity: r.try_get("severity")?,
                message: r.try_get("message")?,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Page(HomePage {
        base: state.base.to_string(),
        tenant_name: state.config.tenant.name.clone(),
        operator: session.operator.display_name.clone(),
        role: session.operator.role.label(),
        csrf: session.csrf.clone(),
        timezone: state.tz().name().to_owned(),
        products: counts.try_get("products")?,
        lots: counts.try_get("lots")?,
        units_on_hand: counts.try_get("units")?,
        open_orders: counts.try_get("open_orders")?,
        backordered_lines: counts.try_get("backordered")?,
        expiring_quotes: crate::quotes::quote::expiring(&state.pool, 7).await?.len(),
        channel_problems: crate::channels::outbox::problems(&state.pool).await?,
        events,
    }))
}
