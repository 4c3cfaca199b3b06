//! What the running appliance holds, shared by the web layer and the jobs
//! (both depend on it; neither on the other): the tenant's [`Services`],
//! the dashboard's board, and what only pages need (the page-read
//! connections, the session cache, the path prefix).

use std::sync::Arc;

pub use crate::services::Services;

/// What every handler and job can reach. Derefs to its [`Services`].
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    /// Connections for the pages' single-statement reads (no ping on release).
    pub reads: Arc<crate::db::reads::Reads>,
    /// The path prefix the edge serves us under ("" or e.g. "/ops").
    pub base: Arc<str>,
    /// Sessions checked within the last few seconds (`server.session_check_seconds`).
    pub sessions: Arc<crate::operators::sessions::SessionCache>,
    /// The dashboard's collectors and their caches.
    pub board: Arc<crate::dashboard::Board>,
    /// Live event streams open now (caps per operator and in total).
    pub streams: Arc<crate::events::slots::Slots>,
    /// What pre-sign-in CSRF tokens are signed with (`server.signing_key`).
    pub form_key: Arc<crate::token::FormKey>,
}

impl std::ops::Deref for AppState {
    type Target = Services;
    fn deref(&self) -> &Services {
        &self.services
    }
}
