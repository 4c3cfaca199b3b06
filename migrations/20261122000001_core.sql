-- Quartermaster core schema (MariaDB 10.11+).
-- Conventions: money in integer minor units (BIGINT), quantities as unsigned
-- integers with CHECKs, timestamps DATETIME(6) in UTC (every connection sets
-- time_zone = '+00:00'), JSON columns checked by MariaDB's JSON alias.
-- Append-only: later changes go in new files.

-- Which tenant owns this database; the appliance refuses to run for another.
CREATE TABLE appliance (
    id          TINYINT UNSIGNED NOT NULL PRIMARY KEY,
    tenant_id   VARCHAR(31) NOT NULL,
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT appliance_single_row CHECK (id = 1)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Operators and their sessions ---------------------------------------------
CREATE TABLE operators (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username        VARCHAR(64) NOT NULL,
    display_name    VARCHAR(120) NOT NULL,
    role            ENUM('admin','back_office','picker') NOT NULL,
    password_hash   VARCHAR(255) NOT NULL,
    failed_attempts INT UNSIGNED NOT NULL DEFAULT 0,
    locked_until    DATETIME(6) NULL,
    disabled        BOOLEAN NOT NULL DEFAULT FALSE,
    last_sign_in_at DATETIME(6) NULL,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY operators_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The cookie holds a random token; only its SHA-256 is stored.
CREATE TABLE sessions (
    token_hash    BINARY(32) NOT NULL PRIMARY KEY,
    operator_id   BIGINT UNSIGNED NOT NULL,
    csrf_token    CHAR(64) NOT NULL,
    created_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    last_seen_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    expires_at    DATETIME(6) NOT NULL,
    ip            VARCHAR(45) NULL,
    user_agent    VARCHAR(255) NULL,
    KEY sessions_expiry (expires_at),
    CONSTRAINT sessions_operator FOREIGN KEY (operator_id) REFERENCES operators (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Catalog and stock --------------------------------------------------------
CREATE TABLE products (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    woo_id          BIGINT UNSIGNED NULL,
    woo_parent_id   BIGINT UNSIGNED NULL,
    sku             VARCHAR(100) NOT NULL,
    name            VARCHAR(255) NOT NULL,
    gtin            VARCHAR(14) NULL,
    upc             CHAR(12) NULL,
    price_minor     BIGINT NULL,
    tax_class       VARCHAR(32) NOT NULL DEFAULT 'standard',
    serial_tracked  BOOLEAN NOT NULL DEFAULT FALSE,
    manage_stock    BOOLEAN NOT NULL DEFAULT TRUE,
    bin             VARCHAR(32) NULL,
    weight_g        INT UNSIGNED NULL,
    status          ENUM('active','draft','archived') NOT NULL DEFAULT 'active',
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY products_sku (sku),
    UNIQUE KEY products_woo_id (woo_id),
    KEY products_upc (upc),
    KEY products_gtin (gtin),
    CONSTRAINT products_price_nonneg CHECK (price_minor IS NULL OR price_minor >= 0),
    CONSTRAINT products_upc_digits CHECK (upc IS NULL OR upc REGEXP '^[0-9]{12}$'),
    CONSTRAINT products_gtin_digits CHECK (gtin IS NULL OR gtin REGEXP '^[0-9]{8,14}$')
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE suppliers (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name        VARCHAR(160) NOT NULL,
    email       VARCHAR(254) NULL,
    website     VARCHAR(255) NULL,
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY suppliers_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE supplier_invoices (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    supplier_id   BIGINT UNSIGNED NOT NULL,
    invoice_ref   VARCHAR(64) NOT NULL,
    invoice_date  DATE NOT NULL,
    currency      CHAR(3) NOT NULL,
    total_minor   BIGINT NOT NULL,
    created_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY supplier_invoices_ref (supplier_id, invoice_ref),
    CONSTRAINT supplier_invoices_supplier FOREIGN KEY (supplier_id) REFERENCES suppliers (id),
    CONSTRAINT supplier_invoices_total_nonneg CHECK (total_minor >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE supplier_costs (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    supplier_id      BIGINT UNSIGNED NOT NULL,
    product_id       BIGINT UNSIGNED NOT NULL,
    unit_cost_minor  BIGINT NOT NULL,
    currency         CHAR(3) NOT NULL,
    observed_at      DATETIME(6) NOT NULL,
    source           VARCHAR(120) NOT NULL,
    created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY supplier_costs_observation (supplier_id, product_id, observed_at),
    KEY supplier_costs_product (product_id, observed_at),
    CONSTRAINT supplier_costs_supplier FOREIGN KEY (supplier_id) REFERENCES suppliers (id),
    CONSTRAINT supplier_costs_product FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT supplier_costs_nonneg CHECK (unit_cost_minor >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A lot is one receipt of one product. Reserved stock is counted on the lot
-- so the database itself refuses to reserve more than remains.
CREATE TABLE inventory_lots (
    id                  BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    product_id          BIGINT UNSIGNED NOT NULL,
    supplier_invoice_id BIGINT UNSIGNED NULL,
    lot_ref             VARCHAR(64) NOT NULL,
    received_at         DATETIME(6) NOT NULL,
    qty_received        INT UNSIGNED NOT NULL,
    qty_remaining       INT UNSIGNED NOT NULL,
    qty_reserved        INT UNSIGNED NOT NULL DEFAULT 0,
    unit_cost_minor     BIGINT NOT NULL,
    location            VARCHAR(32) NULL,
    expires_on          DATE NULL,
    created_at          DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at          DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY inventory_lots_ref (product_id, lot_ref),
    KEY inventory_lots_fifo (product_id, received_at, id),
    CONSTRAINT inventory_lots_product FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT inventory_lots_invoice FOREIGN KEY (supplier_invoice_id) REFERENCES supplier_invoices (id),
    CONSTRAINT inventory_lots_received_positive CHECK (qty_received > 0),
    CONSTRAINT inventory_lots_remaining_bounded CHECK (qty_remaining <= qty_received),
    CONSTRAINT inventory_lots_reserved_bounded CHECK (qty_reserved <= qty_remaining),
    CONSTRAINT inventory_lots_cost_nonneg CHECK (unit_cost_minor >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE lot_serials (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    lot_id      BIGINT UNSIGNED NOT NULL,
    product_id  BIGINT UNSIGNED NOT NULL,
    serial      VARCHAR(64) NOT NULL,
    status      ENUM('in_stock','packed','shipped','returned','scrapped') NOT NULL DEFAULT 'in_stock',
    captured_at ENUM('receipt','pack') NOT NULL,
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY lot_serials_per_product (product_id, serial),
    KEY lot_serials_lot (lot_id),
    CONSTRAINT lot_serials_lot FOREIGN KEY (lot_id) REFERENCES inventory_lots (id),
    CONSTRAINT lot_serials_product FOREIGN KEY (product_id) REFERENCES products (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Adjustments never edit a lot silently: each change is a row with a reason.
CREATE TABLE inventory_adjustments (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    lot_id      BIGINT UNSIGNED NOT NULL,
    delta       INT NOT NULL,
    reason      ENUM('count','damage','loss','found','return','other') NOT NULL,
    note        VARCHAR(255) NULL,
    operator_id BIGINT UNSIGNED NULL,
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY inventory_adjustments_lot (lot_id),
    CONSTRAINT inventory_adjustments_lot FOREIGN KEY (lot_id) REFERENCES inventory_lots (id),
    CONSTRAINT inventory_adjustments_operator FOREIGN KEY (operator_id) REFERENCES operators (id),
    CONSTRAINT inventory_adjustments_nonzero CHECK (delta <> 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Orders (mirrored from WooCommerce) ------------------------------------------
CREATE TABLE orders (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    woo_id            BIGINT UNSIGNED NOT NULL,
    number            VARCHAR(32) NOT NULL,
    status            VARCHAR(32) NOT NULL,
    currency          CHAR(3) NOT NULL,
    customer_name     VARCHAR(160) NOT NULL DEFAULT '',
    customer_email    VARCHAR(254) NULL,
    payment_method    VARCHAR(64) NULL,
    shipping_method   VARCHAR(64) NULL,
    total_minor       BIGINT NOT NULL,
    tax_minor         BIGINT NOT NULL DEFAULT 0,
    shipping_minor    BIGINT NOT NULL DEFAULT 0,
    woo_created_at    DATETIME(6) NOT NULL,
    woo_modified_at   DATETIME(6) NOT NULL,
    created_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY orders_woo_id (woo_id),
    KEY orders_status (status, woo_created_at),
    CONSTRAINT orders_total_nonneg CHECK (total_minor >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE order_lines (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id          BIGINT UNSIGNED NOT NULL,
    woo_line_id       BIGINT UNSIGNED NOT NULL,
    product_id        BIGINT UNSIGNED NULL,
    sku               VARCHAR(100) NOT NULL DEFAULT '',
    name              VARCHAR(255) NOT NULL,
    quantity          INT UNSIGNED NOT NULL,
    unit_price_minor  BIGINT NOT NULL,
    total_minor       BIGINT NOT NULL,
    created_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY order_lines_woo (order_id, woo_line_id),
    KEY order_lines_product (product_id),
    CONSTRAINT order_lines_order FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE,
    CONSTRAINT order_lines_product FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT order_lines_qty_positive CHECK (quantity > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE stock_reservations (
    id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_line_id  BIGINT UNSIGNED NOT NULL,
    lot_id         BIGINT UNSIGNED NOT NULL,
    quantity       INT UNSIGNED NOT NULL,
    status         ENUM('open','released','consumed') NOT NULL DEFAULT 'open',
    created_at     DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at     DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    KEY stock_reservations_line (order_line_id, status),
    KEY stock_reservations_lot (lot_id, status),
    CONSTRAINT stock_reservations_line FOREIGN KEY (order_line_id) REFERENCES order_lines (id),
    CONSTRAINT stock_reservations_lot FOREIGN KEY (lot_id) REFERENCES inventory_lots (id),
    CONSTRAINT stock_reservations_qty_positive CHECK (quantity > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Fulfilment ------------------------------------------------------------------
CREATE TABLE pick_queue (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id     BIGINT UNSIGNED NOT NULL,
    status       ENUM('queued','picking','picked','packed','shipped','on_hold','backordered') NOT NULL DEFAULT 'queued',
    priority     INT NOT NULL DEFAULT 0,
    station      VARCHAR(32) NULL,
    operator_id  BIGINT UNSIGNED NULL,
    claimed_at   DATETIME(6) NULL,
    created_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY pick_queue_order (order_id),
    KEY pick_queue_work (status, priority, created_at),
    CONSTRAINT pick_queue_order FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT pick_queue_operator FOREIGN KEY (operator_id) REFERENCES operators (id),
    CONSTRAINT pick_queue_claim_consistent CHECK ((operator_id IS NULL) = (claimed_at IS NULL))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE shipments (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id         BIGINT UNSIGNED NOT NULL,
    carrier          VARCHAR(16) NOT NULL,
    service_code     VARCHAR(16) NOT NULL,
    master_tracking  VARCHAR(64) NULL,
    status           ENUM('draft','purchased','shipped','voided') NOT NULL DEFAULT 'draft',
    cost_minor       BIGINT NULL,
    operator_id      BIGINT UNSIGNED NULL,
    created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    KEY shipments_order (order_id),
    CONSTRAINT shipments_order FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT shipments_operator FOREIGN KEY (operator_id) REFERENCES operators (id),
    CONSTRAINT shipments_cost_nonneg CHECK (cost_minor IS NULL OR cost_minor >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE packages (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    shipment_id      BIGINT UNSIGNED NOT NULL,
    seq              SMALLINT UNSIGNED NOT NULL,
    box_id           VARCHAR(32) NOT NULL,
    weight_g         INT UNSIGNED NOT NULL,
    length_mm        INT UNSIGNED NOT NULL,
    width_mm         INT UNSIGNED NOT NULL,
    height_mm        INT UNSIGNED NOT NULL,
    tracking_number  VARCHAR(64) NULL,
    label_format     ENUM('zpl','pdf') NULL,
    label            MEDIUMBLOB NULL,
    created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY packages_seq (shipment_id, seq),
    UNIQUE KEY packages_tracking (tracking_number),
    CONSTRAINT packages_shipment FOREIGN KEY (shipment_id) REFERENCES shipments (id) ON DELETE CASCADE,
    CONSTRAINT packages_weight_positive CHECK (weight_g > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE print_jobs (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    printer       VARCHAR(32) NOT NULL,
    document_kind ENUM('shipping_label','packing_slip','lot_label','serial_label','quote') NOT NULL,
    sha256        BINARY(32) NOT NULL,
    bytes_len     INT UNSIGNED NOT NULL,
    document      MEDIUMBLOB NOT NULL,
    ipp_job_id    INT NULL,
    state         ENUM('queued','sent','completed','failed') NOT NULL DEFAULT 'queued',
    attempts      INT UNSIGNED NOT NULL DEFAULT 0,
    last_error    VARCHAR(512) NULL,
    next_attempt_at DATETIME(6) NULL,
    operator_id   BIGINT UNSIGNED NULL,
    created_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    KEY print_jobs_pending (state, next_attempt_at),
    CONSTRAINT print_jobs_operator FOREIGN KEY (operator_id) REFERENCES operators (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Channels: durable outbox of pushes to WooCommerce and eBay -----------------
CREATE TABLE channel_outbox (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    channel          VARCHAR(16) NOT NULL,
    kind             VARCHAR(32) NOT NULL,
    subject          VARCHAR(100) NOT NULL,
    payload          JSON NOT NULL,
    status           ENUM('pending','done','failed') NOT NULL DEFAULT 'pending',
    attempts         INT UNSIGNED NOT NULL DEFAULT 0,
    next_attempt_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    last_error_code  VARCHAR(80) NULL,
    last_error       VARCHAR(512) NULL,
    created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    KEY channel_outbox_due (status, next_attempt_at),
    KEY channel_outbox_subject (channel, subject)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- RFQs and quotes ---------------------------------------------------------------
CREATE TABLE sender_domains (
    domain          VARCHAR(253) NOT NULL PRIMARY KEY,
    known_customer  BOOLEAN NOT NULL DEFAULT FALSE,
    quotes_sent     INT UNSIGNED NOT NULL DEFAULT 0,
    quotes_won      INT UNSIGNED NOT NULL DEFAULT 0,
    quotes_lost     INT UNSIGNED NOT NULL DEFAULT 0,
    bounces         INT UNSIGNED NOT NULL DEFAULT 0,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE rfqs (
    id                  BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    source              ENUM('form','email') NOT NULL,
    status              ENUM('new','quoted','closed','rejected','unparseable') NOT NULL DEFAULT 'new',
    sender_email        VARCHAR(254) NULL,
    sender_name         VARCHAR(160) NULL,
    sender_domain       VARCHAR(253) NULL,
    subject             VARCHAR(255) NULL,
    body                MEDIUMTEXT NULL,
    raw                 MEDIUMBLOB NOT NULL,
    reputation_score    SMALLINT NULL,
    reputation_factors  JSON NULL,
    parse_error         VARCHAR(512) NULL,
    received_at         DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    created_at          DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at          DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    KEY rfqs_inbox (status, received_at),
    CONSTRAINT rfqs_domain FOREIGN KEY (sender_domain) REFERENCES sender_domains (domain)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE quotes (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    number           VARCHAR(32) NOT NULL,
    rfq_id           BIGINT UNSIGNED NULL,
    customer_email   VARCHAR(254) NOT NULL,
    customer_name    VARCHAR(160) NOT NULL,
    status           ENUM('draft','sent','accepted','expired','lost','cancelled') NOT NULL DEFAULT 'draft',
    revision         INT UNSIGNED NULL,
    woo_order_id     BIGINT UNSIGNED NULL,
    created_by       BIGINT UNSIGNED NULL,
    created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY quotes_number (number),
    CONSTRAINT quotes_rfq FOREIGN KEY (rfq_id) REFERENCES rfqs (id),
    CONSTRAINT quotes_created_by FOREIGN KEY (created_by) REFERENCES operators (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE quote_versions (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    quote_id          BIGINT UNSIGNED NOT NULL,
    version_no        INT UNSIGNED NOT NULL,
    revision          INT UNSIGNED NULL,
    state             ENUM('draft','sent') NOT NULL DEFAULT 'draft',
    template_version  VARCHAR(16) NOT NULL,
    currency          CHAR(3) NOT NULL,
    valid_from        DATETIME(6) NOT NULL,
    valid_until       DATETIME(6) NOT NULL,
    subtotal_minor    BIGINT NOT NULL,
    tax_minor         BIGINT NOT NULL,
    total_minor       BIGINT NOT NULL,
    snapshot          JSON NOT NULL,
    pdf_sha256        BINARY(32) NULL,
    created_by        BIGINT UNSIGNED NULL,
    change_note       VARCHAR(255) NULL,
    sent_at           DATETIME(6) NULL,
    created_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY quote_versions_no (quote_id, version_no),
    UNIQUE KEY quote_versions_revision (quote_id, revision),
    CONSTRAINT quote_versions_quote FOREIGN KEY (quote_id) REFERENCES quotes (id),
    CONSTRAINT quote_versions_created_by FOREIGN KEY (created_by) REFERENCES operators (id),
    CONSTRAINT quote_versions_window CHECK (valid_until > valid_from),
    CONSTRAINT quote_versions_sent_has_revision CHECK ((state = 'sent') = (revision IS NOT NULL AND sent_at IS NOT NULL))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE quote_lines (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    quote_version_id  BIGINT UNSIGNED NOT NULL,
    line_no           SMALLINT UNSIGNED NOT NULL,
    product_id        BIGINT UNSIGNED NULL,
    sku               VARCHAR(100) NULL,
    description       VARCHAR(255) NOT NULL,
    quantity          INT UNSIGNED NOT NULL,
    unit_price_minor  BIGINT NULL,
    price_source      ENUM('in_stock','supplier','comparables','manual','unpriced') NOT NULL,
    price_reason      VARCHAR(255) NOT NULL,
    tax_minor         BIGINT NOT NULL DEFAULT 0,
    total_minor       BIGINT NOT NULL DEFAULT 0,
    UNIQUE KEY quote_lines_no (quote_version_id, line_no),
    CONSTRAINT quote_lines_version FOREIGN KEY (quote_version_id) REFERENCES quote_versions (id),
    CONSTRAINT quote_lines_product FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT quote_lines_qty_positive CHECK (quantity > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A sent version is a legal document: the database refuses to change it.
CREATE TRIGGER quote_versions_sent_immutable BEFORE UPDATE ON quote_versions FOR EACH ROW
BEGIN
    IF OLD.state = 'sent' THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'quote version was sent and is immutable; create a new version';
    END IF;
END;

CREATE TRIGGER quote_versions_sent_undeletable BEFORE DELETE ON quote_versions FOR EACH ROW
BEGIN
    IF OLD.state = 'sent' THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'quote version was sent and is immutable; it cannot be deleted';
    END IF;
END;

-- Books: FIFO COGS and double entry ---------------------------------------------
CREATE TABLE accounts (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    code        VARCHAR(16) NOT NULL,
    name        VARCHAR(120) NOT NULL,
    kind        ENUM('asset','liability','equity','revenue','expense') NOT NULL,
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY accounts_code (code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE journal_entries (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    occurred_at  DATETIME(6) NOT NULL,
    memo         VARCHAR(255) NOT NULL,
    source_type  VARCHAR(32) NOT NULL,
    source_id    VARCHAR(64) NOT NULL,
    created_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY journal_entries_source (source_type, source_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE journal_lines (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    journal_entry_id  BIGINT UNSIGNED NOT NULL,
    account_id        BIGINT UNSIGNED NOT NULL,
    debit_minor       BIGINT NOT NULL DEFAULT 0,
    credit_minor      BIGINT NOT NULL DEFAULT 0,
    KEY journal_lines_account (account_id),
    CONSTRAINT journal_lines_entry FOREIGN KEY (journal_entry_id) REFERENCES journal_entries (id),
    CONSTRAINT journal_lines_account FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT journal_lines_one_side CHECK (debit_minor >= 0 AND credit_minor >= 0 AND (debit_minor = 0) <> (credit_minor = 0))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE cogs_entries (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_line_id     BIGINT UNSIGNED NOT NULL,
    lot_id            BIGINT UNSIGNED NOT NULL,
    quantity          INT UNSIGNED NOT NULL,
    unit_cost_minor   BIGINT NOT NULL,
    total_minor       BIGINT NOT NULL,
    journal_entry_id  BIGINT UNSIGNED NULL,
    created_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY cogs_entries_line_lot (order_line_id, lot_id),
    CONSTRAINT cogs_entries_line FOREIGN KEY (order_line_id) REFERENCES order_lines (id),
    CONSTRAINT cogs_entries_lot FOREIGN KEY (lot_id) REFERENCES inventory_lots (id),
    CONSTRAINT cogs_entries_journal FOREIGN KEY (journal_entry_id) REFERENCES journal_entries (id),
    CONSTRAINT cogs_entries_qty_positive CHECK (quantity > 0),
    CONSTRAINT cogs_entries_total CHECK (total_minor = quantity * unit_cost_minor)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Observability -------------------------------------------------------------------
CREATE TABLE event_log (
    id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    occurred_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    kind          VARCHAR(64) NOT NULL,
    severity      ENUM('info','warning','error') NOT NULL DEFAULT 'info',
    operator_id   BIGINT UNSIGNED NULL,
    subject_type  VARCHAR(32) NULL,
    subject_id    VARCHAR(64) NULL,
    message       VARCHAR(512) NOT NULL,
    data          JSON NULL,
    KEY event_log_recent (occurred_at),
    KEY event_log_kind (kind, occurred_at),
    CONSTRAINT event_log_operator FOREIGN KEY (operator_id) REFERENCES operators (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE job_runs (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    job          VARCHAR(64) NOT NULL,
    status       ENUM('running','ok','failed','skipped') NOT NULL DEFAULT 'running',
    started_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    finished_at  DATETIME(6) NULL,
    summary      JSON NULL,
    error        VARCHAR(1024) NULL,
    KEY job_runs_recent (job, started_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
