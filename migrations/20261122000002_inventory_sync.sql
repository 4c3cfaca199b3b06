-- Inventory sync: case packs, backorders, channel bookkeeping, sync watermarks.

-- GTIN-14 case packs map to their unit product (a pack of 12 scans as 12 units).
CREATE TABLE product_packs (
    gtin14      CHAR(14) NOT NULL PRIMARY KEY,
    product_id  BIGINT UNSIGNED NOT NULL,
    units       INT UNSIGNED NOT NULL,
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    CONSTRAINT product_packs_product FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT product_packs_units CHECK (units > 1),
    CONSTRAINT product_packs_digits CHECK (gtin14 REGEXP '^[1-8][0-9]{13}$')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- What the order line could not get from stock when it was last reserved.
ALTER TABLE order_lines
    ADD COLUMN backordered_qty   INT UNSIGNED NOT NULL DEFAULT 0 AFTER quantity,
    ADD COLUMN woo_product_id    BIGINT UNSIGNED NULL AFTER product_id,
    ADD COLUMN woo_variation_id  BIGINT UNSIGNED NULL AFTER woo_product_id,
    ADD COLUMN removed           BOOLEAN NOT NULL DEFAULT FALSE AFTER backordered_qty,
    ADD CONSTRAINT order_lines_backorder_bounded CHECK (backordered_qty <= quantity);

-- The quantity each channel last confirmed for a product: a push is needed
-- only when the available quantity differs from it.
CREATE TABLE channel_stock (
    channel        VARCHAR(16) NOT NULL,
    product_id     BIGINT UNSIGNED NOT NULL,
    confirmed_qty  INT NOT NULL,
    confirmed_at   DATETIME(6) NOT NULL,
    PRIMARY KEY (channel, product_id),
    CONSTRAINT channel_stock_product FOREIGN KEY (product_id) REFERENCES products (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Small named values the sync keeps between runs (order watermark, tokens' expiry).
CREATE TABLE sync_state (
    name        VARCHAR(64) NOT NULL PRIMARY KEY,
    value       VARCHAR(255) NOT NULL,
    updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- One pending push per channel and product: a newer quantity replaces an
-- older one instead of queueing behind it (bursts coalesce).
ALTER TABLE channel_outbox
    ADD COLUMN product_id BIGINT UNSIGNED NULL AFTER subject,
    ADD COLUMN pending_key VARCHAR(140) AS (IF(status = 'pending', CONCAT(channel, ':', kind, ':', subject), NULL)) PERSISTENT,
    ADD UNIQUE KEY channel_outbox_one_pending (pending_key);

-- Products listed on eBay (pushed there); set by the eBay import or an operator.
ALTER TABLE products ADD COLUMN ebay_listed BOOLEAN NOT NULL DEFAULT FALSE AFTER manage_stock;
