//! Sales channels that hold a stock quantity: WooCommerce (the system of
//! record) and eBay. Each is a [`StockChannel`]; a third is one new module
//! that implements it. Pushes go through the durable [`outbox`] with
//! [`retry`], so an outage or a crash loses nothing.

pub mod ebay;
pub mod outbox;
pub mod retry;
pub mod woocommerce;

use async_trait::async_trait;

/// One product's new quantity for one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockUpdate {
    pub product_id: u64,
    pub sku: String,
    /// The channel's id for the item (WooCommerce product or variation id).
    pub external_id: Option<u64>,
    /// WooCommerce parent product of a variation.
    pub parent_id: Option<u64>,
    pub quantity: i64,
}

/// What the channel said about one item of a push.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemResult {
    /// The channel now shows this quantity.
    Confirmed { product_id: u64, quantity: i64 },
    /// The channel refused the item (unknown id, stock not managed, …); not retried.
    Rejected { product_id: u64, code: String, message: String },
}

/// Why a whole call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChannelError {
    /// Worth retrying: timeout, connection refused, 429, 5xx. Whether a
    /// retry is scheduled is the caller's to say (with when).
    #[error("{channel}: {message}")]
    Transient { channel: &'static str, message: String, retry_after: Option<std::time::Duration> },
    /// Not worth retrying: 4xx, a malformed answer.
    #[error("{channel}: HTTP {status} {code}: {message}")]
    Permanent { channel: &'static str, status: u16, code: String, message: String },
}

impl ChannelError {
    pub fn is_transient(&self) -> bool {
        matches!(self, ChannelError::Transient { .. })
    }

    /// The channel's error code, for the dashboard.
    pub fn code(&self) -> String {
        match self {
            ChannelError::Transient { .. } => "transient".into(),
            ChannelError::Permanent { code, .. } => code.clone(),
        }
    }
}

/// A channel that can be told a product's true quantity.
#[async_trait]
pub trait StockChannel: Send + Sync {
    /// Short name, used in the outbox and `channel_stock` (`woocommerce`, `ebay`).
    fn name(&self) -> &'static str;
    /// Most items one call may carry.
    fn batch_limit(&self) -> usize;
    /// Pushes one batch (at most `batch_limit` items) in one call.
    async fn push(&self, batch: &[StockUpdate]) -> Result<Vec<ItemResult>, ChannelError>;
    /// HTTP requests made so far (for summaries and benchmarks).
    fn requests(&self) -> u64;
}
