//! The books against the real MariaDB: the database refuses to break them,
//! a shipped, refunded, returned and paid order posts what an accountant
//! expects, random sequences of everything keep every invariant
//! (proptest), and hledger and GnuCash read the exported books and agree
//! with the trial balance.

use std::collections::{BTreeMap, HashMap};

use chrono::{NaiveDate, Utc};
use proptest::prelude::*;
use quartermaster::{
    books::{
        Books, Ledger,
        chart::{self, role},
        export, journal, post, receivables,
        refunds::{self, NewRefund},
        reports, trail,
    },
    channels::woocommerce::types::Order,
    config::Accounting,
    ids::{LotId, OrderId},
    inventory::{
        landed::{self, Basis, NewCharge},
        orders,
        receive::{self, Invoice, ReceiptRow},
        reserve,
    },
    station::{queue::STATION_QUEUE, ship},
};
use serde_json::json;
use sqlx::MySqlPool;

use crate::helpers::{TenantDir, TestApp, TestDb, csrf_in};
use quartermaster::operators::Role;

pub(crate) const CHART: &str = r#"
accounts: { cash: "1000", accounts_receivable: "1100", inventory: "1200", sales_tax_payable: "2100", sales: "4000",
            shipping_income: "4100", cogs: "5000", gateway_fees: "6100" }
gateway_fees:
  - { gateway: stripe, percent: "2.9", fixed_minor: 30, clearing: "1010" }
  - { gateway: ppcp-gateway, percent: "3.49", fixed_minor: 49, clearing: "1020" }
ar_payment_methods: [purchase_order]
"#;

pub(crate) fn books_with(extra: &str) -> Books {
    let accounting: Accounting = serde_yaml::from_str(&format!("{CHART}{extra}")).expect("accounting section");
    Books::new(&accounting, chrono_tz::America::Chicago, "USD").expect("chart")
}

/// A store with its books open.
pub(crate) struct Shop {
    /// The database, when the shop owns it (else a running app does).
    _db: Option<TestDb>,
    pool: MySqlPool,
    ledger: Ledger,
    next_woo: u64,
}

impl Shop {
    pub(crate) async fn open(extra: &str) -> Shop {
        let db = TestDb::migrated().await;
        let books = books_with(extra);
        let ids = chart::install(&db.pool, &books.chart).await.expect("install chart");
        Shop { pool: db.pool.clone(), _db: Some(db), ledger: Ledger { books, ids }, next_woo: 1000 }
    }

    /// The books of a running app.
    pub(crate) fn of(app: &TestApp) -> Shop {
        let ledger = app.state.ledger.as_deref().expect("accounting is on").clone();
        Shop { _db: None, pool: app.state.pool.clone(), ledger, next_woo: 5000 }
    }

    pub(crate) fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    pub(crate) async fn product(&self, sku: &str, weight_g: u32) -> u64 {
        sqlx::query("INSERT INTO products (sku, name, weight_g) VALUES (?, ?, ?)")
            .bind(sku)
            .bind(sku)
            .bind(weight_g)
            .execute(self.pool())
            .await
            .expect("product")
            .last_insert_id()
    }

    /// Receives an invoice: (product, qty, unit cost) per lot. Returns its id.
    pub(crate) async fn receive(&self, reference: &str, lots: &[(u64, u32, i64)]) -> u64 {
        let rows: Vec<ReceiptRow> = lots
            .iter()
            .enumerate()
            .map(|(i, (p, q, c))| ReceiptRow {
                line: i + 2,
                product_id: *p,
                quantity: *q,
                unit_cost_minor: *c,
                lot_ref: format!("{reference}-{i}"),
                location: None,
                expires_on: None,
            })
            .collect();
        let invoice = Invoice {
            supplier: "Acme Bearings".into(),
            reference: reference.into(),
            date: Utc::now().date_naive(),
            currency: "USD".into(),
        };
        receive::apply(self.pool(), &invoice, &rows, None, &|_, _| {}).await.expect("receive").invoice_id
    }

    /// Mirrors a WooCommerce order: lines (product, qty, line total in cents), then reserves it.
    pub(crate) async fn order(
        &mut self,
        method: &str,
        lines: &[(u64, u32, i64)],
        shipping: i64,
        tax: i64,
        meta: serde_json::Value,
    ) -> (OrderId, Vec<u64>) {
        self.order_by(("", ""), method, lines, shipping, tax, meta).await
    }

    /// The same, from a customer with this billing (first, last) name.
    pub(crate) async fn order_by(
        &mut self,
        (first, last): (&str, &str),
        method: &str,
        lines: &[(u64, u32, i64)],
        shipping: i64,
        tax: i64,
        meta: serde_json::Value,
    ) -> (OrderId, Vec<u64>) {
        self.next_woo += 1;
        let woo = self.next_woo;
        let goods: i64 = lines.iter().map(|l| l.2).sum();
        let cents = |m: i64| format!("{}.{:02}", m / 100, m % 100);
        let skus: Vec<String> = {
            let mut v = Vec::new();
            for (p, _, _) in lines {
                v.push(
                    sqlx::query_scalar::<_, String>("SELECT sku FROM products WHERE id = ?")
                        .bind(p)
                        .fetch_one(self.pool())
                        .await
                        .expect("sku"),
                );
            }
            v
        };
        let order: Order = serde_json::from_value(json!({
            "id": woo, "number": woo.to_string(), "status": "processing", "currency": "USD",
            "date_created_gmt": "2026-12-01T15:00:00", "date_modified_gmt": "2026-12-01T15:00:00",
            "total": cents(goods + shipping + tax), "total_tax": cents(tax), "shipping_total": cents(shipping),
            "payment_method": method, "billing": { "first_name": first, "last_name": last },
            "line_items": lines.iter().zip(&skus).enumerate().map(|(i, ((_, q, t), sku))| json!({
                "id": woo * 10 + i as u64, "name": sku, "product_id": 0, "quantity": q, "sku": sku, "total": cents(*t)
            })).collect::<Vec<_>>(),
            "meta_data": meta,
        }))
        .expect("order json");
        let id = match orders::upsert(self.pool(), &order).await.expect("mirror") {
            orders::Mirrored::Changed(id) | orders::Mirrored::Unchanged(id) => id,
        };
        reserve::reserve_order(self.pool(), id, &["processing".to_owned()], &STATION_QUEUE).await.expect("reserve");
        let line_ids: Vec<u64> = sqlx::query_scalar("SELECT id FROM order_lines WHERE order_id = ? ORDER BY woo_line_id")
            .bind(id)
            .fetch_all(self.pool())
            .await
            .expect("lines");
        (id, line_ids)
    }

