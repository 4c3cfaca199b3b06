//! The demo tenant's first look: a month of history through the domains.

use quartermaster::operators::Role;

use crate::books::app_with_books;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_history_fills_a_month_of_books_charts_and_quotes_once() {
    let app = app_with_books().await;
    app.add_operator("demo", Role::Admin, "correct horse battery").await;
    quartermaster::demo::seed(&app.db.pool, 60).await.expect("catalog");
    let said = quartermaster::demo::history::seed(&app.state).await.expect("history");
    assert!(said.starts_with("seeded a month of history"), "{said}");
    let pool = &app.db.pool;
    let days: i64 = sqlx::query_scalar("SELECT COUNT(DISTINCT DATE(occurred_at)) FROM journal_entries WHERE source_type = 'shipment'")
        .fetch_one(pool)
        .await
        .expect("days");
    assert!(days >= 20, "shipments posted on {days} days of the month");
    let oldest: i64 =
        sqlx::query_scalar("SELECT DATEDIFF(UTC_TIMESTAMP(), MIN(shipped_at)) FROM shipments").fetch_one(pool).await.expect("oldest");
    assert!((25..=31).contains(&oldest), "the history reaches back a month ({oldest} days)");
    let states: Vec<String> =
        sqlx::query_scalar("SELECT CAST(status AS CHAR) FROM quotes ORDER BY id").fetch_all(pool).await.expect("quotes");
    assert_eq!(states, ["expired", "lost", "sent", "sent", "draft"], "a quote in every state the seed can reach (the standin accepts one)");
    let open_rfqs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rfqs WHERE status = 'new'").fetch_one(pool).await.expect("rfqs");
    assert_eq!(open_rfqs, 2, "RFQs waiting in the inbox");
    let audit = quartermaster::books::reports::audit(pool).await.expect("audit");
    assert!(audit.problems.is_empty(), "the books balance: {:?}", audit.problems);
    // The pages a newcomer opens first show figures, not zeros.
    app.sign_in("demo", "correct horse battery").await;
    let charts = app.get("/dashboard/charts").await.text().await.expect("charts");
    assert!(charts.contains("best day") && !charts.contains("total 0.00 USD, best day"), "{charts}");
    // Once: a second run changes nothing.
    let again = quartermaster::demo::history::seed(&app.state).await.expect("again");
    assert!(again.contains("already present"), "{again}");
}
