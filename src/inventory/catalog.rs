//! The catalog mirror: WooCommerce products and variations upserted into
//! `products` (by WooCommerce id), with GTINs normalised, and products that
//! do not manage stock reported (or fixed, when the tenant allows).

use sqlx::MySqlPool;

use super::gtin::{self, Code};
use crate::{
    channels::woocommerce::{WooClient, types::Product},
    events::{self, Event, Severity},
    money,
};

/// What a catalog sync did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CatalogSummary {
    pub seen: u32,
    pub upserted: u32,
    pub not_managing_stock: Vec<String>,
    pub fixed_manage_stock: u32,
    pub bad_gtins: Vec<String>,
    /// Variations whose stock is their parent's (`manage_stock: "parent"`): not synced.
    pub stock_on_parent: Vec<String>,
    /// SKUs WooCommerce holds more than once: only the first is mirrored.
    pub duplicate_skus: Vec<String>,
    /// Products without a SKU: not mirrored (give them one to track them).
    pub without_sku: u32,
}

/// Pulls the whole catalog and upserts it. Mirroring never pushes stock.
pub async fn sync_from_woo(pool: &MySqlPool, woo: &WooClient, currency: &str, fix_manage_stock: bool) -> anyhow::Result<CatalogSummary> {
    let products = woo.all_products().await?;
    mirror(pool, woo, &products, currency, fix_manage_stock).await
}

/// Upserts products already read from the store.
pub async fn mirror(
    pool: &MySqlPool,
    woo: &WooClient,
    products: &[Product],
    currency: &str,
    fix_manage_stock: bool,
) -> anyhow::Result<CatalogSummary> {
    let mut s = CatalogSummary::default();
    let mut skus = std::collections::HashSet::new();
    for p in products {
        s.seen += 1;
        if p.sku.is_empty() {
            s.without_sku += 1;
            continue;
        }
        if !skus.insert(p.sku.as_str()) {
            s.duplicate_skus.push(p.sku.clone());
            continue;
        }
        let (upc, gtin) = match gtin_columns(&p.global_unique_id) {
            Ok(v) => v,
            Err(()) => {
                s.bad_gtins.push(p.sku.clone());
                (None, None)
            }
        };
        let mut manage = p.manage_stock.is_on();
        if p.manage_stock.on_parent() {
            // Its stock is the parent's: the parent row is pushed for the family.
            // Turning manage_stock on here would give the variation a stock of
            // its own (0) and take it off its parent's: never "fix" it.
            s.stock_on_parent.push(p.sku.clone());
        } else if !manage {
            if fix_manage_stock {
                woo.enable_manage_stock(p.id, (p.parent_id > 0).then_some(p.parent_id)).await?;
                s.fixed_manage_stock += 1;
                manage = true;
            } else {
                s.not_managing_stock.push(p.sku.clone());
            }
        }
        let price = money::parse_minor(&p.price, money::exponent(currency)).ok();
        upsert(pool, p, upc.as_deref(), gtin.as_deref(), price, manage).await?;
        s.upserted += 1;
    }
    if !s.not_managing_stock.is_empty() {
        let list: Vec<&str> = s.not_managing_stock.iter().take(20).map(String::as_str).collect();
        events::record(
            pool,
            Event::info(
                "catalog.manage_stock_off",
                format!(
                    "{} products do not manage stock in WooCommerce, so stock pushes to them are ignored: {}",
                    s.not_managing_stock.len(),
                    list.join(", ")
                ),
            )
            .severity(Severity::Warning),
        )
        .await?;
    }
    // Variations that keep stock on their parent point at the parent's row.
    let on_parent: Vec<u64> =
        products.iter().filter(|p| p.manage_stock.on_parent() && p.parent_id > 0 && !p.sku.is_empty()).map(|p| p.id).collect();
    link_stock_holders(pool, &on_parent).await?;
    for (kind, list, what) in [
        (
            "catalog.duplicate_sku",
            &s.duplicate_skus,
            "SKUs are used by more than one WooCommerce product; only the first of each is tracked, give the others their own SKU",
        ),
        (
            "catalog.stock_on_parent",
            &s.stock_on_parent,
            "variations keep their stock on the parent product; the parent is pushed the sum of the family's available units, and a variation's order may reserve from the parent's (opening) lots",
        ),
    ] {
        if !list.is_empty() {
            let names: Vec<&str> = list.iter().take(20).map(String::as_str).collect();
            events::record(pool, Event::info(kind, format!("{} {what}: {}", list.len(), names.join(", "))).severity(Severity::Warning))
                .await?;
        }
    }
    Ok(s)
}

