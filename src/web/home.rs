//! The signed-in home page: who is here, what the appliance holds, what
//! happened lately.

use askama::Template;
use axum::{Router, extract::State, routing::get};

use super::{
    AppState, Page, Result,
    chrome::{Chrome, chromed},
    session::Session,
};
use crate::operators::Role;

pub fn router() -> Router<AppState> {
    Router::new().route("/", get(home))
}

/// One line of the recent-events list.
pub struct EventRow {
    pub id: u64,
    pub at: String,
    pub kind: String,
    pub severity: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    timezone: String,
    products: i64,
    lots: i64,
    units_on_hand: i64,
    open_orders: i64,
    backordered_lines: i64,
    expiring_quotes: usize,
    /// Quotes, receiving and their links are for the back office (and admins).
    back_office: bool,
    /// The tenant's modules with pages: their links show only when on.
    quotes_on: bool,
    station_on: bool,
    books_on: bool,
    dashboard_on: bool,
    /// Orders the sync skipped: (WooCommerce order, why, last tried, attempts).
    sync_rejects: Vec<(u64, String, String, u32)>,
    channel_problems: Vec<(String, String, String, String)>,
    events: Vec<EventRow>,
}

/// The latest `n` events `role` may see, newest first, as the pages show them.
pub async fn recent_rows(state: &AppState, role: Role, n: u32) -> Result<Vec<EventRow>> {
    Ok(crate::events::recent(&state.pool, role, n)
        .await?
        .into_iter()
        .map(|r| EventRow { id: r.id, at: state.local_time(r.occurred_at), kind: r.kind, severity: r.severity, message: r.message })
        .collect())
}

async fn home(State(state): State<AppState>, session: Session) -> Result<Page<HomePage>> {
    let counts = crate::inventory::stock::summary(&state.pool, &state.config.woocommerce.order_statuses).await?;
    let role = session.operator.role;
    let events = recent_rows(&state, role, 20).await?;
    let back_office = matches!(role, Role::Admin | Role::BackOffice);
    Ok(Page(HomePage {
        chrome: Chrome::signed_in(&state, &session),
        timezone: state.tz().name().to_owned(),
        products: counts.products,
        lots: counts.lots,
        units_on_hand: counts.units,
        open_orders: counts.open_orders,
        backordered_lines: counts.backordered,
        expiring_quotes: if back_office && state.config.modules.quotes {
            crate::quotes::send::expiring(&state.pool, 7).await?.len()
        } else {
            0
        },
        back_office,
        quotes_on: state.config.modules.quotes,
        books_on: state.ledger.is_some(),
        station_on: state.config.modules.fulfillment,
        dashboard_on: state.config.modules.dashboard,
        sync_rejects: crate::inventory::orders::rejects(&state.pool)
            .await?
            .into_iter()
            .map(|r| (r.woo_order_id, r.reason, state.local_time(r.last_seen_at), r.attempts))
            .collect(),
        channel_problems: crate::channels::outbox::problems(&state.pool).await?,
        events,
    }))
}

chromed!(HomePage);
