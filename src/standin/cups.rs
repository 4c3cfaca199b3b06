//! A private CUPS for tests, benchmarks and the demo: the real Debian
//! cupsd on a free loopback port with its own config and spool in a
//! temporary folder, and raw queues on `socket://127.0.0.1:<port>` — the
//! way Zebra printers are driven on 9100 — where a [`RawPrinter`] listens
//! and keeps every job's bytes, as a printer would. cupsd is stopped by
//! its PID when the value drops.
//!
//! No browsing, no name lookups, no SNMP: each would add seconds per job.

use std::{
    path::Path,
    process::{Child, Command},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::{io::AsyncReadExt, net::TcpListener, sync::Notify};

use crate::printing::ipp::PrinterTarget;

/// A running private cupsd.
pub struct LocalCups {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for LocalCups {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl LocalCups {
    /// Starts cupsd (`QM_CUPSD_BIN` or /usr/sbin/cupsd) and waits until it listens.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new().prefix("qm-cups").tempdir_in("/tmp")?;
        let d = dir.path();
        for sub in ["cache", "state", "spool", "log", "ppd"] {
            std::fs::create_dir_all(d.join(sub))?;
        }
        let port = free_port()?;
        std::fs::write(
            d.join("cupsd.conf"),
            format!(
                "Listen 127.0.0.1:{port}\nLogLevel warn\nHostNameLookups Off\nBrowsing No\nBrowseLocalProtocols none\nDefaultAuthType None\nWebInterface No\n\
                 <Location />\n  Order allow,deny\n  Allow 127.0.0.1\n</Location>\n<Location /admin>\n  Order allow,deny\n  Allow 127.0.0.1\n</Location>\n\
                 <Policy default>\n  <Limit All>\n    Order deny,allow\n  </Limit>\n</Policy>\n"
            ),
        )?;
        std::fs::write(
            d.join("cups-files.conf"),
            format!(
                "ServerRoot {d}\nRequestRoot {d}/spool\nCacheDir {d}/cache\nStateDir {d}/state\nServerBin /usr/lib/cups\nDataDir /usr/share/cups\n\
                 AccessLog {d}/log/access_log\nErrorLog {d}/log/error_log\nPageLog {d}/log/page_log\nTempDir {d}/spool\nUser lp\nGroup lp\nSystemGroup root\n",
                d = d.display()
            ),
        )?;
        // cupsd insists on owner-only writable config and lp-writable spool folders.
        let status = Command::new("sh")
            .arg("-c")
            .arg(format!(
                "chmod 755 {d} && chmod 644 {d}/*.conf && chown -R root:lp {d} && chmod 775 {d}/spool {d}/cache {d}/state {d}/log",
                d = d.display()
            ))
            .status()?;
        anyhow::ensure!(status.success(), "could not prepare the CUPS folder {}", d.display());
        let bin = std::env::var("QM_CUPSD_BIN").unwrap_or_else(|_| "/usr/sbin/cupsd".into());
        let child = Command::new(&bin)
            .args(["-f", "-c"])
            .arg(d.join("cupsd.conf"))
            .arg("-s")
            .arg(d.join("cups-files.conf"))
            .spawn()
            .map_err(|e| anyhow::anyhow!("{bin}: {e}; scripts/test installs cups"))?;
        let cups = Self { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(Instant::now() < deadline, "cupsd did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(cups)
    }

    /// Adds a raw queue whose device is `socket://127.0.0.1:<device_port>`.
    pub fn add_raw_queue(&self, name: &str, device_port: u16) -> anyhow::Result<()> {
        let out = Command::new("lpadmin")
            .args([
                "-h",
                &format!("127.0.0.1:{}", self.port),
                "-p",
                name,
                "-E",
                "-v",
                &format!("socket://127.0.0.1:{device_port}"),
                "-m",
                "raw",
            ])
            .output()?;
        anyhow::ensure!(out.status.success(), "lpadmin: {}", String::from_utf8_lossy(&out.stderr));
        Ok(())
    }

    /// The IPP URI of a queue.
    pub fn uri(&self, queue: &str) -> String {
        format!("ipp://127.0.0.1:{}/printers/{queue}", self.port)
    }

    pub fn target(&self, queue: &str) -> PrinterTarget {
        PrinterTarget { name: queue.into(), uri: self.uri(queue) }
    }

    /// Where cupsd keeps its spool and logs (for a test's failure message).
    pub fn dir(&self) -> &Path {
        self._dir.path()
    }
}

/// A socket printer: accepts connections on a loopback port and keeps the
/// bytes of each one (one CUPS job each), in arrival order.
#[derive(Clone)]
pub struct RawPrinter {
    pub port: u16,
    jobs: Arc<Mutex<Vec<Vec<u8>>>>,
    arrived: Arc<Notify>,
}

impl RawPrinter {
    /// Listens on a free port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        let printer = Self { port, jobs: Arc::default(), arrived: Arc::new(Notify::new()) };
        let p = printer.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let p = p.clone();
                tokio::spawn(async move {
                    let mut bytes = Vec::new();
                    let _ = sock.read_to_end(&mut bytes).await;
                    if let Ok(mut jobs) = p.jobs.lock() {
                        jobs.push(bytes);
                    }
                    p.arrived.notify_waiters();
                });
            }
        });
        Ok(printer)
    }

    /// Every job received so far.
    pub fn jobs(&self) -> Vec<Vec<u8>> {
        self.jobs.lock().map(|j| j.clone()).unwrap_or_default()
    }

    /// Waits until at least `n` jobs arrived (or the timeout), returns them.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.arrived.notified();
            let jobs = self.jobs();
            if jobs.len() >= n || tokio::time::Instant::now() >= deadline {
                return jobs;
            }
            let _ = tokio::time::timeout_at(deadline, notified).await;
        }
    }
}
