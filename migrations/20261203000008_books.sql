-- Books: the double-entry journal as a projection of inventory and order
-- facts. Every fact that moves value (a receipt, a landed charge, a shipment,
-- an adjustment, a refund, a payment) carries the cost it moved at, so an
-- entry posted later posts the same figures as one posted at once.
--
-- The four book tables of the core schema never had code behind them and
-- hold no rows: they are rebuilt here with the shape the books need.
DROP TABLE cogs_entries;
DROP TABLE journal_lines;
DROP TABLE journal_entries;
DROP TABLE accounts;

-- The chart, from the tenant file: one account per role (inventory, cogs,
-- clearing:stripe, ...), its code the tenant's.
CREATE TABLE accounts (
    id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    code        VARCHAR(16) NOT NULL,
    name        VARCHAR(120) NOT NULL,
    kind        ENUM('asset','liability','equity','revenue','expense') NOT NULL,
    role        VARCHAR(48) NOT NULL,
    created_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    UNIQUE KEY accounts_code (code),
    UNIQUE KEY accounts_role (role)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- A month is open until closed; a closed month takes no postings, ever.
CREATE TABLE book_periods (
    month        DATE NOT NULL PRIMARY KEY,
    closed_at    DATETIME(6) NOT NULL,
    closed_by    BIGINT UNSIGNED NULL,
    CONSTRAINT book_periods_first_day CHECK (DAYOFMONTH(month) = 1),
    CONSTRAINT book_periods_operator FOREIGN KEY (closed_by) REFERENCES operators (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- An entry is written as a draft, its lines added, then posted in the same
-- transaction; posting checks the balance. A posted entry never changes.
CREATE TABLE journal_entries (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    occurred_at  DATETIME(6) NOT NULL,
    period       DATE NOT NULL,
    memo         VARCHAR(255) NOT NULL,
    source_type  VARCHAR(32) NOT NULL,
    source_id    BIGINT UNSIGNED NOT NULL,
    order_id     BIGINT UNSIGNED NULL,
    reverses_id  BIGINT UNSIGNED NULL,
    state        ENUM('draft','posted') NOT NULL DEFAULT 'draft',
    posted_at    DATETIME(6) NULL,
    created_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY journal_entries_source (source_type, source_id),
    UNIQUE KEY journal_entries_reverses (reverses_id),
    KEY journal_entries_period (period, occurred_at),
    KEY journal_entries_occurred (occurred_at),
    KEY journal_entries_order (order_id),
    CONSTRAINT journal_entries_reversal FOREIGN KEY (reverses_id) REFERENCES journal_entries (id),
    CONSTRAINT journal_entries_order FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT journal_entries_period_first_day CHECK (DAYOFMONTH(period) = 1),
    CONSTRAINT journal_entries_posted_when CHECK ((state = 'posted') = (posted_at IS NOT NULL))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE journal_lines (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    journal_entry_id  BIGINT UNSIGNED NOT NULL,
    account_id        BIGINT UNSIGNED NOT NULL,
    debit_minor       BIGINT NOT NULL DEFAULT 0,
    credit_minor      BIGINT NOT NULL DEFAULT 0,
    memo              VARCHAR(255) NULL,
    KEY journal_lines_entry (journal_entry_id),
    KEY journal_lines_account (account_id, journal_entry_id),
    CONSTRAINT journal_lines_entry FOREIGN KEY (journal_entry_id) REFERENCES journal_entries (id),
    CONSTRAINT journal_lines_account FOREIGN KEY (account_id) REFERENCES accounts (id),
    CONSTRAINT journal_lines_one_side CHECK (debit_minor >= 0 AND credit_minor >= 0 AND (debit_minor = 0) <> (credit_minor = 0))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TRIGGER journal_entries_born_draft BEFORE INSERT ON journal_entries FOR EACH ROW
BEGIN
    IF NEW.state <> 'draft' THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'a journal entry is written as a draft and posted once its lines are in';
    END IF;
END;

CREATE TRIGGER journal_entries_post BEFORE UPDATE ON journal_entries FOR EACH ROW
BEGIN
    DECLARE debits BIGINT;
    DECLARE credits BIGINT;
    DECLARE line_count INT;
    IF OLD.state = 'posted' THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'journal entry is posted and immutable; post a reversing entry instead';
    END IF;
    IF NEW.id <> OLD.id OR NEW.occurred_at <> OLD.occurred_at OR NEW.source_type <> OLD.source_type OR NEW.source_id <> OLD.source_id THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'a journal entry keeps its identity, date and source';
    END IF;
    IF NEW.state = 'posted' THEN
        SELECT COALESCE(SUM(debit_minor), 0), COALESCE(SUM(credit_minor), 0), COUNT(*) INTO debits, credits, line_count
            FROM journal_lines WHERE journal_entry_id = NEW.id;
        -- No lines is an event that moved nothing (it is still recorded, once); one line can never balance.
        IF line_count = 1 OR debits <> credits THEN
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'journal entry does not balance: debits and credits must be equal';
        END IF;
        IF EXISTS (SELECT 1 FROM book_periods WHERE month = NEW.period) THEN
            SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'period is closed: it accepts no postings';
        END IF;
    END IF;
END;

CREATE TRIGGER journal_entries_undeletable BEFORE DELETE ON journal_entries FOR EACH ROW
BEGIN
    IF OLD.state = 'posted' THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'journal entry is posted and immutable; it cannot be deleted';
    END IF;
END;

CREATE TRIGGER journal_lines_onto_draft BEFORE INSERT ON journal_lines FOR EACH ROW
BEGIN
    IF (SELECT state FROM journal_entries WHERE id = NEW.journal_entry_id) <> 'draft' THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'journal entry is posted; it takes no more lines';
    END IF;
END;

CREATE TRIGGER journal_lines_immutable BEFORE UPDATE ON journal_lines FOR EACH ROW
BEGIN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'journal lines are immutable; post a reversing entry instead';
END;

CREATE TRIGGER journal_lines_undeletable BEFORE DELETE ON journal_lines FOR EACH ROW
BEGIN
    IF (SELECT state FROM journal_entries WHERE id = OLD.journal_entry_id) = 'posted' THEN
        SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'journal lines of a posted entry cannot be deleted';
    END IF;
END;

CREATE TRIGGER book_periods_stay_closed BEFORE UPDATE ON book_periods FOR EACH ROW
BEGIN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'a closed period stays closed';
END;

CREATE TRIGGER book_periods_undeletable BEFORE DELETE ON book_periods FOR EACH ROW
BEGIN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'a closed period stays closed';
END;

-- Facts carry their cost ---------------------------------------------------------
-- A lot's landed unit cost is its invoice cost plus its share of the invoice's
-- charges per unit (integer minor units; the rounding residue of a charge goes
-- to COGS when it is allocated, so value on hand is always units x unit cost).
ALTER TABLE inventory_lots
    ADD COLUMN charges_per_unit_minor BIGINT NOT NULL DEFAULT 0 AFTER unit_cost_minor,
    ADD COLUMN landed_unit_cost_minor BIGINT AS (unit_cost_minor + charges_per_unit_minor) VIRTUAL AFTER charges_per_unit_minor,
    ADD COLUMN weight_g INT UNSIGNED NULL AFTER location,
    ADD CONSTRAINT inventory_lots_charges_nonneg CHECK (charges_per_unit_minor >= 0);

ALTER TABLE supplier_invoices
    ADD COLUMN allocation_basis ENUM('value','quantity','weight') NOT NULL DEFAULT 'value' AFTER total_minor;

-- A consumed reservation says which shipment took it, when, and at what landed cost.
ALTER TABLE stock_reservations
    ADD COLUMN shipment_id BIGINT UNSIGNED NULL AFTER status,
    ADD COLUMN unit_cost_minor BIGINT NULL AFTER shipment_id,
    ADD COLUMN consumed_at DATETIME(6) NULL AFTER unit_cost_minor,
    ADD KEY stock_reservations_shipment (shipment_id),
    ADD CONSTRAINT stock_reservations_shipment FOREIGN KEY (shipment_id) REFERENCES shipments (id);
UPDATE stock_reservations r JOIN inventory_lots l ON l.id = r.lot_id
    SET r.consumed_at = r.updated_at, r.unit_cost_minor = l.unit_cost_minor WHERE r.status = 'consumed';
ALTER TABLE stock_reservations
    ADD CONSTRAINT stock_reservations_consumed_whole CHECK ((status = 'consumed') = (consumed_at IS NOT NULL AND unit_cost_minor IS NOT NULL));

-- An adjustment moves value at the lot's landed cost of the moment; a restock
-- from a refund names its refund.
ALTER TABLE inventory_adjustments
    ADD COLUMN unit_cost_minor BIGINT NOT NULL DEFAULT 0 AFTER delta,
    ADD COLUMN refund_id BIGINT UNSIGNED NULL AFTER operator_id,
    ADD COLUMN order_line_id BIGINT UNSIGNED NULL AFTER refund_id,
    ADD COLUMN returned_from_lot_id BIGINT UNSIGNED NULL AFTER order_line_id,
    ADD KEY inventory_adjustments_refund (refund_id),
    ADD KEY inventory_adjustments_returned (order_line_id, returned_from_lot_id);
UPDATE inventory_adjustments a JOIN inventory_lots l ON l.id = a.lot_id SET a.unit_cost_minor = l.unit_cost_minor;

-- Landed charges and their allocation over an invoice's lots.
CREATE TABLE landed_charges (
    id                   BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    supplier_invoice_id  BIGINT UNSIGNED NOT NULL,
    kind                 ENUM('freight','duty','brokerage','other') NOT NULL,
    reference            VARCHAR(64) NOT NULL DEFAULT '',
    amount_minor         BIGINT NOT NULL,
    basis                ENUM('value','quantity','weight') NOT NULL,
    charged_at           DATETIME(6) NOT NULL,
    operator_id          BIGINT UNSIGNED NULL,
    created_at           DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    KEY landed_charges_invoice (supplier_invoice_id),
    CONSTRAINT landed_charges_invoice FOREIGN KEY (supplier_invoice_id) REFERENCES supplier_invoices (id),
    CONSTRAINT landed_charges_operator FOREIGN KEY (operator_id) REFERENCES operators (id),
    CONSTRAINT landed_charges_positive CHECK (amount_minor > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE landed_allocations (
    landed_charge_id  BIGINT UNSIGNED NOT NULL,
    lot_id            BIGINT UNSIGNED NOT NULL,
    basis_amount      BIGINT NOT NULL,
    share_minor       BIGINT NOT NULL,
    per_unit_minor    BIGINT NOT NULL,
    units_on_hand     INT UNSIGNED NOT NULL,
    inventory_minor   BIGINT NOT NULL,
    cogs_minor        BIGINT NOT NULL,
    PRIMARY KEY (landed_charge_id, lot_id),
    CONSTRAINT landed_allocations_charge FOREIGN KEY (landed_charge_id) REFERENCES landed_charges (id),
    CONSTRAINT landed_allocations_lot FOREIGN KEY (lot_id) REFERENCES inventory_lots (id),
    CONSTRAINT landed_allocations_split CHECK (share_minor = inventory_minor + cogs_minor AND inventory_minor = per_unit_minor * units_on_hand),
    CONSTRAINT landed_allocations_nonneg CHECK (share_minor >= 0 AND per_unit_minor >= 0 AND cogs_minor >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Orders: the gateway's fee when WooCommerce has it (Stripe's, PayPal's meta).
ALTER TABLE orders
    ADD COLUMN gateway_fee_minor BIGINT NULL AFTER shipping_minor,
    ADD COLUMN gateway_fee_source VARCHAR(48) NULL AFTER gateway_fee_minor,
    ADD COLUMN paid_at DATETIME(6) NULL AFTER gateway_fee_source;

-- Refunds (from WooCommerce, or entered): amounts by part, and units restocked.
CREATE TABLE order_refunds (
    id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id        BIGINT UNSIGNED NOT NULL,
    woo_refund_id   BIGINT UNSIGNED NULL,
    goods_minor     BIGINT NOT NULL,
    shipping_minor  BIGINT NOT NULL DEFAULT 0,
    tax_minor       BIGINT NOT NULL DEFAULT 0,
    restock         BOOLEAN NOT NULL,
    reason          VARCHAR(255) NOT NULL DEFAULT '',
    refunded_at     DATETIME(6) NOT NULL,
    created_at      DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY order_refunds_woo (woo_refund_id),
    KEY order_refunds_order (order_id),
    CONSTRAINT order_refunds_order FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT order_refunds_nonneg CHECK (goods_minor >= 0 AND shipping_minor >= 0 AND tax_minor >= 0 AND goods_minor + shipping_minor + tax_minor > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE order_refund_lines (
    refund_id      BIGINT UNSIGNED NOT NULL,
    order_line_id  BIGINT UNSIGNED NOT NULL,
    quantity       INT UNSIGNED NOT NULL,
    PRIMARY KEY (refund_id, order_line_id),
    CONSTRAINT order_refund_lines_refund FOREIGN KEY (refund_id) REFERENCES order_refunds (id),
    CONSTRAINT order_refund_lines_line FOREIGN KEY (order_line_id) REFERENCES order_lines (id),
    CONSTRAINT order_refund_lines_qty CHECK (quantity > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Payments against receivables (purchase orders, cheques).
CREATE TABLE ar_payments (
    id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    order_id     BIGINT UNSIGNED NOT NULL,
    amount_minor BIGINT NOT NULL,
    paid_on      DATE NOT NULL,
    reference    VARCHAR(64) NOT NULL,
    source       ENUM('woocommerce','manual') NOT NULL,
    operator_id  BIGINT UNSIGNED NULL,
    created_at   DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY ar_payments_reference (order_id, reference),
    CONSTRAINT ar_payments_order FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT ar_payments_operator FOREIGN KEY (operator_id) REFERENCES operators (id),
    CONSTRAINT ar_payments_positive CHECK (amount_minor > 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The FIFO trail: which lot each sold (or returned) unit came from, at what
-- cost, with running totals for its order line and for its day.
CREATE TABLE cogs_entries (
    id                BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    journal_entry_id  BIGINT UNSIGNED NOT NULL,
    kind              ENUM('sale','return') NOT NULL,
    source_id         BIGINT UNSIGNED NOT NULL,
    order_id          BIGINT UNSIGNED NOT NULL,
    order_line_id     BIGINT UNSIGNED NOT NULL,
    lot_id            BIGINT UNSIGNED NOT NULL,
    lot_ref           VARCHAR(64) NOT NULL,
    lot_received_at   DATETIME(6) NOT NULL,
    quantity          INT NOT NULL,
    unit_cost_minor   BIGINT NOT NULL,
    total_minor       BIGINT NOT NULL,
    line_cum_qty      INT NOT NULL,
    line_cum_minor    BIGINT NOT NULL,
    day               DATE NOT NULL,
    day_cum_qty       INT NOT NULL,
    day_cum_minor     BIGINT NOT NULL,
    occurred_at       DATETIME(6) NOT NULL,
    created_at        DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    UNIQUE KEY cogs_entries_source (kind, source_id),
    KEY cogs_entries_order (order_id),
    KEY cogs_entries_line (order_line_id),
    KEY cogs_entries_day (day, id),
    CONSTRAINT cogs_entries_journal FOREIGN KEY (journal_entry_id) REFERENCES journal_entries (id),
    CONSTRAINT cogs_entries_order FOREIGN KEY (order_id) REFERENCES orders (id),
    CONSTRAINT cogs_entries_line FOREIGN KEY (order_line_id) REFERENCES order_lines (id),
    CONSTRAINT cogs_entries_lot FOREIGN KEY (lot_id) REFERENCES inventory_lots (id),
    CONSTRAINT cogs_entries_signed CHECK ((kind = 'sale' AND quantity > 0) OR (kind = 'return' AND quantity < 0)),
    CONSTRAINT cogs_entries_total CHECK (total_minor = quantity * unit_cost_minor)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TRIGGER cogs_entries_immutable BEFORE UPDATE ON cogs_entries FOR EACH ROW
BEGIN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'the COGS trail is append-only';
END;

CREATE TRIGGER cogs_entries_undeletable BEFORE DELETE ON cogs_entries FOR EACH ROW
BEGIN
    SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'the COGS trail is append-only';
END;
