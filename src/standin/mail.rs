//! Real mail servers for the tests and benchmarks, each on a free loopback
//! port in a folder of its own and stopped by its PID: Debian's aiosmtpd
//! (STARTTLS, AUTH, a Maildir to read back) and Debian's Dovecot (IMAP with
//! STARTTLS and IDLE, a throwaway user, messages put in with `doveadm save`),
//! with a private CA made by `openssl` for both. `scripts/test` installs
//! python3-aiosmtpd and dovecot-imapd. Not stand-ins: the real servers,
//! started the way a test needs them.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// The aiosmtpd launcher (a file of this crate, written out at start).
const SMTP_SERVER: &str = include_str!("smtp_server.py");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

fn random_hex(bytes: usize) -> String {
    crate::token::random_token().chars().take(bytes * 2).collect()
}

/// A private CA and a certificate for 127.0.0.1 signed by it.
pub struct Certs {
    _dir: tempfile::TempDir,
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

fn openssl(args: &[&str], dir: &Path) {
    let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// Makes the CA and the server certificate.
pub fn certs() -> Certs {
    let dir = tempfile::tempdir().expect("dir");
    let d = dir.path();
    openssl(
        &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=qm test CA"],
        d,
    );
    openssl(&["req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"], d);
    std::fs::write(d.join("san.ext"), "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n").expect("ext");
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "san.ext",
        ],
        d,
    );
    // Dovecot's login processes read the key as an unprivileged user.
    for f in ["server.pem", "server.key", "ca.pem"] {
        let _ = Command::new("chmod").arg("644").arg(d.join(f)).status();
    }
    Certs { ca: d.join("ca.pem"), cert: d.join("server.pem"), key: d.join("server.key"), _dir: dir }
}

fn wait_listening(port: u16, what: &str, log: impl Fn() -> String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}: {}", log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// aiosmtpd with a Maildir.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        super::terminate(&mut self.child, Duration::from_secs(5));
    }
}

impl SmtpServer {
    /// Starts it; with `certs`, STARTTLS is required; with `auth`, so is AUTH.
    pub fn start(certs: Option<&Certs>, auth: Option<(&str, &str)>, reject: &[&str]) -> SmtpServer {
        Self::start_on(free_port(), certs, auth, reject)
    }

