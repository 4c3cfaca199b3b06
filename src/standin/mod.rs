//! Local stand-ins for the SaaS APIs that cannot be reached from here,
//! answering as the documented contracts and the captured payloads do. Used
//! by the tests and by `scripts/dev` (as a clearly labelled simulated
//! store); built only with the `standin` feature, never in the production
//! image.

pub mod collectors;
pub mod cups;
pub mod ebay;
pub mod mail;
pub mod oauth_verify;
pub mod ups;
pub mod woocommerce;

use std::{
    net::SocketAddr,
    process::{Child, Command},
    time::{Duration, Instant},
};

use axum::Router;
use tokio::net::TcpListener;

/// Stops a server a test started: SIGTERM (so a master process such as
/// nginx's or Dovecot's takes its workers with it), up to `grace` for it to
/// exit, then SIGKILL; the child is reaped either way.
pub fn terminate(child: &mut Child, grace: Duration) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Serves `router` on `addr` (port 0 for a free one) in the background; returns the bound address.
pub async fn serve(router: Router, addr: &str) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(local)
}
