//! Print jobs to CUPS (or an IPP Everywhere printer) over IPP. Every job is
//! a `print_jobs` row first (printer, kind, SHA-256 and bytes), so a printer
//! that is down or refuses loses nothing: the job stays queued with its
//! error and is retried; reprint is one call. Jobs carry the operator as
//! requesting-user-name so they are attributable in CUPS.

use crate::ids::OperatorId;
use chrono::{TimeDelta, Utc};
use ipp::prelude::*;
use sha2::{Digest, Sha256};
use sqlx::MySqlPool;

use crate::events::{self, Event, Severity};

/// What a document is, for `print_jobs.document_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentKind {
    ShippingLabel,
    PackingSlip,
    LotLabel,
    SerialLabel,
}

impl DocumentKind {
    fn as_str(self) -> &'static str {
        match self {
            DocumentKind::ShippingLabel => "shipping_label",
            DocumentKind::PackingSlip => "packing_slip",
            DocumentKind::LotLabel => "lot_label",
            DocumentKind::SerialLabel => "serial_label",
        }
    }

    /// Labels are raw ZPL; slips are PDF.
    fn formats(self) -> &'static [&'static str] {
        match self {
            DocumentKind::PackingSlip => &["application/pdf"],
            // A raw CUPS queue takes vnd.cups-raw (or octet-stream); an IPP Everywhere Zebra wants vnd.zebra-zpl.
            _ => &["application/vnd.cups-raw", "application/octet-stream", "application/vnd.zebra-zpl"],
        }
    }
}

/// Where a job goes.
#[derive(Debug, Clone)]
pub struct PrinterTarget {
    pub name: String,
    /// `ipp://host:631/printers/queue` (or http://).
    pub uri: String,
}

/// A job's state after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// CUPS accepted it with this job id.
    Sent { ipp_job_id: i32 },
    /// Kept queued; retried after `retry_in`.
    Queued { error: String, retry_in: TimeDelta },
}

/// Records a job and tries to send it at once; returns the print_jobs id and the attempt.
pub async fn submit(
    pool: &MySqlPool,
    printer: &PrinterTarget,
    kind: DocumentKind,
    bytes: Vec<u8>,
    operator: Option<(OperatorId, &str)>,
) -> Result<(u64, Attempt), sqlx::Error> {
    submit_for(pool, printer, kind, bytes, operator, None).await
}

/// [`submit`] for a document that belongs to a shipment (so the station can reprint it).
pub async fn submit_for(
    pool: &MySqlPool,
    printer: &PrinterTarget,
    kind: DocumentKind,
    bytes: Vec<u8>,
    operator: Option<(OperatorId, &str)>,
    shipment: Option<u64>,
) -> Result<(u64, Attempt), sqlx::Error> {
    let sha = Sha256::digest(&bytes).to_vec();
    let id = sqlx::query("INSERT INTO print_jobs (printer, document_kind, sha256, bytes_len, document, operator_id, shipment_id) VALUES (?, ?, ?, ?, ?, ?, ?)")
        .bind(&printer.name)
        .bind(kind.as_str())
        .bind(sha)
        .bind(bytes.len() as u32)
        .bind(&bytes)
        .bind(operator.map(|o| o.0))
        .bind(shipment)
        .execute(pool)
        .await?
        .last_insert_id();
    let attempt = attempt(pool, id, printer, kind, bytes, operator.map(|o| o.1).unwrap_or("quartermaster")).await?;
    Ok((id, attempt))
}

/// Sends a recorded job again (reprint or retry).
pub async fn resend(pool: &MySqlPool, job_id: u64, printer: &PrinterTarget) -> Result<Attempt, sqlx::Error> {
    let (kind, document, operator_id) = sqlx::query_as::<_, (String, Vec<u8>, Option<OperatorId>)>(
        "SELECT CAST(document_kind AS CHAR), document, operator_id FROM print_jobs WHERE id = ?",
    )
    .bind(job_id)
    .fetch_one(pool)
    .await?;
    let kind = match kind.as_str() {
        "packing_slip" => DocumentKind::PackingSlip,
        "lot_label" => DocumentKind::LotLabel,
        "serial_label" => DocumentKind::SerialLabel,
        _ => DocumentKind::ShippingLabel,
    };
    let user = match operator_id {
        Some(id) => crate::operators::by_id(pool, id).await?.map(|o| o.username.as_str().to_owned()),
        None => None,
    };
    attempt(pool, job_id, printer, kind, document, user.as_deref().unwrap_or("quartermaster")).await
}

