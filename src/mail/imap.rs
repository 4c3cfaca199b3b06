//! The tenant's mailbox over IMAP (`async-imap`, TLS by rustls): the folder
//! RFQs arrive in, read by UID from the last one taken, each message then
//! moved to the processed folder (or flagged `\Seen`). The folder's
//! UIDVALIDITY and the last UID are kept in `mailbox_state`, so a message is
//! taken once even across restarts; a changed UIDVALIDITY (the folder was
//! rebuilt) starts the count again, and the RFQs' own unique origin key
//! keeps a message read twice from becoming two RFQs.

use std::{
    path::Path,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use futures::TryStreamExt;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use sqlx::MySqlPool;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

use crate::config::{Mailbox, Secret};

/// Why the mailbox could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("mailbox {host}:{port}: {message}")]
    Connect { host: String, port: u16, message: String },
    #[error("mailbox: the server refused the login for `{user}`: {message}")]
    Login { user: String, message: String },
    #[error("mailbox: {0}")]
    Protocol(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn protocol(e: impl std::fmt::Display) -> ImapError {
    ImapError::Protocol(e.to_string())
}

/// A connection, plain or TLS.
#[derive(Debug)]
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

type Session = async_imap::Session<Conn>;

/// The TLS settings for `cfg` (the web's roots, plus a private CA when given).
fn tls_connector(cfg: &Mailbox, base_dir: &Path) -> Result<tokio_rustls::TlsConnector, ImapError> {
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(ca) = &cfg.ca_file {
        let path = base_dir.join(ca);
        for cert in CertificateDer::pem_file_iter(&path).map_err(|e| protocol(format!("ca_file {}: {e}", path.display())))? {
            let cert = cert.map_err(|e| protocol(format!("ca_file {}: {e}", path.display())))?;
            roots.add(cert).map_err(|e| protocol(format!("ca_file {}: {e}", path.display())))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(protocol)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The open folder.
pub struct Inbox {
    session: Session,
    /// `host/user/folder`: the key in `mailbox_state`.
    pub key: String,
    pub uidvalidity: u32,
    pub idle: bool,
    can_move: bool,
    processed: Option<String>,
}

/// Connects, logs in and selects the folder (creating the processed folder when missing).
pub async fn open(cfg: &Mailbox, password: &Secret, base_dir: &Path, timeout: Duration) -> Result<Inbox, ImapError> {
    let connect = |message: String| ImapError::Connect { host: cfg.host.clone(), port: cfg.port, message };
    let tcp = tokio::time::timeout(timeout, TcpStream::connect((cfg.host.as_str(), cfg.port)))
        .await
        .map_err(|_| connect(format!("no connection within {} s", timeout.as_secs())))?
        .map_err(|e| connect(e.to_string()))?;
    let tls = |tcp: TcpStream| async {
        let name = ServerName::try_from(cfg.host.clone()).map_err(|e| connect(e.to_string()))?;
        let stream = tls_connector(cfg, base_dir)?.connect(name, tcp).await.map_err(|e| connect(format!("TLS: {e}")))?;
        Ok::<Conn, ImapError>(Conn::Tls(Box::new(stream)))
    };
    let client = match cfg.tls.as_str() {
        "tls" => {
            let mut c = async_imap::Client::new(tls(tcp).await?);
            c.read_response().await.map_err(|e| connect(e.to_string()))?.ok_or_else(|| connect("no greeting".into()))?;
            c
        }
        "starttls" => {
            let mut c = async_imap::Client::new(Conn::Plain(tcp));
            c.read_response().await.map_err(|e| connect(e.to_string()))?.ok_or_else(|| connect("no greeting".into()))?;
            c.run_command_and_check_ok("STARTTLS", None).await.map_err(|e| connect(format!("STARTTLS: {e}")))?;
            let Conn::Plain(tcp) = c.into_inner() else { return Err(connect("STARTTLS on a TLS stream".into())) };
            async_imap::Client::new(tls(tcp).await?)
        }
        _ => {
            let mut c = async_imap::Client::new(Conn::Plain(tcp));
            c.read_response().await.map_err(|e| connect(e.to_string()))?.ok_or_else(|| connect("no greeting".into()))?;
            c
        }
    };
    let mut session = client
        .login(&cfg.username, password.expose())
        .await
        .map_err(|(e, _)| ImapError::Login { user: cfg.username.clone(), message: e.to_string() })?;
    let caps = session.capabilities().await.map_err(protocol)?;
    let (idle, can_move) = (caps.has_str("IDLE"), caps.has_str("MOVE"));
    if let Some(p) = &cfg.processed_folder {
        // Already there is fine: the create fails and the select below proves the folder we read exists.
        let _ = session.create(p).await;
    }
    let folder = session.select(&cfg.folder).await.map_err(|e| protocol(format!("folder `{}`: {e}", cfg.folder)))?;
    Ok(Inbox {
        session,
        key: format!("{}/{}/{}", cfg.host, cfg.username, cfg.folder),
        uidvalidity: folder.uid_validity.unwrap_or(0),
        idle: idle && cfg.idle,
        can_move,
        processed: cfg.processed_folder.clone(),
    })
}

/// A message read from the folder.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub uid: u32,
    pub raw: Vec<u8>,
}

impl Inbox {
    /// Messages with a UID above `after`, oldest first, at most `limit`.
    pub async fn after(&mut self, after: u32, limit: usize) -> Result<Vec<Fetched>, ImapError> {
        let mut uids: Vec<u32> =
            self.session.uid_search(format!("UID {}:*", after + 1)).await.map_err(protocol)?.into_iter().filter(|u| *u > after).collect();
        uids.sort_unstable();
        uids.truncate(limit);
        if uids.is_empty() {
            return Ok(Vec::new());
        }
        let set = uids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        let fetched: Vec<_> =
            self.session.uid_fetch(set, "(UID BODY.PEEK[])").await.map_err(protocol)?.try_collect().await.map_err(protocol)?;
        let mut out: Vec<Fetched> = fetched.iter().filter_map(|f| Some(Fetched { uid: f.uid?, raw: f.body()?.to_vec() })).collect();
        out.sort_by_key(|f| f.uid);
        Ok(out)
    }

    /// Files a taken message: moved to the processed folder, or flagged `\Seen`.
    pub async fn done(&mut self, uid: u32) -> Result<(), ImapError> {
        match &self.processed {
            Some(p) if self.can_move => self.session.uid_mv(uid.to_string(), p).await.map_err(protocol),
            Some(p) => {
                self.session.uid_copy(uid.to_string(), p).await.map_err(protocol)?;
                let _: Vec<_> = self
                    .session
                    .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Deleted)")
                    .await
                    .map_err(protocol)?
                    .try_collect()
                    .await
                    .map_err(protocol)?;
                let _: Vec<_> = self.session.expunge().await.map_err(protocol)?.try_collect().await.map_err(protocol)?;
                Ok(())
            }
            None => {
                let _: Vec<_> = self
                    .session
                    .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Seen)")
                    .await
                    .map_err(protocol)?
                    .try_collect()
                    .await
                    .map_err(protocol)?;
                Ok(())
            }
        }
    }

    /// Waits (IMAP IDLE) until the server says something changed or `wait` passes; returns the inbox.
    pub async fn idle(self, wait: Duration) -> Result<(Inbox, bool), ImapError> {
        let Inbox { session, key, uidvalidity, idle, can_move, processed } = self;
        let mut handle = session.idle();
        handle.init().await.map_err(protocol)?;
        let (waiting, _stop) = handle.wait_with_timeout(wait);
        let changed = matches!(waiting.await.map_err(protocol)?, async_imap::extensions::idle::IdleResponse::NewData(_));
        let session = handle.done().await.map_err(protocol)?;
        Ok((Inbox { session, key, uidvalidity, idle, can_move, processed }, changed))
    }

    /// Logs out (best effort).
    pub async fn close(mut self) {
        let _ = self.session.logout().await;
    }
}

/// The last UID taken from `key`'s folder, when its UIDVALIDITY is still `uidvalidity`.
pub async fn last_uid(pool: &MySqlPool, key: &str, uidvalidity: u32) -> Result<u32, sqlx::Error> {
    let row: Option<(u32, u32)> =
        sqlx::query_as("SELECT uidvalidity, last_uid FROM mailbox_state WHERE mailbox = ?").bind(key).fetch_optional(pool).await?;
    Ok(match row {
        Some((v, uid)) if v == uidvalidity => uid,
        _ => 0,
    })
}

/// Records that every message of `key`'s folder up to `uid` was taken.
pub async fn taken(pool: &MySqlPool, key: &str, uidvalidity: u32, uid: u32) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"INSERT INTO mailbox_state (mailbox, uidvalidity, last_uid) VALUES (?, ?, ?)
           ON DUPLICATE KEY UPDATE last_uid = IF(uidvalidity = VALUES(uidvalidity), GREATEST(last_uid, VALUES(last_uid)), VALUES(last_uid)),
                                   uidvalidity = VALUES(uidvalidity)"#,
    )
    .bind(key)
    .bind(uidvalidity)
    .bind(uid)
    .execute(pool)
    .await?;
    Ok(())
}
