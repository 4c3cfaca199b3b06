//! HTML → PDF through WeasyPrint, run with std::process: HTML on stdin,
//! PDF on stdout, stderr kept for the error, and a deadline after which the
//! process is killed. One cold process per document keeps a crashing render
//! from taking the server with it.
//!
//! The process is `render.py` on the Python the `weasyprint` command runs
//! on: WeasyPrint itself, with a URL fetcher that reads only the template
//! folder (`data:` URLs, and `file:` paths inside the folder, symlinks
//! resolved). No text in a document — a customer's name, a supplier's
//! description, a template mistake — can make a render fetch from the
//! network or read another file; each refusal is logged.

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// Why a render failed.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    #[error("cannot run {program}: {source} (scripts/test installs weasyprint; set QM_WEASYPRINT to its path)")]
    Spawn { program: String, source: std::io::Error },
    #[error("weasyprint took longer than {0:?} and was stopped")]
    Timeout(Duration),
    #[error("weasyprint failed ({status}): {stderr}")]
    Failed { status: String, stderr: String },
    #[error("weasyprint produced no PDF: {stderr}")]
    Empty { stderr: String },
    #[error("weasyprint I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// The renderer (see the module's head).
const RENDER_PY: &str = include_str!("render.py");

/// The WeasyPrint to run.
#[derive(Debug, Clone)]
pub struct WeasyPrint {
    /// The `weasyprint` command: its version is the health probe, and its
    /// `#!` line names the Python the renderer runs on.
    program: PathBuf,
    timeout: Duration,
}

/// The interpreter a script's `#!` line names (`/usr/bin/python3`,
/// `/usr/bin/env python3`), found on PATH when the program is a bare name.
fn interpreter_of(program: &Path) -> Option<Vec<String>> {
    let path = if program.components().count() > 1 {
        program.to_path_buf()
    } else {
        std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(program)).find(|p| p.is_file())?
    };
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).ok()?.read(&mut head).ok()?;
    let first = std::str::from_utf8(&head[..n]).ok()?.lines().next()?.strip_prefix("#!")?;
    let words: Vec<String> = first.split_whitespace().map(str::to_owned).collect();
    (!words.is_empty()).then_some(words)
}

impl Default for WeasyPrint {
    fn default() -> Self {
        Self {
            program: std::env::var_os("QM_WEASYPRINT").map_or_else(|| PathBuf::from("weasyprint"), PathBuf::from),
            timeout: Duration::from_secs(60),
        }
    }
}

impl WeasyPrint {
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The program's version line (`WeasyPrint version 57.2`): the health probe.
    pub async fn version(&self) -> Result<String, PdfError> {
        let out = tokio::time::timeout(Duration::from_secs(20), tokio::process::Command::new(&self.program).arg("--version").output())
            .await
            .map_err(|_| PdfError::Timeout(Duration::from_secs(20)))?
            .map_err(|source| PdfError::Spawn { program: self.program.display().to_string(), source })?;
        if !out.status.success() {
            return Err(PdfError::Failed {
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    /// Renders `html`; relative URLs (logo, stylesheet) resolve against `base_dir`.
    pub async fn render(&self, html: String, base_dir: Option<&Path>) -> Result<Vec<u8>, PdfError> {
        let this = self.clone();
        let base = base_dir.map(Path::to_path_buf);
        tokio::task::spawn_blocking(move || this.render_blocking(html.as_bytes(), base.as_deref()))
            .await
            .map_err(|e| PdfError::Io(std::io::Error::other(e.to_string())))?
    }

    /// The same, on the calling thread.
    pub fn render_blocking(&self, html: &[u8], base_dir: Option<&Path>) -> Result<Vec<u8>, PdfError> {
        let program = || self.program.display().to_string();
        let python = interpreter_of(&self.program).ok_or_else(|| PdfError::Spawn {
            program: program(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "not found, or not a Python script"),
        })?;
        let mut cmd = Command::new(&python[0]);
        cmd.args(&python[1..]).arg("-c").arg(RENDER_PY);
        if let Some(base) = base_dir {
            cmd.arg(base);
        }
        // Nothing of ours reaches the renderer's environment but what Python needs.
        cmd.env_clear().env("PATH", "/usr/bin:/bin").env("LANG", "C.UTF-8").env("HOME", std::env::temp_dir());
        if let Some(fc) = std::env::var_os("FONTCONFIG_FILE") {
            cmd.env("FONTCONFIG_FILE", fc);
        }
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|source| PdfError::Spawn { program: program(), source })?;
        // Feed stdin and drain stdout/stderr on their own threads so a large
        // document cannot deadlock on a full pipe.
        let mut stdin = child.stdin.take().ok_or_else(|| std::io::Error::other("no stdin"))?;
        let input = html.to_vec();
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
        let mut stdout = child.stdout.take().ok_or_else(|| std::io::Error::other("no stdout"))?;
        let reader = std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = stdout.read_to_end(&mut out);
            out
        });
        let mut stderr = child.stderr.take().ok_or_else(|| std::io::Error::other("no stderr"))?;
        let err_reader = std::thread::spawn(move || {
            let mut out = String::new();
            let _ = stderr.read_to_string(&mut out);
            out
        });
        let deadline = Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(PdfError::Timeout(self.timeout));
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let _ = writer.join();
        let pdf = reader.join().unwrap_or_default();
        let stderr: String = err_reader.join().unwrap_or_default().chars().take(2000).collect();
        if !status.success() {
            return Err(PdfError::Failed { status: status.to_string(), stderr: stderr.trim().to_owned() });
        }
        for refused in stderr.lines().filter(|l| l.starts_with("qm: refused to fetch")) {
            tracing::warn!(what = refused.trim_start_matches("qm: "), "a document asked for a resource outside its template folder");
        }
        if !pdf.starts_with(b"%PDF") {
            return Err(PdfError::Empty { stderr: stderr.trim().to_owned() });
        }
        Ok(pdf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_program_says_how_to_get_it() {
        let w = WeasyPrint { program: "/nonexistent/weasyprint".into(), timeout: Duration::from_secs(1) };
        let e = w.render_blocking(b"<p>x</p>", None).expect_err("no program");
        assert!(e.to_string().contains("installs weasyprint"), "{e}");
    }
}