    pub(crate) async fn post(&self) -> post::Posted {
        self.ledger.catch_up(self.pool()).await.expect("catch up")
    }

    pub(crate) async fn balances(&self) -> BTreeMap<String, i64> {
        balances(self.pool()).await
    }

    pub(crate) async fn audit_clean(&self) -> reports::Audit {
        let a = reports::audit(self.pool()).await.expect("audit");
        assert!(a.problems.is_empty(), "the books broke: {:?}", a.problems);
        a
    }
}

#[tokio::test]
async fn the_database_refuses_unbalanced_edited_deleted_and_closed_period_entries() {
    let shop = Shop::open("").await;
    let pool = shop.pool();
    let ids = &shop.ledger.ids;
    // An unbalanced entry cannot post, however it is written.
    let entry = sqlx::query("INSERT INTO journal_entries (occurred_at, period, memo, source_type, source_id) VALUES (UTC_TIMESTAMP(6), '2026-12-01', 'x', 'test', 1)")
        .execute(pool)
        .await
        .expect("draft")
        .last_insert_id();
    for (acct, dr, cr) in [(role::CASH, 1000, 0), (role::SALES, 0, 999)] {
        sqlx::query("INSERT INTO journal_lines (journal_entry_id, account_id, debit_minor, credit_minor) VALUES (?, ?, ?, ?)")
            .bind(entry)
            .bind(ids.get(acct).expect("id"))
            .bind(dr)
            .bind(cr)
            .execute(pool)
            .await
            .expect("line");
    }
    let refused = sqlx::query("UPDATE journal_entries SET state = 'posted', posted_at = UTC_TIMESTAMP(6) WHERE id = ?")
        .bind(entry)
        .execute(pool)
        .await;
    assert!(format!("{:?}", refused.expect_err("unbalanced")).contains("does not balance"));
    let born_posted = sqlx::query(
        "INSERT INTO journal_entries (occurred_at, period, memo, source_type, source_id, state, posted_at) VALUES (UTC_TIMESTAMP(6), '2026-12-01', 'x', 'test', 2, 'posted', UTC_TIMESTAMP(6))",
    )
    .execute(pool)
    .await;
    assert!(format!("{:?}", born_posted.expect_err("born posted")).contains("written as a draft"));

    // A balanced entry posts, and then nothing about it can change.
    let mut tx = pool.begin().await.expect("tx");
    let mut d = journal::Draft::new("test", 3, Utc::now().naive_utc(), "cash sale");
    d.debit(role::CASH, 1234).credit(role::SALES, 1234);
    let posted = journal::post(&mut tx, &shop.ledger.books, ids, &d).await.expect("post").expect("new");
    tx.commit().await.expect("commit");
    let again = {
        let mut tx = pool.begin().await.expect("tx");
        journal::post(&mut tx, &shop.ledger.books, ids, &d).await.expect("post twice")
    };
    assert_eq!(again, None, "a source posts once");
    for (sql, why) in [
        ("UPDATE journal_lines SET debit_minor = 1 WHERE journal_entry_id = ? AND debit_minor > 0", "immutable"),
        ("DELETE FROM journal_lines WHERE journal_entry_id = ?", "cannot be deleted"),
        ("UPDATE journal_entries SET memo = 'edited' WHERE id = ?", "immutable"),
        ("DELETE FROM journal_entries WHERE id = ?", "cannot be deleted"),
        (
            "INSERT INTO journal_lines (journal_entry_id, account_id, debit_minor) SELECT ?, id, 5 FROM accounts LIMIT 1",
            "takes no more lines",
        ),
    ] {
        let e = sqlx::query(sql).bind(posted).execute(pool).await.expect_err(sql);
        assert!(format!("{e:?}").contains(why), "{sql}: {e:?}");
    }
    let reversal = journal::reverse(pool, &shop.ledger.books, ids, posted, "keyed twice").await.expect("reverse");
    assert!(journal::reverse(pool, &shop.ledger.books, ids, posted, "again").await.is_err(), "an entry is reversed once");
    let (points_at,): (Option<u64>,) =
        sqlx::query_as("SELECT reverses_id FROM journal_entries WHERE id = ?").bind(reversal).fetch_one(pool).await.expect("r");
    assert_eq!(points_at, Some(posted));
    assert_eq!(shop.balances().await[role::CASH], 0, "the reversal undid the sale");

    // A closed month takes nothing: a late event posts into the next open month, its date kept.
    let november = NaiveDate::from_ymd_opt(2026, 11, 1).expect("date");
    assert!(journal::close_period(pool, november, None).await.expect("close"));
    let late_at = NaiveDate::from_ymd_opt(2026, 11, 20).expect("d").and_hms_opt(18, 0, 0).expect("t");
    let mut tx = pool.begin().await.expect("tx");
    let mut late = journal::Draft::new("test", 4, late_at, "late freight bill");
    late.debit(role::INVENTORY, 500).credit(role::AP, 500);
    let late_id = journal::post(&mut tx, &shop.ledger.books, ids, &late).await.expect("post late").expect("new");
    tx.commit().await.expect("commit");
    let (occurred, period): (chrono::NaiveDateTime, NaiveDate) =
        sqlx::query_as("SELECT occurred_at, period FROM journal_entries WHERE id = ?").bind(late_id).fetch_one(pool).await.expect("late");
    assert_eq!((occurred, period), (late_at, NaiveDate::from_ymd_opt(2026, 12, 1).expect("d")));
    let forced = sqlx::query("INSERT INTO journal_entries (occurred_at, period, memo, source_type, source_id) VALUES (UTC_TIMESTAMP(6), '2026-11-01', 'x', 'test', 5)")
        .execute(pool)
        .await
        .expect("draft")
        .last_insert_id();
    let e = sqlx::query("UPDATE journal_entries SET state = 'posted', posted_at = UTC_TIMESTAMP(6) WHERE id = ?")
        .bind(forced)
        .execute(pool)
        .await;
    assert!(format!("{:?}", e.expect_err("closed")).contains("period is closed"));
    assert!(sqlx::query("DELETE FROM book_periods").execute(pool).await.is_err(), "a closed period stays closed");
}