/// Queued jobs whose retry time has come, for the retry job: (id, printer name).
pub async fn due(pool: &MySqlPool) -> Result<Vec<(u64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, printer FROM print_jobs WHERE state = 'queued' AND (next_attempt_at IS NULL OR next_attempt_at <= UTC_TIMESTAMP(6)) ORDER BY id").fetch_all(pool).await
}

async fn attempt(
    pool: &MySqlPool,
    id: u64,
    printer: &PrinterTarget,
    kind: DocumentKind,
    bytes: Vec<u8>,
    user: &str,
) -> Result<Attempt, sqlx::Error> {
    let outcome = send(printer, kind, bytes, user, id).await;
    match outcome {
        Ok(job) => {
            sqlx::query("UPDATE print_jobs SET state = 'sent', ipp_job_id = ?, attempts = attempts + 1, last_error = NULL, next_attempt_at = NULL WHERE id = ?")
                .bind(job)
                .bind(id)
                .execute(pool)
                .await?;
            events::record(
                pool,
                Event::info("print.sent", format!("{} {id} sent to {} (CUPS job {job})", kind.as_str().replace('_', " "), printer.name))
                    .about("print_job", id),
            )
            .await?;
            Ok(Attempt::Sent { ipp_job_id: job })
        }
        Err(error) => {
            let attempts: u32 = sqlx::query_scalar("SELECT attempts FROM print_jobs WHERE id = ?").bind(id).fetch_one(pool).await?;
            let retry_in = TimeDelta::seconds(5 * (1i64 << attempts.min(6)));
            sqlx::query(
                "UPDATE print_jobs SET state = 'queued', attempts = attempts + 1, last_error = ?, next_attempt_at = ? WHERE id = ?",
            )
            .bind(error.chars().take(512).collect::<String>())
            .bind(Utc::now().naive_utc() + retry_in)
            .bind(id)
            .execute(pool)
            .await?;
            events::record(
                pool,
                Event::info(
                    "print.failed",
                    format!("printer {} did not take job {id}: {error}; it stays queued and is retried", printer.name),
                )
                .severity(Severity::Warning)
                .about("print_job", id),
            )
            .await?;
            Ok(Attempt::Queued { error, retry_in })
        }
    }
}

/// One Print-Job, trying the document formats the kind allows in order.
async fn send(printer: &PrinterTarget, kind: DocumentKind, bytes: Vec<u8>, user: &str, id: u64) -> Result<i32, String> {
    let uri: Uri = printer.uri.parse().map_err(|e| format!("bad printer URI {}: {e}", printer.uri))?;
    let client = AsyncIppClient::builder(uri.clone()).request_timeout(std::time::Duration::from_secs(20)).build();
    let mut last = String::new();
    for format in kind.formats() {
        let payload = IppPayload::new_async(futures::io::Cursor::new(bytes.clone()));
        let op = IppOperationBuilder::print_job(uri.clone(), payload)
            .user_name(user)
            .job_title(format!("quartermaster-{id}"))
            .document_format(*format)
            .build()
            .map_err(|e| e.to_string())?;
        let resp = client.send(op).await.map_err(|e| format!("cannot reach {}: {e}", printer.uri))?;
        let status = resp.header().status_code();
        if status.is_success() {
            let job = resp
                .attributes()
                .groups_of(DelimiterTag::JobAttributes)
                .find_map(|g| g.attributes().iter().find(|a| a.name().to_string() == "job-id"))
                .and_then(|a| if let IppValue::Integer(i) = a.value() { Some(*i) } else { None })
                .unwrap_or(0);
            return Ok(job);
        }
        last = format!("{status:?} for {format}");
        if status != StatusCode::ClientErrorDocumentFormatNotSupported {
            break;
        }
    }
    Err(format!("the printer refused the job: {last}"))
}

