//! Building the application from a tenant file: resolve secrets, connect,
//! migrate, claim the database for the tenant, bind the listener.
//! `Application::build` binds first and exposes `port()`, so tests start it
//! on port 0.

use std::{future::Future, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::net::TcpListener;

use crate::{
    app::Services,
    channels::{ebay::EbayClient, woocommerce::WooClient},
    config::{LoadedConfig, resolve::Resolver},
    db,
    fulfillment::{carrier::Carrier, ups::UpsClient},
    printing::pdf::WeasyPrint,
    web::{self, AppState},
};

/// Resolves every secret reference (failing with the full list when any
/// does not resolve), connects to MariaDB, applies migrations and checks the
/// database belongs to this tenant.
pub async fn prepare(loaded: LoadedConfig) -> anyhow::Result<AppState> {
    let mut resolver = Resolver::for_config(&loaded);
    let (secrets, failures) = resolver.resolve_all(&loaded).await;
    let url_wins = db::url_from_env();
    let failures: Vec<String> = failures
        .into_iter()
        .filter(|(path, _)| !(url_wins && *path == "database.password"))
        .map(|(path, e)| format!("  {path}: {e}"))
        .collect();
    if !failures.is_empty() {
        anyhow::bail!("{} secret reference(s) did not resolve:\n{}", failures.len(), failures.join("\n"));
    }
    let options = db::connect_options(Some(&loaded), &secrets)?;
    let pool = db::connect(options.clone(), loaded.config.database.max_connections).await.context("cannot connect to the database")?;
    db::migrate(&pool).await.context("migrations failed")?;
    db::claim_for_tenant(&pool, loaded.config.tenant.id.as_str()).await?;
    // Pick priority rules may have changed with this tenant file: rank the queue by them now (each sync cycle keeps it so).
    if loaded.config.modules.fulfillment {
        crate::station::queue::prioritise(&pool, &loaded.config.pick_priority).await.context("ranking the pick queue")?;
    }
    let data_dir = loaded.data_dir();
    std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create data dir {}", data_dir.display()))?;
    let base: Arc<str> = loaded.config.server.base_path.trim_end_matches('/').into();
    let lookup = Arc::new(crate::inventory::lookup::CodeLookup::open(&data_dir));
    let Clients { woo, ebay, carrier } = clients(&loaded.config, &secrets)?;
    let mailer = match &loaded.config.smtp {
        Some(smtp) => Some(Arc::new(
            crate::mail::Mailer::new(smtp, secrets.get("smtp.password"), &loaded.config.branding.sender_name, &loaded.base_dir())
                .context("the mail server settings")?,
        )),
        None => None,
    };
    let ledger = crate::books::Ledger::open(&pool, &loaded.config).await.context("the books could not open")?.map(Arc::new);
    let metrics = Arc::new(crate::metrics::Metrics::new());
    let published = metrics.events_published.clone();
    let bus = Arc::new(crate::events::bus::EventBus::new(Some(Arc::new(move |n| {
        published.inc_by(n);
    }))));
    let services = Services {
        mailer,
        metrics,
        bus,
        ledger,
        lookup,
        woo,
        ebay,
        carrier,
        weasy: Arc::new(WeasyPrint::default()),
        pool,
        db_options: Arc::new(options.clone()),
        config: Arc::new(loaded.config.clone()),
        loaded: Arc::new(loaded),
        secrets: Arc::new(secrets),
        webhooks: Arc::new(crate::sync::webhook::Inbox::default()),
    };
    let c = &services.config;
    Ok(AppState {
        board: Arc::new(crate::dashboard::Board::standard()),
        streams: Arc::default(),
        reads: Arc::new(crate::db::reads::Reads::new(options, (c.database.max_connections as usize / 2).max(2))),
        sessions: Arc::new(crate::operators::sessions::SessionCache::new(std::time::Duration::from_secs(u64::from(
            c.server.session_check_seconds,
        )))),
        form_key: Arc::new(crate::token::FormKey::new(services.secrets.get("server.signing_key").map(|s| s.expose()))),
        base,
        services,
    })
}

/// The long-lived clients of the outside services a tenant file names.
pub struct Clients {
    pub woo: Arc<WooClient>,
    /// eBay, when the module is on and `ebay` is set.
    pub ebay: Option<Arc<EbayClient>>,
    /// UPS, when fulfillment is on and `ups` is set.
    pub carrier: Option<Arc<dyn Carrier>>,
}

/// Builds the clients from the tenant file and its resolved secrets (the
/// server at start; `qm integrations --probe` and `config check --resolve`).
pub fn clients(c: &crate::config::TenantConfig, secrets: &crate::config::resolve::Secrets) -> anyhow::Result<Clients> {
    let secret = |k: &str| secrets.get(k).cloned().with_context(|| format!("{k} did not resolve"));
    let woo = Arc::new(
        WooClient::new(
            &c.woocommerce.base_url,
            secret("woocommerce.consumer_key")?,
            secret("woocommerce.consumer_secret")?,
            Duration::from_secs(c.woocommerce.timeout_seconds),
        )?
        .with_site_url(c.woocommerce.site_url.as_deref()),
    );
    let carrier: Option<Arc<dyn Carrier>> = match (&c.ups, c.modules.fulfillment) {
        (Some(u), true) => {
            let base = u.api_base_url.clone().unwrap_or_else(|| {
                if u.environment == "production" { "https://onlinetools.ups.com".into() } else { "https://wwwcie.ups.com".into() }
            });
            Some(Arc::new(UpsClient::new(
                &base,
                &u.account_number,
                secret("ups.client_id")?,
                secret("ups.client_secret")?,
                u.shipper.clone(),
                Duration::from_secs(30),
            )?))
        }
        _ => None,
    };
    let ebay = match (&c.ebay, c.modules.ebay) {
        (Some(e), true) => {
            let base = e.api_base_url.clone().unwrap_or_else(|| {
                if e.environment == "sandbox" { "https://api.sandbox.ebay.com".into() } else { "https://api.ebay.com".into() }
            });
            Some(Arc::new(EbayClient::new(
                &base,
                secret("ebay.client_id")?,
                secret("ebay.client_secret")?,
                secret("ebay.refresh_token")?,
                Duration::from_secs(30),
            )?))
        }
        _ => None,
    };
    Ok(Clients { woo, ebay, carrier })
}

/// A bound, ready-to-run server.
pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Binds `listen` (e.g. `127.0.0.1:0` in tests).
    pub async fn build(state: AppState, listen: &str) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
        Ok(Self { listener, state })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The app state (shared with jobs).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        serve(self.listener, web::router(self.state), shutdown).await
    }
}

