//! The dashboard: tiles (live from the event stream, or a page that
//! refreshes itself without JavaScript), the event log, the tenant's
//! integrations with their health, and the 30-day charts.

use askama::Template;
use axum::{Json, Router, extract::State, response::IntoResponse, routing::get};

use super::{
    AppState, Page, Result,
    chrome::{Chrome, chromed},
    home::{EventRow, recent_rows},
    session::Session,
};
use crate::{
    dashboard::{Tile, charts::Chart},
    integrations,
};

pub fn router() -> Router<AppState> {
    Router::new().route("/dashboard", get(page)).route("/dashboard/charts", get(charts)).route("/dashboard/tiles.json", get(tiles_json))
}

/// One integration as the page lists it.
pub struct IntegrationRow {
    pub key: &'static str,
    pub name: &'static str,
    pub needed_by: String,
    pub setup: String,
    /// `ok`, `bad`, `off`: configured and healthy, missing or down, not used.
    pub level: &'static str,
    /// What its health tile says, when a collector watches it and it is set up.
    pub health: String,
}

#[derive(Template)]
#[template(path = "dashboard/page.html")]
struct DashboardPage {
    chrome: Chrome,
    timezone: String,
    refresh_seconds: u32,
    tiles: Vec<Tile>,
    events: Vec<EventRow>,
    newest_event: u64,
    integrations: Vec<IntegrationRow>,
    /// Integrations a module could use that this version does not build yet.
    planned: Vec<&'static str>,
}

async fn page(State(state): State<AppState>, session: Session) -> Result<Page<DashboardPage>> {
    let role = session.operator.role;
    let (tiles, events) = tokio::join!(state.board.render_for(&state, role), recent_rows(&state, role, 30));
    let events = events?;
    let newest_event = events.first().map_or(0, |e| e.id);
    let by_name: std::collections::HashMap<&str, &Tile> = tiles.iter().map(|t| (t.name, t)).collect();
    let entries = integrations::for_tenant(&state.config);
    let planned = entries.iter().filter(|e| matches!(e.setup, integrations::Setup::Planned(_))).map(|e| e.integration.name).collect();
    let integrations = entries
        .into_iter()
        .filter(|e| !matches!(e.setup, integrations::Setup::Planned(_)))
        .map(|e| {
            let tile = by_name.get(e.integration.key).or_else(|| (e.integration.key == "cups").then(|| by_name.get("printers")).flatten());
            let level = match (&e.setup, tile) {
                (integrations::Setup::Missing(_), _) => {
                    if e.integration.required {
                        "bad"
                    } else {
                        "warn"
                    }
                }
                (integrations::Setup::Configured(_), Some(t)) => t.level,
                (integrations::Setup::Configured(_), None) => "ok",
                _ => "off",
            };
            IntegrationRow {
                key: e.integration.key,
                name: e.integration.name,
                needed_by: e.needed_by.iter().map(|m| m.name()).collect::<Vec<_>>().join(", "),
                setup: e.setup.to_string(),
                level,
                health: match (&e.setup, tile) {
                    (integrations::Setup::Configured(_), Some(t)) => format!("{}: {}", t.value, t.detail),
                    _ => String::new(),
                },
            }
        })
        .collect();
    Ok(Page(DashboardPage {
        chrome: Chrome::signed_in(&state, &session),
        timezone: state.tz().name().to_owned(),
        refresh_seconds: state.config.dashboard.refresh_seconds.max(30),
        tiles,
        events,
        newest_event,
        integrations,
        planned,
    }))
}

#[derive(Template)]
#[template(path = "dashboard/charts.html")]
struct ChartsPage {
    chrome: Chrome,
    timezone: String,
    charts: Vec<Chart>,
}

async fn charts(State(state): State<AppState>, session: Session) -> Result<Page<ChartsPage>> {
    session.require(&[crate::operators::Role::BackOffice])?;
    let charts = crate::dashboard::charts::build(&state).await?;
    Ok(Page(ChartsPage { chrome: Chrome::signed_in(&state, &session), timezone: state.tz().name().to_owned(), charts }))
}

/// The tiles the operator may see, as JSON (wall screens and scripts).
async fn tiles_json(State(state): State<AppState>, session: Session) -> impl IntoResponse {
    Json(state.board.render_for(&state, session.operator.role).await)
}

chromed!(DashboardPage, ChartsPage);