#[tokio::test]
async fn shipping_refunding_returning_and_paying_orders_post_what_an_accountant_expects() {
    let mut shop = Shop::open("").await;
    let bearing = shop.product("BRG-6203", 200).await;
    let seal = shop.product("SEAL-22", 50).await;
    // Two receipts of bearings at different costs: FIFO takes the older first.
    let inv1 = shop.receive("INV-1", &[(bearing, 3, 400), (seal, 10, 100)]).await;
    sqlx::query("UPDATE inventory_lots SET received_at = received_at - INTERVAL 2 DAY WHERE supplier_invoice_id = ?")
        .bind(inv1)
        .execute(shop.pool())
        .await
        .expect("age");
    let _inv2 = shop.receive("INV-2", &[(bearing, 10, 500)]).await;
    let posted = shop.post().await;
    assert_eq!(posted.receipts, 2);
    let b = shop.balances().await;
    assert_eq!((b[role::INVENTORY], b[role::AP]), (3 * 400 + 10 * 100 + 10 * 500, -(3 * 400 + 10 * 100 + 10 * 500)));

    // Freight on invoice 1 by value: bearings 1200 of 2200, seals 1000 of 2200.
    let (_, alloc) = landed::add_charge(
        shop.pool(),
        &NewCharge {
            invoice_id: inv1,
            kind: "freight".into(),
            reference: "FRT-9".into(),
            amount_minor: 110,
            basis: Some(Basis::Value),
            charged_at: Utc::now().naive_utc(),
            operator_id: None,
        },
    )
    .await
    .expect("charge");
    assert_eq!(alloc.iter().map(|a| a.share_minor).collect::<Vec<_>>(), vec![60, 50]);
    assert_eq!(alloc.iter().map(|a| a.per_unit_minor).collect::<Vec<_>>(), vec![20, 5]);

    // A Stripe order with the plugin's fee meta: 4 bearings (3 from the old lot at 420, 1 at 500).
    let (o1, lines1) = shop.order("stripe", &[(bearing, 4, 4000)], 1000, 400, json!([{ "key": "_stripe_fee", "value": "1.85" }])).await;
    let s1 = ship::record_shipment(shop.pool(), o1, None, "ups", None).await.expect("ship");
    shop.post().await;
    let b = shop.balances().await;
    assert_eq!(b[role::SALES], -4000);
    assert_eq!(b[role::SHIPPING], -1000);
    assert_eq!(b[role::TAX], -400);
    assert_eq!(b["clearing:stripe"], 5400 - 185, "clearing takes the total net of the fee the gateway recorded");
    assert_eq!(b[role::FEES], 185);
    assert_eq!(b[role::COGS], 3 * 420 + 500);
    let trail1 = trail::of_order(shop.pool(), o1).await.expect("trail");
    assert_eq!(
        trail1.iter().map(|t| (t.lot_ref.as_str(), t.quantity, t.unit_cost_minor, t.line_cum_qty, t.line_cum_minor)).collect::<Vec<_>>(),
        vec![("INV-1-0", 3, 420, 3, 1260), ("INV-2-0", 1, 500, 4, 1760)]
    );
    assert!(trail1.iter().all(|t| t.journal_entry_id > 0 && t.order_line_id == lines1[0]));
    let memo: String = sqlx::query_scalar("SELECT memo FROM journal_entries WHERE source_type = 'shipment' AND source_id = ?")
        .bind(s1)
        .fetch_one(shop.pool())
        .await
        .expect("memo");
    assert!(memo.contains("gateway meta"), "the fee's source is recorded: {memo}");

    // A PayPal order without fee meta: the tenant's rule (3.49% + 0.49); shipped in two parts.
    let (o2, lines2) = shop.order("ppcp-gateway", &[(bearing, 2, 2000), (seal, 4, 1000)], 0, 0, json!([])).await;
    ship::record_shipment(shop.pool(), o2, Some(&HashMap::from([(lines2[1], 1)])), "ups", None).await.expect("part 1");
    ship::record_shipment(shop.pool(), o2, None, "ups", None).await.expect("part 2");
    shop.post().await;
    let b = shop.balances().await;
    let fee = (3000 * 349 + 5_000) / 10_000 + 49;
    assert_eq!(b[role::FEES], 185 + fee, "the rule's fee");
    assert_eq!(b["clearing:ppcp-gateway"], 3000 - fee);
    assert_eq!(b[role::SALES], -7000, "revenue posts once, with the first part");
    assert_eq!(b[role::COGS], 1760 + 2 * 500 + 4 * 105);

    // A refund without restock reverses revenue only; with restock, COGS comes back at the lot's cost.
    refunds::record(
        shop.pool(),
        &shop.ledger.books,
        &NewRefund {
            order_id: o1,
            woo_refund_id: Some(77),
            goods_minor: 1000,
            shipping_minor: 0,
            tax_minor: 100,
            restock: vec![],
            reason: "damaged in transit".into(),
            refunded_at: Utc::now().naive_utc(),
        },
    )
    .await
    .expect("refund");
    let cogs_before = shop.balances().await[role::COGS];
    shop.post().await;
    let b = shop.balances().await;
    assert_eq!((b[role::REFUNDS], b[role::TAX], b[role::COGS]), (1000, -300, cogs_before));
    assert_eq!(b["clearing:stripe"], 5400 - 185 - 1100);
    refunds::record(
        shop.pool(),
        &shop.ledger.books,
        &NewRefund {
            order_id: o2,
            woo_refund_id: None,
            goods_minor: 1000,
            shipping_minor: 0,
            tax_minor: 0,
            restock: vec![(lines2[0], 1)],
            reason: "returned".into(),
            refunded_at: Utc::now().naive_utc(),
        },
    )
    .await
    .expect("return");
    shop.post().await;
    let b = shop.balances().await;
    assert_eq!(b[role::COGS], 1760 + 2 * 500 + 4 * 105 - 500, "the returned bearing came back into its lot at 500");
    let back: Vec<(i32, i64)> = trail::of_order(shop.pool(), o2)
        .await
        .expect("trail")
        .iter()
        .filter(|t| t.kind == "return")
        .map(|t| (t.quantity, t.total_minor))
        .collect();
    assert_eq!(back, vec![(-1, -500)]);
    assert!(
        refunds::record(
            shop.pool(),
            &shop.ledger.books,
            &NewRefund {
                order_id: o2,
                woo_refund_id: None,
                goods_minor: 2001,
                shipping_minor: 0,
                tax_minor: 0,
                restock: vec![],
                reason: String::new(),
                refunded_at: Utc::now().naive_utc()
            }
        )
        .await
        .is_err(),
        "a refund cannot exceed what is left of the order"
    );

    // A purchase-order sale is a receivable until paid; a late freight bill lands partly in COGS.
    let (o3, _) = shop.order("purchase_order", &[(seal, 2, 600)], 0, 0, json!([])).await;
    ship::record_shipment(shop.pool(), o3, None, "ltl", None).await.expect("ship po");
    shop.post().await;
    assert_eq!(shop.balances().await[role::AR], 600);
    let open = receivables::list(shop.pool(), &shop.ledger.books, true).await.expect("aging");
    assert_eq!(open.iter().map(|r| (r.order_id, r.outstanding())).collect::<Vec<_>>(), vec![(o3, 600)]);
    assert!(receivables::pay(shop.pool(), &shop.ledger.books, o3, 601, Utc::now().date_naive(), "chq 1", None).await.is_err());
    receivables::pay(shop.pool(), &shop.ledger.books, o3, 600, Utc::now().date_naive(), "chq 1", None).await.expect("pay");
    let before = shop.balances().await;
    landed::add_charge(
        shop.pool(),
        &NewCharge {
            invoice_id: inv1,
            kind: "duty".into(),
            reference: "late".into(),
            amount_minor: 1300,
            basis: Some(Basis::Quantity),
            charged_at: Utc::now().naive_utc(),
            operator_id: None,
        },
    )
    .await
    .expect("late charge");
    shop.post().await;
    let b = shop.balances().await;
    assert_eq!((b[role::AR], b[role::CASH]), (0, 600), "the payment cleared the receivable");
    // 1300 by quantity over 3 bearings + 10 seals: 100 a unit. No old bearing is left; 4 seals are.
    assert_eq!(b[role::INVENTORY] - before[role::INVENTORY], 4 * 100);
    assert_eq!(b[role::COGS] - before[role::COGS], 1300 - 4 * 100, "the units already sold carry their share into COGS");
    assert!(receivables::list(shop.pool(), &shop.ledger.books, true).await.expect("aging").is_empty());
    let audit = shop.audit_clean().await;
    assert_eq!(audit.trial_balance_net, 0);
    assert_eq!(audit.inventory_account_minor, audit.inventory_valuation_minor);
}

