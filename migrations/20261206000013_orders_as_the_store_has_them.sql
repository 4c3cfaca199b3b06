-- Orders as the store has them (issue 29). WooCommerce changes orders
-- without moving `date_modified_gmt` (a REST line edit), hides trashed orders
-- from its listing and deletes orders outright, so the mirror no longer
-- decides "unchanged" by the modified date alone: it keeps a fingerprint of
-- what it follows (status, each line's product and quantity, the refunds).
--
-- A line's `quantity` stays what is to be picked, packed and shipped: what
-- the customer ordered less what was refunded before it shipped. What the
-- store lists and what its refunds took back are kept beside it.
ALTER TABLE order_lines
    ADD COLUMN qty_ordered INT UNSIGNED NULL COMMENT 'the quantity WooCommerce lists; NULL: mirrored before this was kept' AFTER quantity,
    ADD COLUMN qty_refunded INT UNSIGNED NOT NULL DEFAULT 0 COMMENT 'units of the line its WooCommerce refunds name' AFTER qty_ordered;

UPDATE order_lines SET qty_ordered = quantity, updated_at = updated_at;

ALTER TABLE orders
    ADD COLUMN woo_digest CHAR(16) NULL COMMENT 'fingerprint of status, lines and refunds as last mirrored' AFTER woo_modified_at,
    ADD COLUMN woo_refund_ids VARCHAR(1024) NOT NULL DEFAULT '' COMMENT 'the WooCommerce refund ids the lines were netted for, comma-separated' AFTER woo_digest,
    ADD COLUMN gone_at DATETIME(6) NULL COMMENT 'when the order was found trashed or deleted in the store' AFTER woo_refund_ids,
    ADD KEY orders_gone (gone_at);