/// A client has this long to send a request's headers (a new connection's
/// first request, and each next one on a kept-alive connection); past it
/// the connection is closed. The body's time is the request timeout's (60 s).
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);
/// Connections held open at once; past it a new one is closed at once (the
/// kernel's backlog holds the rest), so half-open clients cannot take every
/// file descriptor and /healthz keeps its answer.
pub const MAX_CONNECTIONS: usize = 4096;

/// Serves `app` on `listener` until `shutdown`, then lets in-flight requests
/// finish (up to 30 s). axum's router on hyper's connection builder, which
/// gives the header-read timeout axum::serve does not set.
async fn serve(listener: TcpListener, app: axum::Router, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    use hyper_util::{
        rt::{TokioExecutor, TokioIo, TokioTimer},
        server::{conn::auto::Builder, graceful::GracefulShutdown},
    };
    use tower::ServiceExt as _;
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
    builder.http2().timer(TokioTimer::new()).keep_alive_interval(Some(std::time::Duration::from_secs(30)));
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors or a connection reset before accept: keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::task::yield_now().await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(limit = MAX_CONNECTIONS, "connection refused: the server holds its most connections");
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(axum::extract::ConnectInfo(remote));
            app.clone().oneshot(req.map(axum::body::Body::new))
        });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service).into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(std::time::Duration::from_secs(30), graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still running 30 s after shutdown was asked; stopping anyway");
    }
    Ok(())
}

/// Completes on SIGTERM (docker stop) or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested; finishing in-flight requests");
}