/// Points each listed variation (by WooCommerce id) at its parent's row,
/// and clears the link of every other product.
async fn link_stock_holders(pool: &MySqlPool, on_parent: &[u64]) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE products SET stock_holder_id = NULL WHERE stock_holder_id IS NOT NULL").execute(&mut *tx).await?;
    if !on_parent.is_empty() {
        sqlx::query(
            r#"UPDATE products c JOIN products p ON p.woo_id = c.woo_parent_id AND p.woo_parent_id IS NULL SET c.stock_holder_id = p.id
               WHERE c.woo_id IN (SELECT id FROM JSON_TABLE(?, '$[*]' COLUMNS (id BIGINT UNSIGNED PATH '$')) AS ids)"#,
        )
        .bind(crate::db::json_list(on_parent))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// (upc, gtin) columns from WooCommerce's GTIN field; `Err` when malformed.
fn gtin_columns(raw: &str) -> Result<(Option<String>, Option<String>), ()> {
    if raw.trim().is_empty() {
        return Ok((None, None));
    }
    match gtin::normalize(raw) {
        Ok(Code::UpcA(u)) => Ok((Some(u.clone()), Some(u))),
        Ok(Code::Ean13(c) | Code::Gtin8(c) | Code::CasePack(c) | Code::VariableMeasure(c)) => Ok((None, Some(c))),
        Ok(Code::Sku(_)) | Err(_) => Err(()),
    }
}

async fn upsert(
    pool: &MySqlPool,
    p: &Product,
    upc: Option<&str>,
    gtin: Option<&str>,
    price: Option<i64>,
    manage: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"INSERT INTO products (woo_id, woo_parent_id, sku, name, gtin, upc, price_minor, manage_stock, low_stock_threshold)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON DUPLICATE KEY UPDATE woo_id = VALUES(woo_id), woo_parent_id = VALUES(woo_parent_id), name = VALUES(name),
               gtin = COALESCE(VALUES(gtin), gtin), upc = COALESCE(VALUES(upc), upc), price_minor = COALESCE(VALUES(price_minor), price_minor),
               manage_stock = VALUES(manage_stock), low_stock_threshold = VALUES(low_stock_threshold)"#,
    )
    .bind(p.id)
    .bind((p.parent_id > 0).then_some(p.parent_id))
    .bind(&p.sku)
    .bind(p.name.chars().take(255).collect::<String>())
    .bind(gtin)
    .bind(upc)
    .bind(price)
    .bind(manage)
    .bind(p.low_stock_amount.and_then(|n| u32::try_from(n).ok()))
    .execute(pool)
    .await?;
    Ok(())
}

/// How many products Quartermaster knows (any status).
pub async fn count(pool: &MySqlPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM products").fetch_one(pool).await
}

/// The product with SKU `sku`, or `None`.
pub async fn id_by_sku(pool: &MySqlPool, sku: &str) -> Result<Option<u64>, sqlx::Error> {
    sqlx::query_scalar::<_, u64>("SELECT id FROM products WHERE sku = ?").bind(sku).fetch_optional(pool).await
}

/// Products that have a WooCommerce id: (id, WooCommerce id, SKU, name, price in minor units).
pub async fn woo_products(pool: &MySqlPool) -> Result<Vec<(u64, u64, String, String, i64)>, sqlx::Error> {
    sqlx::query_as::<_, (u64, u64, String, String, i64)>(
        "SELECT id, woo_id, sku, name, COALESCE(price_minor, 0) FROM products WHERE woo_id IS NOT NULL ORDER BY id",
    )
    .fetch_all(pool)
    .await
}
