//! An order's books (its COGS trail, refunds and the refund form) and a
//! supplier invoice's landed charges (and the charge form).

use axum::{
    Form,
    extract::{Path, Query, State},
    response::Response,
};
use serde::Deserialize;

use super::*;

async fn order_report(state: &AppState, s: &Session, order: OrderId) -> Result<Report> {
    let trail_rows = trail::of_order(&state.pool, order).await?;
    let lines = reports::journal(&state.pool, &JournalFilter { order_id: Some(order), limit: 1_000, ..Default::default() }).await?;
    if trail_rows.is_empty() && lines.is_empty() {
        return Err(AppError::NotFound);
    }
    let number = trail_rows.first().map(|t| t.order_number.clone()).unwrap_or_else(|| order.to_string());
    let mut r = Report::new(state, s, format!("Order {number} in the books"));
    let cogs: i64 = trail_rows.iter().map(|t| t.total_minor).sum();
    r.intro = Some(format!("Cost of goods from its trail: {}.", money_of(state, cogs)));
    r.tables.push(trail_table(state, "COGS trail".into(), trail_rows));
    let mut t = Table::new("Entries", &["Entry", "Date", "Memo", "Account", "Debit#", "Credit#"]);
    for l in lines {
        t.rows.push(vec![
            c(format!("#{}", l.entry_id)),
            c(state.local_time(l.occurred_at)),
            c(l.memo),
            c(format!("{} {}", l.code, l.account)),
            side(state, l.debit_minor),
            side(state, l.credit_minor),
        ]);
    }
    r.tables.push(t);
    r.forms.push(FormSpec {
        id: "refund",
        title: "Record a refund",
        action: format!("{}/books/orders/{order}/refunds", state.base),
        fields: vec![
            field("goods", "Goods refunded", "", "0.00"),
            field("shipping", "Shipping refunded", "", "0.00"),
            field("tax", "Tax refunded", "", "0.00"),
            field("restock", "Units back in stock (line id × qty)", "", "e.g. 12x1, 13x2 — empty for no restock"),
            field("reason", "Reason", "", ""),
        ],
        button: "Record the refund",
    });
    Ok(r)
}

pub(super) async fn order_page(
    State(state): State<AppState>,
    Keeper(s, _l): Keeper,
    Path(order): Path<OrderId>,
    Query(q): Query<Q>,
) -> Result<Response> {
    let mut r = order_report(&state, &s, order).await?;
    r.notice = q.notice.clone();
    Ok(r.respond(&q, &format!("orders/{order}")))
}

#[derive(Deserialize)]
pub(super) struct RefundForm {
    #[serde(default)]
    goods: String,
    #[serde(default)]
    shipping: String,
    #[serde(default)]
    tax: String,
    #[serde(default)]
    restock: String,
    #[serde(default)]
    reason: String,
}

/// `12x1, 13x2` → [(12, 1), (13, 2)].
fn parse_restock(text: &str) -> Result<Vec<(u64, u32)>> {
    let mut out = Vec::new();
    for part in text.split([',', ' ']).map(str::trim).filter(|p| !p.is_empty()) {
        let (line, qty) = part
            .split_once(['x', '×'])
            .ok_or_else(|| AppError::invalid("restock", format!("`{part}`: write line id x quantity, e.g. 12x1")))?;
        let line = line.trim().parse().map_err(|_| AppError::invalid("restock", format!("`{part}`: the line id is a number")))?;
        let qty = qty
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|q| *q > 0)
            .ok_or_else(|| AppError::invalid("restock", format!("`{part}`: the quantity is a whole number above 0")))?;
        out.push((line, qty));
    }
    Ok(out)
}

pub(super) async fn refund(
    State(state): State<AppState>,
    Keeper(s, l): Keeper,
    Path(order): Path<OrderId>,
    Form(f): Form<RefundForm>,
) -> Result<Response> {
    let parsed = (|| {
        Ok::<_, AppError>(NewRefund {
            order_id: order,
            woo_refund_id: None,
            goods_minor: parse_money(&state, "goods", &f.goods)?,
            shipping_minor: parse_money(&state, "shipping", &f.shipping)?,
            tax_minor: parse_money(&state, "tax", &f.tax)?,
            restock: parse_restock(&f.restock)?,
            reason: f.reason.trim().to_owned(),
            refunded_at: Utc::now().naive_utc(),
        })
    })();
    let done = match parsed {
        Ok(r) => refunds::record(&state.pool, &l.books, &r).await.map_err(books_error),
        Err(e) => Err(e),
    };
    if let Err(e) = done {
        if matches!(e, AppError::Invalid { .. }) {
            let mut page = order_report(&state, &s, order).await?;
            page.alert = Some(e.to_string());
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(page)).into_response());
        }
        return Err(e);
    }
    l.catch_up(&state.pool).await.map_err(books_error)?;
    Ok(back(&state, &format!("/books/orders/{order}"), "Refund recorded and posted."))
}

