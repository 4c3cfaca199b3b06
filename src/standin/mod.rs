//! Local stand-ins for the SaaS APIs that cannot be reached from here,
//! answering as the documented contracts and the captured payloads do. Used
//! by the tests and by `scripts/dev` (as a clearly labelled simulated
//! store); built only with the `standin` feature, never in the production
//! image.

pub mod cups;
pub mod ebay;
pub mod mail;
pub mod oauth_verify;
pub mod ups;
pub mod woocommerce;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// Serves `router` on `addr` (port 0 for a free one) in the background; returns the bound address.
pub async fn serve(router: Router, addr: &str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(local)
}
