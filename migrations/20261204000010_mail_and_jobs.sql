-- Mail: every message is queued whole (the formatted RFC 5322 bytes, a
-- quote's PDF attached as stored) before it is sent, retried until the
-- server takes it, and kept: what was sent is what the row holds.
CREATE TABLE mail_outbox (
    id               BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    purpose          VARCHAR(32) NOT NULL,
    subject_ref      VARCHAR(64) NULL,
    recipients       VARCHAR(1024) NOT NULL,
    subject          VARCHAR(255) NOT NULL,
    message          MEDIUMBLOB NOT NULL,
    message_id       VARCHAR(255) NOT NULL,
    status           ENUM('pending','sent','failed','bounced') NOT NULL DEFAULT 'pending',
    attempts         INT UNSIGNED NOT NULL DEFAULT 0,
    next_attempt_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    last_error       VARCHAR(512) NULL,
    sent_at          DATETIME(6) NULL,
    bounced_at       DATETIME(6) NULL,
    bounce_reason    VARCHAR(512) NULL,
    created_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at       DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY mail_outbox_message_id (message_id),
    KEY mail_outbox_due (status, next_attempt_at),
    KEY mail_outbox_subject (subject_ref)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Addresses that asked for no more review requests (the signed link).
CREATE TABLE mail_optouts (
    email         VARCHAR(254) NOT NULL PRIMARY KEY,
    reason        VARCHAR(64) NOT NULL,
    opted_out_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- How far the mailbox has been read: a folder's UIDVALIDITY and the last UID taken.
CREATE TABLE mailbox_state (
    mailbox      VARCHAR(255) NOT NULL PRIMARY KEY,
    uidvalidity  INT UNSIGNED NOT NULL,
    last_uid     INT UNSIGNED NOT NULL,
    updated_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- An RFQ read from a mailbox names the message it came from, once: a message
-- read again after a crash finds its RFQ already there.
ALTER TABLE rfqs
    ADD COLUMN source_mailbox VARCHAR(255) NULL AFTER source,
    ADD COLUMN source_uidvalidity INT UNSIGNED NULL AFTER source_mailbox,
    ADD COLUMN source_uid INT UNSIGNED NULL AFTER source_uidvalidity,
    ADD UNIQUE KEY rfqs_mail_origin (source_mailbox, source_uidvalidity, source_uid);

-- An alert is an episode: opened once, resolved once; one open episode per key.
CREATE TABLE alert_episodes (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    akey              VARCHAR(191) NOT NULL,
    kind              VARCHAR(32) NOT NULL,
    message           VARCHAR(512) NOT NULL,
    opened_at         DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    resolved_at       DATETIME(6) NULL,
    opened_mail_id    BIGINT UNSIGNED NULL,
    resolved_mail_id  BIGINT UNSIGNED NULL,
    open_key          VARCHAR(191) AS (IF(resolved_at IS NULL, akey, NULL)) STORED,
    updated_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY alert_episodes_open (open_key),
    KEY alert_episodes_key (akey, opened_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The tracking sweep: the carrier's last word on a shipment, and delivery.
ALTER TABLE shipments
    ADD COLUMN tracking_status VARCHAR(32) NULL AFTER woo_writeback,
    ADD COLUMN tracking_detail VARCHAR(255) NULL AFTER tracking_status,
    ADD COLUMN tracking_at DATETIME(6) NULL AFTER tracking_detail,
    ADD COLUMN tracking_checked_at DATETIME(6) NULL AFTER tracking_at,
    ADD COLUMN delivered_at DATETIME(6) NULL AFTER tracking_checked_at,
    ADD COLUMN delivery_writeback ENUM('pending','done','failed') NULL AFTER delivered_at,
    ADD KEY shipments_sweep (status, delivered_at, shipped_at),
    ADD KEY shipments_delivered (delivered_at);

-- One review request per order, sent or skipped with why.
CREATE TABLE review_requests (
    order_id    BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    email       VARCHAR(254) NULL,
    status      ENUM('sent','skipped') NOT NULL,
    reason      VARCHAR(255) NULL,
    mail_id     BIGINT UNSIGNED NULL,
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT review_requests_order FOREIGN KEY (order_id) REFERENCES orders (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Price feeds: what each feed last answered (conditional GET) and read.
CREATE TABLE feed_state (
    name           VARCHAR(160) NOT NULL PRIMARY KEY,
    etag           VARCHAR(255) NULL,
    last_modified  VARCHAR(64) NULL,
    fetched_at     DATETIME(6) NULL,
    rows_read      INT UNSIGNED NOT NULL DEFAULT 0,
    rows_bad       INT UNSIGNED NOT NULL DEFAULT 0,
    updated_at     DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A supplier's part number for a product, learned from feed rows that name both.
CREATE TABLE supplier_parts (
    supplier_id  BIGINT UNSIGNED NOT NULL,
    part_number  VARCHAR(64) NOT NULL,
    product_id   BIGINT UNSIGNED NOT NULL,
    created_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (supplier_id, part_number),
    CONSTRAINT supplier_parts_supplier FOREIGN KEY (supplier_id) REFERENCES suppliers (id),
    CONSTRAINT supplier_parts_product FOREIGN KEY (product_id) REFERENCES products (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Marketplace comparables read from competitor feeds (quote pricing's last step).
CREATE TABLE comparables (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    source       VARCHAR(160) NOT NULL,
    product_id   BIGINT UNSIGNED NOT NULL,
    price_minor  BIGINT NOT NULL,
    currency     CHAR(3) NOT NULL,
    observed_at  DATETIME(6) NOT NULL,
    created_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY comparables_observation (source, product_id, observed_at),
    KEY comparables_product (product_id, observed_at),
    CONSTRAINT comparables_product FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT comparables_price_nonneg CHECK (price_minor >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
