//! Writes a prepared data set (the `scripts/dev` demo) into the tables
//! inventory owns, in one transaction: suppliers with an invoice each,
//! products, lots received on given dates. Orders are not written here: the
//! demo hands WooCommerce-shaped orders to `orders::upsert_in`, the path
//! real orders take.

use chrono::NaiveDateTime;
use sqlx::{MySql, Transaction};

/// A supplier and the one invoice its demo lots arrived on.
pub struct SeedSupplier<'a> {
    pub name: &'a str,
    pub email: &'a str,
    pub invoice_ref: &'a str,
    pub currency: &'a str,
}

/// Inserts the supplier and its invoice; returns the invoice's id.
pub async fn supplier_invoice(tx: &mut Transaction<'_, MySql>, s: &SeedSupplier<'_>) -> Result<u64, sqlx::Error> {
    let supplier = sqlx::query("INSERT INTO suppliers (name, email) VALUES (?, ?)").bind(s.name).bind(s.email).execute(&mut **tx).await?;
    let invoice = sqlx::query(
        "INSERT INTO supplier_invoices (supplier_id, invoice_ref, invoice_date, currency, total_minor) VALUES (?, ?, CURDATE(), ?, 0)",
    )
    .bind(supplier.last_insert_id())
    .bind(s.invoice_ref)
    .bind(s.currency)
    .execute(&mut **tx)
    .await?;
    Ok(invoice.last_insert_id())
}

/// A product as the demo catalog has it.
pub struct SeedProduct<'a> {
    pub woo_id: u64,
    pub sku: &'a str,
    pub name: &'a str,
    /// GTIN-14 as the store holds it.
    pub gtin: &'a str,
    pub upc: &'a str,
    pub price_minor: i64,
    pub serial_tracked: bool,
    pub bin: &'a str,
    pub weight_g: u32,
}

/// Inserts the product; returns its id.
pub async fn product(tx: &mut Transaction<'_, MySql>, p: &SeedProduct<'_>) -> Result<u64, sqlx::Error> {
    let r = sqlx::query(
        "INSERT INTO products (woo_id, sku, name, gtin, upc, price_minor, serial_tracked, bin, weight_g) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(p.woo_id)
    .bind(p.sku)
    .bind(p.name)
    .bind(p.gtin)
    .bind(p.upc)
    .bind(p.price_minor)
    .bind(p.serial_tracked)
    .bind(p.bin)
    .bind(p.weight_g)
    .execute(&mut **tx)
    .await?;
    Ok(r.last_insert_id())
}

/// A lot received in the past, part of it already gone.
pub struct SeedLot<'a> {
    pub product_id: u64,
    pub invoice_id: u64,
    pub lot_ref: &'a str,
    pub received_at: NaiveDateTime,
    pub received: u32,
    pub remaining: u32,
    pub unit_cost_minor: i64,
    pub location: &'a str,
}

/// Inserts the lot.
pub async fn lot(tx: &mut Transaction<'_, MySql>, l: &SeedLot<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"INSERT INTO inventory_lots (product_id, supplier_invoice_id, lot_ref, received_at, qty_received, qty_remaining, unit_cost_minor, location)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)"#,
    )
    .bind(l.product_id)
    .bind(l.invoice_id)
    .bind(l.lot_ref)
    .bind(l.received_at)
    .bind(l.received)
    .bind(l.remaining)
    .bind(l.unit_cost_minor)
    .bind(l.location)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
