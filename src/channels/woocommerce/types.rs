//! The parts of WooCommerce REST v3 resources Quartermaster reads. Unknown
//! fields are ignored; money stays text until parsed exactly.

use serde::{Deserialize, Serialize};

/// An order (`GET /orders`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Order {
    pub id: u64,
    #[serde(default)]
    pub number: String,
    pub status: String,
    pub currency: String,
    /// GMT, `YYYY-MM-DDTHH:MM:SS`.
    pub date_created_gmt: String,
    pub date_modified_gmt: String,
    /// GMT; set once the order is paid (null until then).
    #[serde(default)]
    pub date_paid_gmt: Option<String>,
    #[serde(default)]
    pub total: String,
    #[serde(default)]
    pub total_tax: String,
    #[serde(default)]
    pub shipping_total: String,
    #[serde(default)]
    pub payment_method: String,
    #[serde(default)]
    pub billing: Billing,
    #[serde(default)]
    pub shipping: Shipping,
    #[serde(default)]
    pub shipping_lines: Vec<ShippingLine>,
    #[serde(default)]
    pub line_items: Vec<LineItem>,
    /// The order's meta (`_qm_quote` on orders a quote made).
    #[serde(default)]
    pub meta_data: Vec<Meta>,
    /// The refunds made on the order, by date (read in full with `GET orders/<id>/refunds`).
    #[serde(default)]
    pub refunds: Vec<RefundRef>,
}

/// A refund as the order lists it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct RefundRef {
    pub id: u64,
    /// Negative, as text ("-15.00").
    #[serde(default)]
    pub total: String,
}

/// A refund (`GET orders/<id>/refunds`). Item quantities and totals are
/// negative; each item names the order item it refunds (`_refunded_item_id`).
/// `amount` may exceed the items' sum: the rest was refunded by amount only.
/// A webhook as `GET webhooks` lists it.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Webhook {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    /// `active`, `paused`, or `disabled` (WooCommerce disables a webhook after
    /// more than 5 failed deliveries in a row).
    pub status: String,
    pub topic: String,
    pub delivery_url: String,
}

/// Whether units went back to stock is not on the refund: WooCommerce keeps
/// it on the order's line (`_restock_refunded_items`, cumulative).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Refund {
    pub id: u64,
    pub date_created_gmt: String,
    #[serde(default)]
    pub amount: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub line_items: Vec<RefundItem>,
    #[serde(default)]
    pub shipping_lines: Vec<RefundItem>,
    #[serde(default)]
    pub fee_lines: Vec<RefundItem>,
}

/// One refunded item of a [`Refund`].
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct RefundItem {
    #[serde(default)]
    pub quantity: i64,
    #[serde(default)]
    pub total: String,
    #[serde(default)]
    pub total_tax: String,
    #[serde(default)]
    pub meta_data: Vec<Meta>,
}

impl RefundItem {
    /// The order item this refunds.
    pub fn refunded_item(&self) -> Option<u64> {
        meta_count(&self.meta_data, "_refunded_item_id").and_then(|v| u64::try_from(v).ok())
    }
}

/// An integer item meta, stored as text or as a number.
fn meta_count(meta: &[Meta], key: &str) -> Option<i64> {
    meta.iter().find(|m| m.key == key).and_then(|m| m.value.as_str().and_then(|v| v.trim().parse().ok()).or_else(|| m.value.as_i64()))
}

impl Order {
    /// The text of meta `key`, if set.
    pub fn meta(&self, key: &str) -> Option<&str> {
        self.meta_data.iter().find(|m| m.key == key).and_then(|m| m.value.as_str())
    }

