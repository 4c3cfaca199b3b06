-- RFQs and quotes: requested items, numbering, stored PDFs, acceptance links,
-- and the rest of a sent version's immutability (its lines and its PDF).

-- What an RFQ asked for, line by line; unmatched lines wait for a person.
CREATE TABLE rfq_items (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    rfq_id      BIGINT UNSIGNED NOT NULL,
    line_no     SMALLINT UNSIGNED NOT NULL,
    raw_text    VARCHAR(255) NOT NULL,
    code        VARCHAR(100) NULL,
    product_id  BIGINT UNSIGNED NULL,
    quantity    INT UNSIGNED NOT NULL,
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY rfq_items_no (rfq_id, line_no),
    CONSTRAINT rfq_items_rfq FOREIGN KEY (rfq_id) REFERENCES rfqs (id),
    CONSTRAINT rfq_items_product FOREIGN KEY (product_id) REFERENCES products (id),
    CONSTRAINT rfq_items_qty_positive CHECK (quantity > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

ALTER TABLE rfqs
    ADD COLUMN sender_company VARCHAR(160) NULL AFTER sender_domain,
    ADD COLUMN attachments JSON NULL AFTER body;

-- Gap-free per-name counters (quote numbers).
CREATE TABLE counters (
    name   VARCHAR(32) NOT NULL PRIMARY KEY,
    value  BIGINT UNSIGNED NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The buyer's acceptance link: only the token's hash is kept.
ALTER TABLE quotes
    ADD COLUMN accept_token_hash BINARY(32) NULL AFTER woo_order_id,
    ADD COLUMN accept_token_expires_at DATETIME(6) NULL AFTER accept_token_hash,
    ADD COLUMN accepted_version_id BIGINT UNSIGNED NULL AFTER accept_token_expires_at,
    ADD COLUMN accepted_at DATETIME(6) NULL AFTER accepted_version_id,
    ADD COLUMN accepted_by VARCHAR(160) NULL AFTER accepted_at,
    ADD UNIQUE KEY quotes_accept_token (accept_token_hash),
    ADD CONSTRAINT quotes_accepted_version FOREIGN KEY (accepted_version_id) REFERENCES quote_versions (id);

-- The PDF as sent, byte for byte.
CREATE TABLE quote_pdfs (
    quote_version_id  BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    sha256            BINARY(32) NOT NULL,
    pdf               MEDIUMBLOB NOT NULL,
    created_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    CONSTRAINT quote_pdfs_version FOREIGN KEY (quote_version_id) REFERENCES quote_versions (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

ALTER TABLE quote_lines
    ADD COLUMN tax_rate_ppm INT UNSIGNED NOT NULL DEFAULT 0 AFTER price_reason,
    ADD COLUMN tax_source VARCHAR(120) NOT NULL DEFAULT '' AFTER tax_rate_ppm;

-- A sent version's lines and PDF are as immutable as the version itself.
CREATE TRIGGER quote_lines_sent_immutable BEFORE UPDATE ON quote_lines FOR EACH ROW
BEGIN
    IF (SELECT state FROM quote_versions WHERE id = OLD.quote_version_id) = 'sent' THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'quote version was sent and is immutable; create a new version';
    END IF;
END;

CREATE TRIGGER quote_lines_sent_undeletable BEFORE DELETE ON quote_lines FOR EACH ROW
BEGIN
    IF (SELECT state FROM quote_versions WHERE id = OLD.quote_version_id) = 'sent' THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'quote version was sent and is immutable; it cannot be deleted';
    END IF;
END;

CREATE TRIGGER quote_lines_sent_closed BEFORE INSERT ON quote_lines FOR EACH ROW
BEGIN
    IF (SELECT state FROM quote_versions WHERE id = NEW.quote_version_id) = 'sent' THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'quote version was sent and is immutable; create a new version';
    END IF;
END;

CREATE TRIGGER quote_pdfs_immutable BEFORE UPDATE ON quote_pdfs FOR EACH ROW
BEGIN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'a sent quote PDF is immutable';
END;

CREATE TRIGGER quote_pdfs_undeletable BEFORE DELETE ON quote_pdfs FOR EACH ROW
BEGIN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'a sent quote PDF is immutable';
END;

-- Where the quoted goods ship (sets the sales tax); kept in each version's snapshot too.
ALTER TABLE quotes
    ADD COLUMN customer_company VARCHAR(160) NULL AFTER customer_name,
    ADD COLUMN ship_country CHAR(2) NOT NULL DEFAULT '' AFTER customer_company,
    ADD COLUMN ship_state VARCHAR(8) NOT NULL DEFAULT '' AFTER ship_country,
    ADD COLUMN ship_postcode VARCHAR(16) NOT NULL DEFAULT '' AFTER ship_state;