    /// The same on a given port (a server that comes up late).
    pub fn start_on(port: u16, certs: Option<&Certs>, auth: Option<(&str, &str)>, reject: &[&str]) -> SmtpServer {
        let dir = tempfile::tempdir().expect("dir");
        let maildir = dir.path().join("Maildir");
        let python = std::env::var("QM_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".into());
        let script = dir.path().join("smtp_server.py");
        std::fs::write(&script, SMTP_SERVER).expect("write the launcher");
        let mut cmd = Command::new(&python);
        cmd.arg(&script).arg("--port").arg(port.to_string()).arg("--maildir").arg(&maildir);
        if let Some(c) = certs {
            cmd.arg("--cert").arg(&c.cert).arg("--key").arg(&c.key);
        }
        if let Some((u, p)) = auth {
            cmd.args(["--user", u, "--password", p]);
        }
        for r in reject {
            cmd.args(["--reject", r]);
        }
        let log = dir.path().join("smtp.log");
        let child = cmd
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).map(Stdio::from).unwrap_or_else(|_| Stdio::null()))
            .spawn()
            .unwrap_or_else(|e| panic!("{python}: {e}; scripts/test installs python3-aiosmtpd"));
        wait_listening(port, "aiosmtpd", || std::fs::read_to_string(&log).unwrap_or_default());
        SmtpServer { child, port, maildir, _dir: dir }
    }

    /// Every message received so far, oldest first.
    pub fn messages(&self) -> Vec<Vec<u8>> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
        for sub in ["new", "cur"] {
            if let Ok(rd) = std::fs::read_dir(self.maildir.join(sub)) {
                for e in rd.flatten() {
                    let modified = e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
                    files.push((modified, e.path()));
                }
            }
        }
        files.sort();
        files.into_iter().filter_map(|(_, p)| std::fs::read(p).ok()).collect()
    }

    /// Waits until `n` messages arrived.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + within;
        loop {
            let got = self.messages();
            if got.len() >= n {
                return got;
            }
            assert!(Instant::now() < deadline, "{} of {n} messages arrived within {within:?}", got.len());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Dovecot serving one user's Maildir over IMAP.
pub struct ImapServer {
    child: Child,
    pub port: u16,
    pub user: String,
    pub password: String,
    dir: tempfile::TempDir,
}

impl Drop for ImapServer {
    fn drop(&mut self) {
        super::terminate(&mut self.child, Duration::from_secs(5));
    }
}

impl ImapServer {
    /// Starts Dovecot; with `certs`, STARTTLS is offered (and plain logins refused without it).
    pub fn start(certs: Option<&Certs>) -> ImapServer {
        let dir = tempfile::Builder::new().prefix("qmdv").tempdir_in("/tmp").expect("dir");
        let d = dir.path().display().to_string();
        for sub in ["run", "state", "home"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("mkdir");
        }
        let _ = Command::new("chmod").arg("755").arg(dir.path()).status();
        let (user, password) = ("rfq".to_owned(), format!("pw-{}", random_hex(8)));
        std::fs::write(dir.path().join("passwd"), format!("{user}:{{PLAIN}}{password}::::::\n")).expect("passwd");
        let _ = Command::new("chmod").arg("644").arg(dir.path().join("passwd")).status();
        let _ = Command::new("chown").args(["-R", "nobody:nogroup"]).arg(dir.path().join("home")).status();
        let port = free_port();
        let ssl = match certs {
            Some(c) => {
                format!("ssl = required\nssl_cert = <{}\nssl_key = <{}\ndisable_plaintext_auth = yes\n", c.cert.display(), c.key.display())
            }
            None => "ssl = no\ndisable_plaintext_auth = no\n".to_owned(),
        };
        std::fs::write(
            dir.path().join("dovecot.conf"),
            format!(
                "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\nprotocols = imap\nlisten = 127.0.0.1\n{ssl}\
                 auth_mechanisms = plain login\nfirst_valid_uid = 1\n\
                 passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/passwd\n}}\n\
                 userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={d}/home/%u\n}}\n\
                 mail_location = maildir:~/Maildir\n\
                 service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n  inet_listener imaps {{\n    port = 0\n  }}\n}}\n\
                 service anvil {{\n  chroot =\n}}\n"
            ),
        )
        .expect("dovecot.conf");
        let bin = std::env::var("QM_DOVECOT_BIN").unwrap_or_else(|_| "/usr/sbin/dovecot".into());
        let child = Command::new(&bin)
            .arg("-F")
            .arg("-c")
            .arg(dir.path().join("dovecot.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin}: {e}; scripts/test installs dovecot-imapd"));
        let log = dir.path().join("dovecot.log");
        wait_listening(port, "dovecot", || std::fs::read_to_string(&log).unwrap_or_default());
        ImapServer { child, port, user, password, dir }
    }

    /// The user's Maildir (for writing many messages straight into `new/`).
    pub fn maildir(&self) -> PathBuf {
        self.dir.path().join("home").join(&self.user).join("Maildir")
    }

    /// Delivers a message into `folder` as the mail server would (doveadm save).
    pub fn deliver(&self, folder: &str, raw: &[u8]) {
        use std::io::Write;
        let mut child = Command::new("doveadm")
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .args(["save", "-u", &self.user, "-m", folder])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("doveadm");
        child.stdin.take().expect("stdin").write_all(raw).expect("write");
        let out = child.wait_with_output().expect("doveadm");
        assert!(out.status.success(), "doveadm save: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// How many IMAP sessions are logged in now (doveadm who).
    pub fn sessions(&self) -> usize {
        let out =
            Command::new("doveadm").arg("-c").arg(self.dir.path().join("dovecot.conf")).args(["who", "-1"]).output().expect("doveadm");
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| l.contains(&self.user)).count()
    }

    /// How many messages `folder` holds, and how many of them are flagged \Seen (doveadm search).
    pub fn count(&self, folder: &str, query: &str) -> usize {
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(self.dir.path().join("dovecot.conf"))
            .args(["search", "-u", &self.user, "mailbox", folder])
            .args(query.split_whitespace())
            .output()
            .expect("doveadm");
        String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.trim().is_empty()).count()
    }

    /// The secret file the tenant's `mailbox.password` reference points at.
    pub fn password_file(&self, into: &Path) -> PathBuf {
        let p = into.join("imap_password");
        std::fs::write(&p, &self.password).expect("write");
        p
    }
}
