-- Pick station: where orders ship to, pick progress per line, packed serials,
-- and which shipment a print job belongs to (for reprints).

-- The WooCommerce shipping address, kept with the order: the carrier needs it
-- and the packing slip shows it.
ALTER TABLE orders
    ADD COLUMN ship_name      VARCHAR(160) NOT NULL DEFAULT '' AFTER shipping_method,
    ADD COLUMN ship_company   VARCHAR(160) NOT NULL DEFAULT '' AFTER ship_name,
    ADD COLUMN ship_address1  VARCHAR(255) NOT NULL DEFAULT '' AFTER ship_company,
    ADD COLUMN ship_address2  VARCHAR(255) NOT NULL DEFAULT '' AFTER ship_address1,
    ADD COLUMN ship_city      VARCHAR(120) NOT NULL DEFAULT '' AFTER ship_address2,
    ADD COLUMN ship_state     VARCHAR(64)  NOT NULL DEFAULT '' AFTER ship_city,
    ADD COLUMN ship_postcode  VARCHAR(32)  NOT NULL DEFAULT '' AFTER ship_state,
    ADD COLUMN ship_country   CHAR(2)      NOT NULL DEFAULT '' AFTER ship_postcode,
    ADD COLUMN ship_phone     VARCHAR(40)  NOT NULL DEFAULT '' AFTER ship_country;

-- Units scanned into the tote. The database refuses more than ordered.
ALTER TABLE order_lines
    ADD COLUMN picked_qty INT UNSIGNED NOT NULL DEFAULT 0 AFTER backordered_qty,
    ADD CONSTRAINT order_lines_picked_bounded CHECK (picked_qty <= quantity);

-- Which package a line went into (1-based; packages are per shipment).
ALTER TABLE order_lines
    ADD COLUMN package_seq SMALLINT UNSIGNED NULL AFTER picked_qty;

-- A serial packed for an order line, in a package of a shipment.
ALTER TABLE lot_serials
    ADD COLUMN order_line_id BIGINT UNSIGNED NULL AFTER serial,
    ADD COLUMN package_id    BIGINT UNSIGNED NULL AFTER order_line_id,
    ADD CONSTRAINT lot_serials_order_line FOREIGN KEY (order_line_id) REFERENCES order_lines (id),
    ADD CONSTRAINT lot_serials_package FOREIGN KEY (package_id) REFERENCES packages (id) ON DELETE SET NULL,
    ADD CONSTRAINT lot_serials_packed_for_line CHECK (status = 'in_stock' OR status = 'scrapped' OR order_line_id IS NOT NULL);

ALTER TABLE pick_queue
    ADD COLUMN picked_at  DATETIME(6) NULL AFTER claimed_at,
    ADD COLUMN shipped_at DATETIME(6) NULL AFTER picked_at;

ALTER TABLE shipments
    ADD COLUMN shipped_at DATETIME(6) NULL AFTER operator_id,
    -- Where the write-back to WooCommerce stands (tracking note, meta, completed).
    ADD COLUMN woo_writeback ENUM('pending','done','failed') NULL AFTER shipped_at,
    ADD COLUMN woo_error VARCHAR(512) NULL AFTER woo_writeback;

ALTER TABLE print_jobs
    ADD COLUMN shipment_id BIGINT UNSIGNED NULL AFTER operator_id,
    ADD KEY print_jobs_shipment (shipment_id),
    ADD CONSTRAINT print_jobs_shipment FOREIGN KEY (shipment_id) REFERENCES shipments (id);