/// Every print job of a shipment: (job, printer, document kind).
pub async fn jobs_of_shipment(pool: &MySqlPool, shipment_id: u64) -> Result<Vec<(u64, String, String)>, sqlx::Error> {
    sqlx::query_as::<_, (u64, String, String)>(
        "SELECT id, printer, CAST(document_kind AS CHAR) FROM print_jobs WHERE shipment_id = ? ORDER BY id",
    )
    .bind(shipment_id)
    .fetch_all(pool)
    .await
}

/// Print jobs recorded since `since`, by state: (state, count).
pub async fn states_since(pool: &MySqlPool, since: chrono::NaiveDateTime) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as("SELECT CAST(state AS CHAR), COUNT(*) FROM print_jobs WHERE created_at >= ? GROUP BY state ORDER BY state")
        .bind(since)
        .fetch_all(pool)
        .await
}

/// What a printer says of itself (IPP Get-Printer-Attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrinterStatus {
    /// `idle`, `processing` or `stopped`.
    pub state: String,
    /// `printer-state-reasons` other than `none` (e.g. `media-empty`, `paused`).
    pub reasons: Vec<String>,
    /// `queued-job-count`.
    pub queued_jobs: i32,
    /// `printer-is-accepting-jobs`.
    pub accepting: bool,
}

impl PrinterStatus {
    /// Whether jobs sent now would print: not stopped, accepting, no error reason.
    pub fn is_up(&self) -> bool {
        self.state != "stopped" && self.accepting && !self.reasons.iter().any(|r| r.ends_with("-error"))
    }
}

/// Asks a printer for its state; an error says why it could not be asked.
pub async fn status(printer: &PrinterTarget, timeout: std::time::Duration) -> Result<PrinterStatus, String> {
    let uri: Uri = printer.uri.parse().map_err(|e| format!("bad printer URI {}: {e}", printer.uri))?;
    let client = AsyncIppClient::builder(uri.clone()).request_timeout(timeout).build();
    let op = IppOperationBuilder::get_printer_attributes(uri)
        .attributes(["printer-state", "printer-state-reasons", "queued-job-count", "printer-is-accepting-jobs"])
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client.send(op).await.map_err(|e| format!("cannot reach {}: {e}", printer.uri))?;
    let code = resp.header().status_code();
    if !code.is_success() {
        return Err(format!("{} answered {code:?}", printer.uri));
    }
    let mut status = PrinterStatus { state: "unknown".into(), reasons: Vec::new(), queued_jobs: 0, accepting: true };
    for group in resp.attributes().groups_of(DelimiterTag::PrinterAttributes) {
        for attr in group.attributes() {
            match (attr.name().to_string().as_str(), attr.value()) {
                ("printer-state", IppValue::Enum(3)) => status.state = "idle".into(),
                ("printer-state", IppValue::Enum(4)) => status.state = "processing".into(),
                ("printer-state", IppValue::Enum(5)) => status.state = "stopped".into(),
                ("printer-state-reasons", v) => {
                    let values = match v {
                        IppValue::Array(a) => a.iter().map(ToString::to_string).collect(),
                        other => vec![other.to_string()],
                    };
                    status.reasons = values.into_iter().filter(|r: &String| r != "none").collect();
                }
                ("queued-job-count", IppValue::Integer(n)) => status.queued_jobs = *n,
                ("printer-is-accepting-jobs", IppValue::Boolean(b)) => status.accepting = *b,
                _ => {}
            }
        }
    }
    Ok(status)
}

/// What a pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Retried {
    pub sent: u32,
    pub still_queued: u32,
    /// Jobs for a printer no longer in the tenant file (left queued, visible).
    pub unknown_printer: u32,
}

/// One pass over the due jobs (the job `print_retry`, every minute).
pub async fn retry_due(pool: &MySqlPool, printers: &[crate::config::Printer]) -> Result<Retried, sqlx::Error> {
    let mut out = Retried::default();
    for (id, name) in due(pool).await? {
        let Some(p) = printers.iter().find(|p| p.name == name) else {
            out.unknown_printer += 1;
            continue;
        };
        let target = PrinterTarget { name: p.name.clone(), uri: p.uri.clone() };
        match resend(pool, id, &target).await? {
            Attempt::Sent { .. } => out.sent += 1,
            Attempt::Queued { .. } => out.still_queued += 1,
        }
    }
    Ok(out)
}