    /// The fee the payment gateway kept, as the gateway plugins record it in
    /// the order meta (major units as text), and which meta said so:
    /// WooCommerce Stripe's `_stripe_fee`, WooCommerce PayPal Payments'
    /// `_ppcp_paypal_fees` (`paypal_fee.value`), PayPal Standard's
    /// `PayPal Transaction Fee`.
    pub fn gateway_fee(&self) -> Option<(&'static str, String)> {
        let text = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        };
        for m in &self.meta_data {
            let found = match m.key.as_str() {
                "_stripe_fee" => text(&m.value).map(|v| ("meta:_stripe_fee", v)),
                "_ppcp_paypal_fees" => m.value.pointer("/paypal_fee/value").and_then(text).map(|v| ("meta:_ppcp_paypal_fees", v)),
                "PayPal Transaction Fee" => text(&m.value).map(|v| ("meta:PayPal Transaction Fee", v)),
                _ => None,
            };
            if found.is_some() {
                return found;
            }
        }
        None
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
pub struct Billing {
    #[serde(default)]
    pub first_name: String,
    #[serde(default)]
    pub last_name: String,
    #[serde(default)]
    pub email: String,
}

/// The ship-to address.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(default)]
pub struct Shipping {
    pub first_name: String,
    pub last_name: String,
    pub company: String,
    pub address_1: String,
    pub address_2: String,
    pub city: String,
    pub state: String,
    pub postcode: String,
    pub country: String,
    pub phone: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct ShippingLine {
    #[serde(default)]
    pub method_id: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct LineItem {
    pub id: u64,
    #[serde(default)]
    pub name: String,
    pub product_id: u64,
    #[serde(default)]
    pub variation_id: u64,
    pub quantity: i64,
    #[serde(default)]
    pub sku: Option<String>,
    /// Line total after discounts, as text.
    #[serde(default)]
    pub total: String,
    #[serde(default)]
    pub meta_data: Vec<Meta>,
}

impl LineItem {
    /// Units WooCommerce took from its own stock for this line (its
    /// `_reduced_stock` item meta, net of restocked refunds; 0 when it did not).
    pub fn reduced_stock(&self) -> i64 {
        meta_count(&self.meta_data, "_reduced_stock").unwrap_or(0)
    }

    /// Units of this line that refunds put back into WooCommerce's stock, all
    /// refunds together (its `_restock_refunded_items` item meta).
    pub fn restocked_by_refunds(&self) -> i64 {
        meta_count(&self.meta_data, "_restock_refunded_items").unwrap_or(0)
    }
}

/// One meta entry (`{id, key, value}`); values may be any JSON.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Meta {
    #[serde(default)]
    pub key: String,
    #[serde(default)]
    pub value: serde_json::Value,
}

/// A product or variation (`GET /products`, `/products/<id>/variations`).
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct Product {
    pub id: u64,
    #[serde(default)]
    pub parent_id: u64,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub sku: String,
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub manage_stock: ManageStock,
    pub stock_quantity: Option<i64>,
    #[serde(default)]
    pub price: String,
    #[serde(default)]
    pub global_unique_id: String,
    /// The product's own "Low stock threshold" (null: the store's default).
    #[serde(default)]
    pub low_stock_amount: Option<i64>,
}

/// `manage_stock` is a boolean on products but may be the string "parent" on variations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ManageStock {
    Flag(bool),
    Text(String),
    #[default]
    Missing,
}

impl ManageStock {
    pub fn is_on(&self) -> bool {
        matches!(self, ManageStock::Flag(true))
    }

    /// A variation whose stock is its parent's (`"parent"`).
    pub fn on_parent(&self) -> bool {
        matches!(self, ManageStock::Text(t) if t == "parent")
    }
}

/// WooCommerce's error body.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
pub struct WooError {
    pub code: String,
    pub message: String,
}

/// An order Quartermaster creates (from an accepted quote), in minor units;
/// the caller builds it, so this module needs nothing of the quotes domain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewOrder {
    /// The quote's number and revision (meta `_qm_quote`, `_qm_quote_revision` = `R{revision}`): how a retry finds it.
    pub quote: String,
    pub revision: u32,
    pub currency: String,
    /// Decimals of the currency.
    pub exponent: u32,
    pub billing: NewBilling,
    pub lines: Vec<NewLine>,
    /// Lines without a store product, and tax: fee lines, so the total is exactly the quote's.
    pub fees: Vec<NewFee>,
    pub shipping: Option<NewFee>,
    pub total_minor: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewBilling {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
    pub company: String,
    pub country: String,
    pub state: String,
    pub postcode: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    pub woo_id: u64,
    pub quantity: u32,
    pub total_minor: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFee {
    pub name: String,
    pub total_minor: i64,
}
