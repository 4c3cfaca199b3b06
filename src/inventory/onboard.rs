//! Onboarding: take a store's current stock as opening lots, so the first
//! sync leaves the store exactly as it was.
//!
//! WooCommerce's stock already excludes units sold and not yet shipped (it
//! lowers stock when an order is paid), while Quartermaster counts them as
//! on hand and reserved. So a product's opening lot holds the store's stock
//! plus the units its open orders (in the tenant's reservable statuses, from
//! the poller's first look-back window) will reserve; after the first cycle
//! reserves them, available = the store's stock and nothing is pushed.
//! Unit costs come from the merchant's CSV (`sku,unit_cost`) or a stated
//! default; the lot records `source = 'opening'`.

use std::collections::{BTreeMap, HashMap};

use chrono::{TimeDelta, Utc};
use sqlx::MySqlPool;

use super::{catalog, reserve};
use crate::{channels::woocommerce::WooClient, money};

/// One opening lot to create.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OpeningLot {
    pub sku: String,
    /// What the store shows now.
    pub store_qty: i64,
    /// Units open orders will reserve.
    pub open_order_qty: i64,
    /// The lot's quantity: store + open orders (never below 0).
    pub lot_qty: u32,
    pub unit_cost_minor: i64,
    /// "costs file" or "default".
    pub cost_source: &'static str,
}

/// What onboarding would do.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Plan {
    pub products_seen: u32,
    pub lots: Vec<OpeningLot>,
    /// (SKU, why no lot): no SKU, not managing stock, already stocked, no cost.
    pub skipped: Vec<(String, String)>,
}

/// Why onboarding cannot start.
#[derive(Debug, thiserror::Error)]
pub enum OnboardError {
    #[error("{file}:{line}: {message}")]
    Costs { file: String, line: usize, message: String },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

/// Reads `sku,unit_cost` (a header line, decimal costs in the tenant's currency).
pub fn read_costs(file: &str, text: &str, currency: &str) -> Result<HashMap<String, i64>, OnboardError> {
    let mut out = HashMap::new();
    let mut r = csv::ReaderBuilder::new().trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = r.headers().map_err(|e| OnboardError::Costs { file: file.into(), line: 1, message: e.to_string() })?.clone();
    let (Some(sku_col), Some(cost_col)) =
        (headers.iter().position(|h| h.eq_ignore_ascii_case("sku")), headers.iter().position(|h| h.eq_ignore_ascii_case("unit_cost")))
    else {
        return Err(OnboardError::Costs {
            file: file.into(),
            line: 1,
            message: "the header must name the columns `sku` and `unit_cost`".into(),
        });
    };
    for (i, rec) in r.records().enumerate() {
        let line = i + 2;
        let rec = rec.map_err(|e| OnboardError::Costs { file: file.into(), line, message: e.to_string() })?;
        let sku = rec.get(sku_col).unwrap_or_default().to_owned();
        let cost = rec.get(cost_col).unwrap_or_default();
        let minor = money::parse_minor(cost, money::exponent(currency)).map_err(|e| OnboardError::Costs {
            file: file.into(),
            line,
            message: format!("unit_cost `{cost}`: {e}"),
        })?;
        if minor < 0 {
            return Err(OnboardError::Costs { file: file.into(), line, message: format!("unit_cost `{cost}` is negative") });
        }
        out.insert(sku, minor);
    }
    Ok(out)
}

/// Reads the store (catalog and open orders) and plans the opening lots. Writes nothing.
pub async fn plan(
    pool: &MySqlPool,
    woo: &WooClient,
    reservable: &[String],
    costs: &HashMap<String, i64>,
    default_cost: Option<i64>,
) -> anyhow::Result<(Plan, Vec<crate::channels::woocommerce::types::Product>)> {
    let products = woo.all_products().await?;
    let orders = woo.orders_modified_after(Utc::now() - TimeDelta::days(super::FIRST_LOOKBACK_DAYS)).await?;
    // A variation whose stock is its parent's counts its open orders under the parent.
    let holder: HashMap<u64, u64> =
        products.iter().filter(|p| p.manage_stock.on_parent() && p.parent_id > 0).map(|p| (p.id, p.parent_id)).collect();
    let mut open: HashMap<u64, i64> = HashMap::new();
    for o in orders.iter().filter(|o| reservable.contains(&o.status)) {
        for l in &o.line_items {
            let item = if l.variation_id > 0 { l.variation_id } else { l.product_id };
            *open.entry(holder.get(&item).copied().unwrap_or(item)).or_default() += l.quantity.max(0);
        }
    }
    let stocked: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT p.sku FROM products p JOIN inventory_lots l ON l.product_id = p.id").fetch_all(pool).await?;
    let mut plan = Plan::default();
    for p in &products {
        plan.products_seen += 1;
        let why = if p.sku.is_empty() {
            Some("no SKU in WooCommerce (give it one to track its stock)".to_owned())
        } else if p.manage_stock.on_parent() {
            Some(format!("its stock is kept on its parent (WooCommerce id {}): the parent's opening lot counts it", p.parent_id))
        } else if !p.manage_stock.is_on() {
            Some("does not manage stock in WooCommerce".to_owned())
        } else if stocked.contains(&p.sku) {
            Some("already has stock in Quartermaster".to_owned())
        } else {
            None
        };
        if let Some(why) = why {
            plan.skipped.push((if p.sku.is_empty() { format!("(id {})", p.id) } else { p.sku.clone() }, why));
            continue;
        }
        let (cost, source) = match (costs.get(&p.sku), default_cost) {
            (Some(c), _) => (*c, "costs file"),
            (None, Some(d)) => (d, "default"),
            (None, None) => {
                plan.skipped.push((p.sku.clone(), "no unit cost in the costs file and no --default-unit-cost".into()));
                continue;
            }
        };
        let store_qty = p.stock_quantity.unwrap_or(0);
        let open_order_qty = open.get(&p.id).copied().unwrap_or(0);
        let lot_qty = u32::try_from((store_qty + open_order_qty).max(0)).unwrap_or(u32::MAX);
        plan.lots.push(OpeningLot { sku: p.sku.clone(), store_qty, open_order_qty, lot_qty, unit_cost_minor: cost, cost_source: source });
    }
    Ok((plan, products))
}

/// Mirrors the catalog and creates the planned lots (one transaction), and
/// records the store's stock as what WooCommerce holds. Returns lots created.
pub async fn apply(
    pool: &MySqlPool,
    woo: &WooClient,
    products: &[crate::channels::woocommerce::types::Product],
    plan: &Plan,
    currency: &str,
) -> anyhow::Result<u32> {
    catalog::mirror(pool, woo, products, currency, false).await?;
    let ids: BTreeMap<String, u64> =
        sqlx::query_as::<_, (String, u64)>("SELECT sku, id FROM products").fetch_all(pool).await?.into_iter().collect();
    let lot_ref = format!("OPENING-{}", Utc::now().format("%Y%m%d"));
    let mut tx = pool.begin().await?;
    let mut created = 0;
    for lot in &plan.lots {
        let Some(pid) = ids.get(&lot.sku) else { continue };
        reserve::insert_opening_lot(&mut tx, *pid, &lot_ref, lot.lot_qty, lot.unit_cost_minor).await?;
        crate::channels::outbox::record_shown(&mut *tx, "woocommerce", &[(*pid, lot.store_qty)]).await?;
        created += 1;
    }
    tx.commit().await?;
    Ok(created)
}
