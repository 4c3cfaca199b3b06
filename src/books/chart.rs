//! The chart of accounts, from the tenant file's `accounting.accounts`: one
//! account per role, the code the tenant's, the name a full hierarchical
//! name (`Assets:Inventory`) that hledger and GnuCash read as their tree.

use std::collections::{BTreeMap, HashMap};

use sqlx::MySqlPool;

use super::BooksError;
use crate::config::Accounting;

/// Account kinds (`accounts.kind`); the top of the name tree follows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Asset,
    Liability,
    Equity,
    Revenue,
    Expense,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Asset => "asset",
            Kind::Liability => "liability",
            Kind::Equity => "equity",
            Kind::Revenue => "revenue",
            Kind::Expense => "expense",
        }
    }

    pub fn parse(s: &str) -> Option<Kind> {
        [Kind::Asset, Kind::Liability, Kind::Equity, Kind::Revenue, Kind::Expense].into_iter().find(|k| k.as_str() == s)
    }

    /// Whether a debit raises it (assets, expenses).
    pub fn debit_normal(self) -> bool {
        matches!(self, Kind::Asset | Kind::Expense)
    }
}

/// The roles postings name; clearing accounts are `clearing:<gateway>`.
pub mod role {
    pub const CASH: &str = "cash";
    pub const AR: &str = "accounts_receivable";
    pub const INVENTORY: &str = "inventory";
    pub const AP: &str = "accounts_payable";
    pub const TAX: &str = "sales_tax_payable";
    pub const OPENING: &str = "opening_balances";
    pub const SALES: &str = "sales";
    pub const SHIPPING: &str = "shipping_income";
    pub const REFUNDS: &str = "refunds";
    pub const COGS: &str = "cogs";
    pub const FEES: &str = "gateway_fees";
    pub const ADJUSTMENTS: &str = "inventory_adjustments";
}

/// One account of the chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartAccount {
    pub role: String,
    pub code: String,
    pub name: String,
    pub kind: Kind,
}

/// The tenant's chart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chart {
    pub accounts: Vec<ChartAccount>,
    /// Where shipping income goes (`shipping_income`, or `sales` when the tenant has none).
    pub shipping_role: &'static str,
}

impl Chart {
    /// Builds the chart; two roles given one code is an error naming both.
    pub fn from_config(a: &Accounting) -> Result<Chart, BooksError> {
        let c = &a.accounts;
        let mut accounts = vec![
            acct(role::CASH, &c.cash, "Assets:Cash", Kind::Asset),
            acct(role::AR, &c.accounts_receivable, "Assets:Accounts receivable", Kind::Asset),
            acct(role::INVENTORY, &c.inventory, "Assets:Inventory", Kind::Asset),
            acct(role::AP, &c.accounts_payable, "Liabilities:Accounts payable", Kind::Liability),
            acct(role::TAX, &c.sales_tax_payable, "Liabilities:Sales tax payable", Kind::Liability),
            acct(role::OPENING, &c.opening_balances, "Equity:Opening balances", Kind::Equity),
            acct(role::SALES, &c.sales, "Income:Sales", Kind::Revenue),
            acct(role::REFUNDS, &c.refunds, "Income:Refunds", Kind::Revenue),
            acct(role::COGS, &c.cogs, "Expenses:Cost of goods sold", Kind::Expense),
            acct(role::FEES, &c.gateway_fees, "Expenses:Gateway fees", Kind::Expense),
            acct(role::ADJUSTMENTS, &c.inventory_adjustments, "Expenses:Inventory adjustments", Kind::Expense),
        ];
        let shipping_role = match &c.shipping_income {
            Some(code) => {
                accounts.push(acct(role::SHIPPING, code, "Income:Shipping", Kind::Revenue));
                role::SHIPPING
            }
            None => role::SALES,
        };
        for f in &a.gateway_fees {
            if let Some(code) = &f.clearing {
                accounts.push(acct(
                    &format!("clearing:{}", f.gateway),
                    code,
                    &format!("Assets:Payment clearing:{}", f.gateway),
                    Kind::Asset,
                ));
            }
        }
        let mut seen: BTreeMap<&str, &str> = BTreeMap::new();
        for a in &accounts {
            if let Some(other) = seen.insert(&a.code, &a.role) {
                return Err(BooksError::Chart(format!(
                    "code \"{}\" is given to both {other} and {}; give each account its own code",
                    a.code, a.role
                )));
            }
        }
        Ok(Chart { accounts, shipping_role })
    }

    pub fn by_role(&self, role: &str) -> Option<&ChartAccount> {
        self.accounts.iter().find(|a| a.role == role)
    }

    /// The account an order's payment lands in: its gateway's clearing
    /// account when the tenant names one, else cash.
    pub fn clearing_role(&self, gateway: Option<&str>) -> String {
        match gateway.map(|g| format!("clearing:{g}")) {
            Some(r) if self.by_role(&r).is_some() => r,
            _ => role::CASH.to_owned(),
        }
    }
}

fn acct(role: &str, code: &str, name: &str, kind: Kind) -> ChartAccount {
    ChartAccount { role: role.to_owned(), code: code.to_owned(), name: name.to_owned(), kind }
}

/// Account ids by role, as installed in the database.
#[derive(Debug, Clone, Default)]
pub struct AccountIds(pub HashMap<String, u64>);

impl AccountIds {
    pub fn get(&self, role: &str) -> Result<u64, BooksError> {
        self.0.get(role).copied().ok_or_else(|| BooksError::Chart(format!("no account for {role} in the chart")))
    }
}

/// Writes the chart into `accounts` (a role keeps its row; its code, name
/// and kind follow the tenant file) and returns the ids by role.
pub async fn install(pool: &MySqlPool, chart: &Chart) -> Result<AccountIds, BooksError> {
    let mut tx = pool.begin().await?;
    for a in &chart.accounts {
        let r = sqlx::query(
            r#"INSERT INTO accounts (code, name, kind, role) VALUES (?, ?, ?, ?)
               ON DUPLICATE KEY UPDATE code = VALUES(code), name = VALUES(name), kind = VALUES(kind)"#,
        )
        .bind(&a.code)
        .bind(&a.name)
        .bind(a.kind.as_str())
        .bind(&a.role)
        .execute(&mut *tx)
        .await;
        match r {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(BooksError::Chart(format!(
                    "code \"{}\" ({}) is already used by another account in the books; choose a code no other account has",
                    a.code, a.role
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    let ids: Vec<(String, u64, String)> = sqlx::query_as("SELECT role, id, code FROM accounts").fetch_all(&mut *tx).await?;
    // A code already held by another role matched that row instead: refuse it (the transaction is dropped).
    for a in &chart.accounts {
        if !ids.iter().any(|(r, _, c)| *r == a.role && *c == a.code) {
            return Err(BooksError::Chart(format!(
                "code \"{}\" ({}) is already used by another account in the books; choose a code no other account has",
                a.code, a.role
            )));
        }
    }
    tx.commit().await?;
    let ids: Vec<(String, u64)> = ids.into_iter().map(|(r, id, _)| (r, id)).collect();
    Ok(AccountIds(ids.into_iter().collect()))
}