/// One step of a random history.
#[derive(Debug, Clone)]
enum Op {
    Receive { qty: Vec<(usize, u32, i64)> },
    Charge { invoice: usize, amount: i64, basis: u8 },
    Order { method: u8, lines: Vec<(usize, u32)> },
    Ship { order: usize, part: bool },
    Refund { order: usize, restock: bool, cents: i64 },
    Pay { order: usize },
    Adjust { lot: usize, delta: i32 },
    Post,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop::collection::vec((0usize..3, 1u32..8, 1i64..5_000), 1..3).prop_map(|qty| Op::Receive { qty }),
        1 => (0usize..8, 1i64..3_000, 0u8..3).prop_map(|(invoice, amount, basis)| Op::Charge { invoice, amount, basis }),
        3 => (0u8..4, prop::collection::vec((0usize..3, 1u32..5), 1..3)).prop_map(|(method, lines)| Op::Order { method, lines }),
        3 => (0usize..12, any::<bool>()).prop_map(|(order, part)| Op::Ship { order, part }),
        1 => (0usize..12, any::<bool>(), 1i64..3_000).prop_map(|(order, restock, cents)| Op::Refund { order, restock, cents }),
        1 => (0usize..12).prop_map(|order| Op::Pay { order }),
        1 => (0usize..20, -3i32..3).prop_map(|(lot, delta)| Op::Adjust { lot, delta }),
        1 => Just(Op::Post),
    ]
}