async fn invoice_report(state: &AppState, s: &Session, id: u64) -> Result<Report> {
    let invoice = receive::invoices(&state.pool, Some(id), 1).await?.into_iter().next().ok_or(AppError::NotFound)?;
    let mut r = Report::new(state, s, format!("Invoice {} from {}", invoice.invoice_ref, invoice.supplier));
    r.intro = Some(format!(
        "Dated {}, {} at invoice cost; charges are allocated by {} (a charge can choose another basis, which becomes the invoice's).",
        invoice.invoice_date,
        money_of(state, invoice.total_minor),
        invoice.allocation_basis
    ));
    let mut lots = Table::new("Lots", &["SKU", "Lot", "Received#", "On hand#", "Invoice cost#", "Landed cost#"]);
    let landed_costs: HashMap<u64, i64> =
        reports::valuation(&state.pool).await?.into_iter().map(|v| (v.lot_id.0, v.landed_unit_cost_minor)).collect();
    for l in crate::inventory::stock::lots_of_invoice(&state.pool, id).await? {
        lots.rows.push(vec![
            c(l.sku),
            link(l.lot_ref, format!("{}/inventory/lots/{}", state.base, l.id)),
            c(l.qty_received.to_string()),
            c(l.qty_remaining.to_string()),
            c(money_of(state, l.unit_cost_minor)),
            c(landed_costs.get(&l.id.0).map(|v| money_of(state, *v)).unwrap_or_else(|| "— (none on hand)".into())),
        ]);
    }
    r.tables.push(lots);
    for ch in landed::charges_of_invoice(&state.pool, id).await? {
        let mut t = Table::new(
            format!(
                "{} {} · {} · by {} · {}",
                ch.kind,
                ch.reference,
                money_of(state, ch.amount_minor),
                ch.basis,
                state.local_time(ch.charged_at)
            ),
            &["Lot", "SKU", "Basis#", "Share#", "Per unit#", "On hand#", "To inventory#", "To COGS#"],
        );
        for a in landed::allocations(&state.pool, ch.id).await? {
            t.rows.push(vec![
                c(a.lot_ref),
                c(a.sku),
                c(a.basis_amount.to_string()),
                c(money_of(state, a.share_minor)),
                c(money_of(state, a.per_unit_minor)),
                c(a.units_on_hand.to_string()),
                c(money_of(state, a.inventory_minor)),
                c(money_of(state, a.cogs_minor)),
            ]);
        }
        r.tables.push(t);
    }
    r.forms.push(FormSpec {
        id: "charge",
        title: "Add a landed charge",
        action: format!("{}/books/invoices/{id}/charges", state.base),
        fields: vec![
            field("kind", "Kind (freight, duty, brokerage, other)", "freight", ""),
            field("amount", "Amount", "", "85.00"),
            field("reference", "Reference", "", "the freight bill number"),
            field("basis", "Allocate by (value, quantity, weight)", invoice.allocation_basis, ""),
        ],
        button: "Allocate the charge",
    });
    Ok(r)
}

pub(super) async fn invoice_page(
    State(state): State<AppState>,
    Keeper(s, _l): Keeper,
    Path(id): Path<u64>,
    Query(q): Query<Q>,
) -> Result<Response> {
    let mut r = invoice_report(&state, &s, id).await?;
    r.notice = q.notice.clone();
    Ok(r.respond(&q, &format!("invoices/{id}")))
}

#[derive(Deserialize)]
pub(super) struct ChargeForm {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reference: String,
    #[serde(default)]
    basis: String,
}

pub(super) async fn charge(
    State(state): State<AppState>,
    Keeper(s, l): Keeper,
    Path(id): Path<u64>,
    Form(f): Form<ChargeForm>,
) -> Result<Response> {
    let result = async {
        let basis = match f.basis.trim() {
            "" => None,
            b => Some(Basis::parse(b).ok_or_else(|| AppError::invalid("basis", "one of value, quantity, weight"))?),
        };
        let amount = parse_money(&state, "amount", &f.amount)?;
        let c = NewCharge {
            invoice_id: id,
            kind: f.kind.trim().to_owned(),
            reference: f.reference.trim().to_owned(),
            amount_minor: amount,
            basis,
            charged_at: Utc::now().naive_utc(),
            operator_id: Some(s.operator.id),
        };
        landed::add_charge(&state.pool, &c).await.map_err(|e| match e {
            landed::LandedError::Db(d) => AppError::Sqlx(d),
            landed::LandedError::NoInvoice(_) => AppError::NotFound,
            landed::LandedError::Kind(_) => AppError::invalid("kind", e.to_string()),
            landed::LandedError::Amount => AppError::invalid("amount", e.to_string()),
            landed::LandedError::Reference => AppError::invalid("reference", e.to_string()),
            landed::LandedError::NoWeight(_) | landed::LandedError::NoLots => AppError::invalid("basis", e.to_string()),
        })
    }
    .await;
    match result {
        Ok(_) => {
            l.catch_up(&state.pool).await.map_err(books_error)?;
            Ok(back(&state, &format!("/books/invoices/{id}"), "Charge allocated and posted."))
        }
        Err(e @ AppError::Invalid { .. }) => {
            let mut page = invoice_report(&state, &s, id).await?;
            page.alert = Some(e.to_string());
            Ok((StatusCode::UNPROCESSABLE_ENTITY, Page(page)).into_response())
        }
        Err(e) => Err(e),
    }
}
