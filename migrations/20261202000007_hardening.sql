-- Hardening: who may see an event, orders the sync had to skip, sign-in
-- throttling by account and client address, and columns wide enough for
-- real addresses.

-- Each event names its audience: pickers see `all`, the back office also
-- `back_office`, admins everything (failed sign-ins carry usernames and IPs).
ALTER TABLE event_log
    ADD COLUMN audience ENUM('all','back_office','admin') NOT NULL DEFAULT 'all' AFTER severity,
    ADD KEY event_log_audience (audience, id);
UPDATE event_log SET audience = 'admin' WHERE kind LIKE 'auth.%';
UPDATE event_log SET audience = 'back_office' WHERE kind LIKE 'quote.%' OR kind LIKE 'rfq.%';

-- An order the sync could not take (malformed, or refused by a constraint):
-- recorded with the reason and skipped, so every other order keeps flowing.
-- The row goes when a later version of the order mirrors cleanly.
CREATE TABLE sync_rejects (
    woo_order_id     BIGINT UNSIGNED NOT NULL PRIMARY KEY,
    woo_modified_at  DATETIME(6) NULL,
    reason           VARCHAR(512) NOT NULL,
    attempts         INT UNSIGNED NOT NULL DEFAULT 1,
    first_seen_at    DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    last_seen_at     DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Failed sign-ins per (account name, client address): the source is slowed
-- down, the account is never locked for everyone. Unknown names count the same
-- way as known ones, so the answers do not tell them apart.
CREATE TABLE sign_in_throttle (
    account          VARCHAR(64) NOT NULL,
    client           VARCHAR(45) NOT NULL,
    failures         INT UNSIGNED NOT NULL DEFAULT 0,
    blocked_until    DATETIME(6) NULL,
    last_failure_at  DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (account, client),
    KEY sign_in_throttle_age (last_failure_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Real states ("Queensland", "Baden-Württemberg") and postcodes fit; an acceptor
-- named by a 254-character address fits.
ALTER TABLE quotes
    MODIFY COLUMN ship_state VARCHAR(64) NOT NULL DEFAULT '',
    MODIFY COLUMN ship_postcode VARCHAR(32) NOT NULL DEFAULT '',
    MODIFY COLUMN accepted_by VARCHAR(300) NULL;

-- What intake left unread (past its bounds), shown on the RFQ.
ALTER TABLE rfqs ADD COLUMN intake_note VARCHAR(512) NULL AFTER parse_error;

-- Accepting a quote makes exactly one WooCommerce order: a claim taken by a
-- conditional update (one acceptor at a time, a stale claim expires), and
-- when the first attempt began, so a retry looks for the order it may have
-- made before making another.
ALTER TABLE quotes
    ADD COLUMN accept_claim CHAR(32) NULL AFTER accepted_by,
    ADD COLUMN accept_claimed_at DATETIME(6) NULL AFTER accept_claim,
    ADD COLUMN accept_started_at DATETIME(6) NULL AFTER accept_claimed_at;