async fn play(ops: Vec<Op>, returns_lot: bool) -> Result<(), TestCaseError> {
    let mut shop = Shop::open(if returns_lot { "restock_to: returns_lot\n" } else { "" }).await;
    let mut products = Vec::new();
    for sku in ["A", "B", "C"] {
        products.push(shop.product(sku, 100).await);
    }
    let (mut invoices, mut orders): (Vec<u64>, Vec<(OrderId, Vec<u64>)>) = (Vec::new(), Vec::new());
    let methods = ["stripe", "ppcp-gateway", "purchase_order", "cod"];
    for (i, op) in ops.into_iter().enumerate() {
        match op {
            Op::Receive { qty } => {
                let lots: Vec<(u64, u32, i64)> = qty.iter().map(|(p, q, c)| (products[*p], *q, *c)).collect();
                invoices.push(shop.receive(&format!("R{i}"), &lots).await);
            }
            Op::Charge { invoice, amount, basis } if !invoices.is_empty() => {
                let c = NewCharge {
                    invoice_id: invoices[invoice % invoices.len()],
                    kind: "freight".into(),
                    reference: String::new(),
                    amount_minor: amount,
                    basis: Some([Basis::Value, Basis::Quantity, Basis::Weight][usize::from(basis)]),
                    charged_at: Utc::now().naive_utc(),
                    operator_id: None,
                };
                landed::add_charge(shop.pool(), &c).await.map_err(|e| TestCaseError::fail(format!("charge: {e}")))?;
            }
            Op::Order { method, lines } => {
                let lines: Vec<(u64, u32, i64)> = lines.iter().map(|(p, q)| (products[*p], *q, i64::from(*q) * 1_000)).collect();
                let o = shop.order(methods[usize::from(method)], &lines, 500, 250, json!([])).await;
                orders.push(o);
            }
            Op::Ship { order, part } if !orders.is_empty() => {
                let (id, lines) = &orders[order % orders.len()];
                let only = part.then(|| HashMap::from([(lines[0], 1)]));
                // Nothing reserved (backordered, or shipped already) is a refusal, not a failure.
                let _ = ship::record_shipment(shop.pool(), *id, only.as_ref(), "ups", None).await;
            }
            Op::Refund { order, restock, cents } if !orders.is_empty() => {
                let (id, lines) = &orders[order % orders.len()];
                let r = NewRefund {
                    order_id: *id,
                    woo_refund_id: None,
                    goods_minor: cents,
                    shipping_minor: 0,
                    tax_minor: 0,
                    restock: if restock { vec![(lines[0], 1)] } else { vec![] },
                    reason: String::new(),
                    refunded_at: Utc::now().naive_utc(),
                };
                // Over-refunds and restocks of unshipped units are refused with a reason.
                let _ = refunds::record(shop.pool(), &shop.ledger.books, &r).await;
            }
            Op::Pay { order } if !orders.is_empty() => {
                shop.post().await;
                let (id, _) = orders[order % orders.len()];
                if let Some(r) =
                    receivables::list(shop.pool(), &shop.ledger.books, true).await.expect("ar").into_iter().find(|r| r.order_id == id)
                {
                    if r.outstanding() > 0 {
                        receivables::pay(
                            shop.pool(),
                            &shop.ledger.books,
                            id,
                            r.outstanding(),
                            Utc::now().date_naive(),
                            &format!("p{i}"),
                            None,
                        )
                        .await
                        .map_err(|e| TestCaseError::fail(format!("pay: {e}")))?;
                    }
                }
            }
            Op::Adjust { lot, delta } if delta != 0 => {
                let lots: Vec<LotId> =
                    sqlx::query_scalar("SELECT id FROM inventory_lots ORDER BY id").fetch_all(shop.pool()).await.expect("lots");
                if !lots.is_empty() {
                    let _ = receive::adjust(shop.pool(), lots[lot % lots.len()], delta, "count", None, None).await;
                }
            }
            Op::Post => {
                shop.post().await;
            }
            _ => {}
        }
    }
    shop.post().await;
    let a = reports::audit(shop.pool()).await.expect("audit");
    prop_assert!(a.problems.is_empty(), "invariants broke: {:?}", a.problems);
    prop_assert_eq!(a.trial_balance_net, 0);
    prop_assert_eq!(a.inventory_account_minor, a.inventory_valuation_minor);
    // Nothing is left waiting once the orders' sales have posted.
    let waiting = post::waiting(shop.pool()).await.expect("waiting");
    prop_assert_eq!(waiting["shipments"], 0);
    // Every consumed unit is on the trail, at the cost it was consumed at.
    let (consumed, trail_sold): (i64, i64) = sqlx::query_as(
        "SELECT CAST(COALESCE((SELECT SUM(quantity * unit_cost_minor) FROM stock_reservations WHERE status = 'consumed'), 0) AS SIGNED), CAST(COALESCE((SELECT SUM(total_minor) FROM cogs_entries WHERE kind = 'sale'), 0) AS SIGNED)",
    )
    .fetch_one(shop.pool())
    .await
    .expect("sums");
    prop_assert_eq!(consumed, trail_sold);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_histories_keep_every_invariant_of_the_books() {
    let cases: u32 = std::env::var("QM_BOOKS_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(10);
    let mut runner =
        proptest::test_runner::TestRunner::new(proptest::test_runner::Config { cases, max_shrink_iters: 40, ..Default::default() });
    let handle = tokio::runtime::Handle::current();
    let result = runner.run(&(prop::collection::vec(op(), 10..45), any::<bool>()), |(ops, returns_lot)| {
        tokio::task::block_in_place(|| handle.block_on(play(ops, returns_lot)))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A small book exported to both tools.
async fn exported_shop() -> Shop {
    let mut shop = Shop::open("").await;
    let p = shop.product("BRG-1", 100).await;
    let inv = shop.receive("X-1", &[(p, 10, 333)]).await;
    landed::add_charge(
        shop.pool(),
        &NewCharge {
            invoice_id: inv,
            kind: "freight".into(),
            reference: "f".into(),
            amount_minor: 1001,
            basis: None,
            charged_at: Utc::now().naive_utc(),
            operator_id: None,
        },
    )
    .await
    .expect("charge");
    let (o, l) = shop.order("stripe", &[(p, 3, 2999)], 599, 312, json!([])).await;
    ship::record_shipment(shop.pool(), o, None, "ups", None).await.expect("ship");
    let (po, _) = shop.order("purchase_order", &[(p, 2, 1500)], 0, 0, json!([])).await;
    ship::record_shipment(shop.pool(), po, None, "ups", None).await.expect("ship");
    shop.post().await;
    refunds::record(
        shop.pool(),
        &shop.ledger.books,
        &NewRefund {
            order_id: o,
            woo_refund_id: None,
            goods_minor: 999,
            shipping_minor: 100,
            tax_minor: 50,
            restock: vec![(l[0], 1)],
            reason: "a ; semicolon\nand a newline".into(),
            refunded_at: Utc::now().naive_utc(),
        },
    )
    .await
    .expect("refund");
    shop.post().await;
    shop.audit_clean().await;
    shop
}

/// Our trial balance by account full name (debits positive), in minor units.
async fn ours(shop: &Shop) -> BTreeMap<String, i64> {
    reports::trial_balance(shop.pool(), None).await.expect("tb").into_iter().map(|b| (b.name.clone(), b.net())).collect()
}

#[tokio::test]
async fn hledger_checks_the_exported_journal_and_its_balances_equal_the_trial_balance() {
    let shop = exported_shop().await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("books.journal");
    let book = export::read(shop.pool(), &shop.ledger.books).await.expect("read");
    std::fs::write(&path, export::hledger(&book)).expect("write");
    let hledger = |args: &[&str]| {
        std::process::Command::new("hledger")
            .arg("-f")
            .arg(&path)
            .args(args)
            .output()
            .expect("hledger is installed (scripts/test installs it: apt-get install hledger)")
    };
    let check = hledger(&["check", "accounts", "commodities", "ordereddates"]);
    assert!(check.status.success(), "hledger check refused the journal: {}", String::from_utf8_lossy(&check.stderr));
    let out = hledger(&["balance", "--flat", "--no-total", "--empty", "-O", "csv"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut theirs = BTreeMap::new();
    for row in csv::Reader::from_reader(&out.stdout[..]).records() {
        let row = row.expect("csv row");
        let amount = row[1].trim().trim_end_matches("USD").trim().replace(',', "");
        let minor =
            if amount == "0" { 0 } else { quartermaster::money::parse_minor(&amount, 2).unwrap_or_else(|e| panic!("{amount}: {e}")) };
        theirs.insert(row[0].to_owned(), minor);
    }
    let mine: BTreeMap<String, i64> = ours(&shop).await.into_iter().filter(|(_, v)| *v != 0).collect();
    let theirs: BTreeMap<String, i64> = theirs.into_iter().filter(|(_, v)| *v != 0).collect();
    assert!(mine.len() >= 8, "a real book: {mine:?}");
    assert_eq!(theirs, mine, "hledger's balances against our trial balance");
}

const GNUCASH_READER: &str = r#"
import json, sys
from gnucash import Session, SessionOpenMode
s = Session("xml://" + sys.argv[1], SessionOpenMode.SESSION_READ_ONLY)
out = {}
def walk(a, prefix):
    for c in a.get_children():
        name = (prefix + ":" if prefix else "") + c.GetName()
        if not c.GetPlaceholder():
            b = c.GetBalance()
            out[name] = [b.num(), b.denom()]
        walk(c, name)
walk(s.book.get_root_account(), "")
s.end()
print(json.dumps(out))
"#;

#[tokio::test]
async fn gnucash_opens_the_exported_book_and_every_balance_equals_the_trial_balance() {
    let shop = exported_shop().await;
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("books.gnucash");
    let book = export::read(shop.pool(), &shop.ledger.books).await.expect("read");
    export::gnucash(&book, &path).expect("GnuCash wrote the book (scripts/test installs gnucash and python3-gnucash)");
    let out = std::process::Command::new(export::GNUCASH_PYTHON).arg("-c").arg(GNUCASH_READER).arg(&path).output().expect("python3");
    assert!(out.status.success(), "GnuCash could not open the book: {}", String::from_utf8_lossy(&out.stderr));
    let read: BTreeMap<String, (i64, i64)> = serde_json::from_slice(&out.stdout).expect("balances json");
    let theirs: BTreeMap<String, i64> =
        read.into_iter().map(|(name, (num, denom))| (name, num * 100 / denom)).filter(|(_, v)| *v != 0).collect();
    let mine: BTreeMap<String, i64> = ours(&shop).await.into_iter().filter(|(_, v)| *v != 0).collect();
    assert!(mine.len() >= 8, "a real book: {mine:?}");
    assert_eq!(theirs, mine, "GnuCash's balances against our trial balance");
}

#[test]
fn a_chart_with_one_code_twice_names_both_roles() {
    let accounting: Accounting = serde_yaml::from_str(&CHART.replace("cogs: \"5000\"", "cogs: \"4000\"")).expect("parse");
    let e = chart::Chart::from_config(&accounting).expect_err("duplicate code");
    let text = e.to_string();
    assert!(text.contains("\"4000\"") && text.contains("sales") && text.contains("cogs"), "{text}");
}

/// The whole path from the store: the sync reads an order, it ships here, the
/// store refunds it twice (one unit restocked and an amount beyond the items,
/// then a unit and the shipping without restock), and the next cycle records
/// both refunds once, puts the restocked unit back into its lot and the books
/// reverse exactly that. Against the stand-in and the real WooCommerce.
#[tokio::test]
async fn woocommerce_refunds_are_read_by_the_sync_and_reach_the_books_once() {
    for woo in crate::shop::both("refunds_reach_the_books").await {
        let db = TestDb::migrated().await;
        let books = books_with("");
        let ids = chart::install(&db.pool, &books.chart).await.expect("chart");
        let ledger = Ledger { books: books.clone(), ids };
        let p = woo.product("RFB-1", Some(0)).await;
        crate::sync::stock_up(&db.pool, &woo.client(), 10).await;
        let mut poller = crate::sync::poller(&db, woo.client(), None);
        poller.books = Some(books);
        poller.run_once().await.expect("first cycle");
        assert_eq!(woo.stock(p).await, Some(10), "{:?}", woo.kind);

        let body = json!({ "status": "processing", "payment_method": "stripe", "line_items": [{ "product_id": p, "quantity": 3 }],
                           "shipping_lines": [{ "method_id": "flat_rate", "method_title": "Flat", "total": "5.00" }] });
        let (status, created) = woo.admin(reqwest::Method::POST, "orders", Some(body)).await;
        assert_eq!(status, 201, "{created}");
        let woo_order = created["id"].as_u64().expect("id");
        let woo_line = created["line_items"][0]["id"].as_u64().expect("line");
        let ship_line = created["shipping_lines"][0]["id"].as_u64().expect("shipping line");
        let s = poller.run_once().await.expect("cycle");
        assert_eq!(s.units_reserved, 3, "{:?}: {s}", woo.kind);
        let order: OrderId =
            sqlx::query_scalar("SELECT id FROM orders WHERE woo_id = ?").bind(woo_order).fetch_one(&db.pool).await.expect("o");
        ship::record_shipment(&db.pool, order, None, "ups", None).await.expect("ship");
        ledger.catch_up(&db.pool).await.expect("post");
        let cogs_before = balances(&db.pool).await[role::COGS];
        assert_eq!(cogs_before, 3 * 425, "{:?}", woo.kind);

        woo.refund(woo_order, "25.00", true, &[(woo_line, 1, "19.99")]).await;
        woo.refund(woo_order, "24.99", false, &[(woo_line, 1, "19.99"), (ship_line, 0, "5.00")]).await;
        let s = poller.run_once().await.expect("cycle with refunds");
        assert_eq!((s.refunds_recorded, s.units_restocked), (2, 1), "{:?}: {s}", woo.kind);
        assert!(s.orders_skipped.is_empty(), "{:?}: {s}", woo.kind);
        let again = poller.run_once().await.expect("next cycle");
        assert_eq!(again.refunds_recorded, 0, "{:?}: a refund is recorded once: {again}", woo.kind);
        let parts: Vec<(i64, i64, i64, bool)> = sqlx::query_as(
            "SELECT goods_minor, shipping_minor, tax_minor, restock FROM order_refunds WHERE order_id = ? ORDER BY woo_refund_id",
        )
        .bind(order)
        .fetch_all(&db.pool)
        .await
        .expect("refunds");
        assert_eq!(parts, vec![(2500, 0, 0, true), (1999, 500, 0, false)], "{:?}: goods take the amount refunded without items", woo.kind);
        let remaining: i64 = sqlx::query_scalar(
            "SELECT CAST(SUM(qty_remaining) AS SIGNED) FROM inventory_lots l JOIN products p ON p.id = l.product_id WHERE p.sku = 'RFB-1'",
        )
        .fetch_one(&db.pool)
        .await
        .expect("lots");
        assert_eq!(remaining, 8, "{:?}: the restocked unit is back in its lot", woo.kind);
        assert_eq!(woo.stock(p).await, Some(8), "{:?}: the store agrees", woo.kind);

        let posted = ledger.catch_up(&db.pool).await.expect("post refunds");
        assert_eq!(posted.refunds, 2, "{:?}", woo.kind);
        let b = balances(&db.pool).await;
        assert_eq!(b[role::REFUNDS], 2500 + 1999, "{:?}", woo.kind);
        assert_eq!(b[role::SHIPPING], -500 + 500, "{:?}: shipping income reversed", woo.kind);
        assert_eq!(b[role::COGS], 2 * 425, "{:?}: COGS reversed for the restocked unit only, at its cost", woo.kind);
        let a = reports::audit(&db.pool).await.expect("audit");
        assert!(a.problems.is_empty(), "{:?}: {:?}", woo.kind, a.problems);
    }
}

async fn balances(pool: &MySqlPool) -> BTreeMap<String, i64> {
    reports::trial_balance(pool, None).await.expect("trial balance").into_iter().map(|b| (b.role.clone(), b.net())).collect()
}

/// The app with the accounting module on and `CHART` as its `accounting` section.
pub(crate) async fn app_with_books() -> TestApp {
    let db = TestDb::empty().await;
    let tenant = TenantDir::write(&db, "", "");
    let path = tenant.config_path();
    let yaml = std::fs::read_to_string(&path).expect("tenant file").replace("accounting: false", "accounting: true");
    let section: String = CHART.lines().filter(|l| !l.trim().is_empty()).map(|l| format!("  {l}\n")).collect();
    std::fs::write(&path, format!("{yaml}\naccounting:\n{section}")).expect("write tenant file");
    TestApp::spawn_in(db, tenant, "").await
}

/// The back office's pages: each report shows the figures (in the tenant's
/// currency and time zone) and its CSV says the same; the forms take a
/// payment, a refund and a landed charge, and bad input is refused naming
/// the field with nothing written.
#[tokio::test]
async fn the_books_pages_show_the_figures_take_the_forms_and_name_the_field_they_refuse() {
    let app = app_with_books().await;
    app.add_operator("office", Role::BackOffice, "office-password-1").await;
    assert_eq!(app.sign_in("office", "office-password-1").await.status(), 303);
    let mut shop = Shop::of(&app);
    let bearing = shop.product("BRG-PG", 100).await;
    let invoice = shop.receive("INV-PG", &[(bearing, 10, 400)]).await;
    let (po, _) = shop.order("purchase_order", &[(bearing, 2, 2000)], 500, 0, json!([])).await;
    let po_number = shop.next_woo.to_string();
    let (card, card_lines) = shop.order("stripe", &[(bearing, 3, 3000)], 0, 240, json!([])).await;
    for o in [po, card] {
        ship::record_shipment(shop.pool(), o, None, "ups", None).await.expect("ship");
    }
    let html = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        (status, r.text().await.expect("body"))
    };

    // Posting from the page, then each report.
    let (status, index) = html(app.get("/books").await).await;
    assert_eq!(status, 200, "{index}");
    let csrf = csrf_in(&index);
    assert_eq!(app.post_form("/books/post", &[("csrf", &csrf)]).await.status(), 303);
    let (_, tb) = html(app.get("/books/trial-balance").await).await;
    assert!(tb.contains("Assets:Inventory") && tb.contains("20.00"), "COGS 5 × 4.00 shows: {tb}");
    let (_, csv) = html(app.get("/books/trial-balance?format=csv").await).await;
    let mut sum = 0i64;
    for row in csv.lines().skip(1) {
        let balance = row.rsplit(',').next().expect("balance");
        sum += quartermaster::money::parse_minor(balance, 2).unwrap_or_else(|e| panic!("{row}: {e}"));
    }
    assert_eq!(sum, 0, "the trial balance's CSV sums to zero: {csv}");
    assert!(csv.lines().any(|l| l.starts_with("5000,") && l.ends_with(",20.00")), "{csv}");
    let (_, valuation) = html(app.get("/books/valuation").await).await;
    assert!(valuation.contains("INV-PG-0") && valuation.contains("20.00"), "5 left at 4.00: {valuation}");
    let (_, cogs) = html(app.get("/books/cogs?format=csv").await).await;
    assert_eq!(cogs.lines().filter(|l| l.contains("INV-PG-0")).count(), 2, "one trail row per order line: {cogs}");
    let occurred: chrono::NaiveDateTime =
        sqlx::query_scalar("SELECT occurred_at FROM journal_entries WHERE source_type = 'shipment' ORDER BY id LIMIT 1")
            .fetch_one(shop.pool())
            .await
            .expect("entry");
    let local = occurred.and_utc().with_timezone(&chrono_tz::America::Chicago).format("%Y-%m-%d %H:%M").to_string();
    let (_, journal) = html(app.get("/books/journal").await).await;
    assert!(journal.contains(&local), "the journal shows Chicago time {local}: {journal}");
    let (_, aging) = html(app.get("/books/ar").await).await;
    assert!(aging.contains(&po_number) && aging.contains("25.00"), "the PO order is receivable: {aging}");

    // A payment: a missing amount is refused by name, then it is taken and AR clears.
    let csrf = csrf_in(&aging);
    let bad = app
        .post_form(
            "/books/ar/payments",
            &[("csrf", &csrf), ("order", &po_number), ("amount", ""), ("paid_on", "2026-12-02"), ("reference", "CHQ 7")],
        )
        .await;
    let (status, body) = html(bad).await;
    assert_eq!(status, 422);
    assert!(body.contains("amount"), "{body}");
    assert_eq!(shop.balances().await[role::AR], 2500, "nothing was written");
    let ok = app
        .post_form(
            "/books/ar/payments",
            &[("csrf", &csrf), ("order", &po_number), ("amount", "25.00"), ("paid_on", "2026-12-02"), ("reference", "CHQ 7")],
        )
        .await;
    assert_eq!(ok.status(), 303);
    assert_eq!(shop.balances().await[role::AR], 0);

    // A refund: restocking more than shipped is refused by name; one unit back is taken.
    let (_, order_page) = html(app.get(&format!("/books/orders/{card}")).await).await;
    let csrf = csrf_in(&order_page);
    let too_many = format!("{}x4", card_lines[0]);
    let (status, body) = html(
        app.post_form(
            &format!("/books/orders/{card}/refunds"),
            &[("csrf", &csrf), ("goods", "10.00"), ("restock", &too_many), ("reason", "x")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("restock"), "{body}");
    let one = format!("{}x1", card_lines[0]);
    let r = app
        .post_form(
            &format!("/books/orders/{card}/refunds"),
            &[("csrf", &csrf), ("goods", "10.00"), ("restock", &one), ("reason", "damaged box")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let b = shop.balances().await;
    assert_eq!((b[role::REFUNDS], b[role::COGS]), (1000, 4 * 400), "{b:?}");

    // A landed charge on the invoice, shown with its allocation.
    let (_, inv_page) = html(app.get(&format!("/books/invoices/{invoice}")).await).await;
    let csrf = csrf_in(&inv_page);
    let (status, body) = html(
        app.post_form(
            &format!("/books/invoices/{invoice}/charges"),
            &[("csrf", &csrf), ("kind", "freight"), ("amount", "-1"), ("reference", "F1")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 422);
    assert!(body.contains("amount"), "{body}");
    let r = app
        .post_form(
            &format!("/books/invoices/{invoice}/charges"),
            &[("csrf", &csrf), ("kind", "freight"), ("amount", "6.00"), ("reference", "FRT-PG"), ("basis", "quantity")],
        )
        .await;
    assert_eq!(r.status(), 303);
    let (_, inv_page) = html(app.get(&format!("/books/invoices/{invoice}")).await).await;
    assert!(inv_page.contains("FRT-PG") && inv_page.contains("6.00"), "{inv_page}");
    // Only an ended month can be closed.
    let this_month = chrono::Utc::now().with_timezone(&chrono_tz::America::Chicago).format("%Y-%m").to_string();
    let (status, body) = html(app.post_form("/books/periods/close", &[("csrf", &csrf), ("month", &this_month)]).await).await;
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("month"), "{body}");
    shop.audit_clean().await;

    // The dashboard's margin tile and chart read the same books: today's
    // revenue (revenue accounts, refunds netted) and FIFO COGS.
    let tb = quartermaster::books::reports::trial_balance(shop.pool(), None).await.expect("trial balance");
    let revenue: i64 = tb.iter().filter(|b| b.kind == "revenue").map(|b| -b.net()).sum();
    let cogs: i64 = tb.iter().filter(|b| b.role == "cogs").map(|b| b.net()).sum();
    assert!(revenue > 0 && cogs > 0, "{tb:?}");
    let money = |m: i64| format!("{} USD", quartermaster::money::format_minor(m, 2));
    let tiles: Vec<serde_json::Value> = app.get("/dashboard/tiles.json").await.json().await.expect("tiles");
    let margin = tiles.iter().find(|t| t["name"] == "today_margin").expect("margin tile");
    assert_eq!(margin["value"], money(revenue - cogs).as_str(), "{margin}");
    assert_eq!(margin["rows"], json!([["revenue", money(revenue)], ["COGS (FIFO)", money(cogs)]]), "{margin}");
    let (status, charts) = html(app.get("/dashboard/charts").await).await;
    assert_eq!(status, 200, "{charts}");
    let today = chrono::Utc::now().with_timezone(&chrono_tz::America::Chicago).format("%b %-d").to_string();
    assert!(charts.contains(&format!("<title>{today}: {}</title>", money(revenue - cogs))), "today's margin bar: {charts}");
}
