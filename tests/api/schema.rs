//! The MariaDB schema: migrations are idempotent and current, the database
//! enforces the domain's rules on its own, and one tenant's database refuses
//! another tenant.

use crate::helpers::TestDb;
use quartermaster::db;

#[tokio::test]
async fn migrations_apply_twice_and_report_current() {
    let tdb = TestDb::empty().await;
    assert!(db::migrations_current(&tdb.pool).await.is_err(), "no migrations table yet");
    db::migrate(&tdb.pool).await.expect("first run");
    db::migrate(&tdb.pool).await.expect("second run is a no-op");
    assert!(db::migrations_current(&tdb.pool).await.expect("query"));
    let tables: Vec<(String,)> = sqlx::query_as("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
        .fetch_all(&tdb.pool)
        .await
        .expect("tables");
    let names: Vec<&str> = tables.iter().map(|(t,)| t.as_str()).collect();
    for t in [
        "products",
        "inventory_lots",
        "lot_serials",
        "stock_reservations",
        "orders",
        "order_lines",
        "pick_queue",
        "shipments",
        "packages",
        "suppliers",
        "supplier_invoices",
        "supplier_costs",
        "quotes",
        "quote_versions",
        "quote_lines",
        "rfqs",
        "sender_domains",
        "cogs_entries",
        "accounts",
        "journal_entries",
        "journal_lines",
        "event_log",
        "job_runs",
        "print_jobs",
        "channel_outbox",
        "operators",
        "sessions",
    ] {
        assert!(names.contains(&t), "table {t} missing; have {names:?}");
    }
    let floats: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND data_type IN ('float', 'double')",
    )
    .fetch_all(&tdb.pool)
    .await
    .expect("columns");
    assert!(floats.is_empty(), "money must never be float: {floats:?}");
}

async fn product_and_lot(pool: &sqlx::MySqlPool) -> u64 {
    let pid = sqlx::query("INSERT INTO products (sku, name) VALUES ('BRG-6203', 'Ball bearing 6203')")
        .execute(pool)
        .await
        .expect("product")
        .last_insert_id();
    sqlx::query("INSERT INTO inventory_lots (product_id, lot_ref, received_at, qty_received, qty_remaining, unit_cost_minor) VALUES (?, 'L1', UTC_TIMESTAMP(6), 10, 10, 250)")
        .bind(pid)
        .execute(pool)
        .await
        .expect("lot")
        .last_insert_id()
}

#[tokio::test]
async fn stock_can_never_go_negative_or_be_over_reserved() {
    let tdb = TestDb::migrated().await;
    let lot = product_and_lot(&tdb.pool).await;
    let over_reserve = sqlx::query("UPDATE inventory_lots SET qty_reserved = 11 WHERE id = ?").bind(lot).execute(&tdb.pool).await;
    assert!(over_reserve.is_err(), "reserved above remaining must be refused");
    let negative =
        sqlx::query("UPDATE inventory_lots SET qty_remaining = qty_remaining - 11 WHERE id = ?").bind(lot).execute(&tdb.pool).await;
    assert!(negative.is_err(), "remaining below zero must be refused");
    let ok = sqlx::query("UPDATE inventory_lots SET qty_reserved = 10 WHERE id = ?").bind(lot).execute(&tdb.pool).await;
    assert!(ok.is_ok(), "reserving exactly what remains is fine: {ok:?}");
    sqlx::raw_sql(
        "INSERT INTO accounts (code, name, kind, role) VALUES ('1000', 'Cash', 'asset', 'cash');
         INSERT INTO journal_entries (occurred_at, period, memo, source_type, source_id) VALUES (UTC_TIMESTAMP(6), '2026-12-01', 't', 'test', 1);",
    )
    .execute(&tdb.pool)
    .await
    .expect("setup books");
    let both_sides =
        sqlx::query("INSERT INTO journal_lines (journal_entry_id, account_id, debit_minor, credit_minor) VALUES (1, 1, 100, 100)")
            .execute(&tdb.pool)
            .await;
    assert!(both_sides.is_err(), "a journal line is a debit or a credit, not both");
}

#[tokio::test]
async fn a_sent_quote_version_cannot_be_changed_or_deleted() {
    let tdb = TestDb::migrated().await;
    sqlx::query("INSERT INTO quotes (number, customer_email, customer_name) VALUES ('Q-1', 'buyer@example.com', 'Buyer')")
        .execute(&tdb.pool)
        .await
        .expect("quote");
    for (no, state, revision, sent) in [(1, "sent", Some(0), true), (2, "draft", None, false)] {
        sqlx::query(
            "INSERT INTO quote_versions (quote_id, version_no, revision, state, template_version, currency, valid_from, valid_until, subtotal_minor, tax_minor, total_minor, snapshot, sent_at)
             VALUES (1, ?, ?, ?, 'v1', 'USD', UTC_TIMESTAMP(6), UTC_TIMESTAMP(6) + INTERVAL 30 DAY, 1000, 0, 1000, '{}', IF(?, UTC_TIMESTAMP(6), NULL))",
        )
        .bind(no)
        .bind(revision)
        .bind(state)
        .bind(sent)
        .execute(&tdb.pool)
        .await
        .expect("version");
    }
    let update = sqlx::query("UPDATE quote_versions SET total_minor = 1 WHERE version_no = 1").execute(&tdb.pool).await;
    let err = update.expect_err("sent version is immutable").to_string();
    assert!(err.contains("immutable"), "{err}");
    assert!(sqlx::query("DELETE FROM quote_versions WHERE version_no = 1").execute(&tdb.pool).await.is_err());
    sqlx::query("UPDATE quote_versions SET total_minor = 1 WHERE version_no = 2").execute(&tdb.pool).await.expect("drafts stay editable");
}

#[tokio::test]
async fn a_database_belongs_to_one_tenant() {
    let tdb = TestDb::migrated().await;
    db::claim_for_tenant(&tdb.pool, "acme").await.expect("first claim");
    db::claim_for_tenant(&tdb.pool, "acme").await.expect("same tenant again");
    let err = db::claim_for_tenant(&tdb.pool, "globex").await.expect_err("another tenant is refused");
    assert!(err.to_string().contains("belongs to tenant `acme`"), "{err}");
}

#[tokio::test]
async fn the_pick_queue_states_are_the_columns_enum_values() {
    use quartermaster::station::queue::QueueStatus;
    let db = TestDb::migrated().await;
    let column: String = sqlx::query_scalar(
        "SELECT CAST(COLUMN_TYPE AS CHAR) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'pick_queue' AND COLUMN_NAME = 'status'",
    )
    .fetch_one(&db.pool)
    .await
    .expect("column");
    let values: Vec<String> =
        column.trim_start_matches("enum(").trim_end_matches(')').split(',').map(|v| v.trim_matches('\'').to_owned()).collect();
    let ours: Vec<&str> = QueueStatus::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(ours, values, "one variant per value, in the column's order");
    for v in &values {
        assert_eq!(QueueStatus::try_from(v.clone()).map(QueueStatus::as_str), Ok(v.as_str()));
    }
    assert!(QueueStatus::try_from("lost".to_owned()).is_err());
}
