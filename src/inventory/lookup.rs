//! Code → product lookup that never makes a scanner wait: an in-memory map
//! keyed by normalised code, persisted under the tenant's data dir so a
//! restart is warm, rebuilt from the database in the background. A miss
//! asks the database once and caches the answer, a negative one for a
//! short time.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::RwLock,
    time::{Duration, Instant},
};

use sqlx::{MySqlPool, Row};

use super::gtin::{self, Code, GtinError};

/// A resolved scan: the product and how many units one scan stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hit {
    pub product_id: u64,
    pub units: u32,
}

#[derive(Debug, Clone, Copy)]
enum Entry {
    Found(Hit),
    Missing(Instant),
}

/// The lookup table.
pub struct CodeLookup {
    map: RwLock<HashMap<String, Entry>>,
    file: PathBuf,
    negative_ttl: Duration,
}

impl CodeLookup {
    /// Opens the lookup, warm from `data_dir/code-lookup.json` when present.
    pub fn open(data_dir: &std::path::Path) -> Self {
        let file = data_dir.join("code-lookup.json");
        let map = std::fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice::<HashMap<String, Hit>>(&b).ok())
            .map(|m| m.into_iter().map(|(k, h)| (k, Entry::Found(h))).collect())
            .unwrap_or_default();
        Self { map: RwLock::new(map), file, negative_ttl: Duration::from_secs(60) }
    }

    /// Codes held in memory.
    pub fn len(&self) -> usize {
        self.map.read().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cached answer for a normalised code: `Some(Some(hit))` found,
    /// `Some(None)` known missing, `None` not cached. No I/O.
    pub fn cached(&self, code: &Code) -> Option<Option<Hit>> {
        let map = self.map.read().ok()?;
        match map.get(&code.key())? {
            Entry::Found(h) => Some(Some(*h)),
            Entry::Missing(at) if at.elapsed() < self.negative_ttl => Some(None),
            Entry::Missing(_) => None,
        }
    }

    /// Resolves what was scanned: memory first, the database once on a miss.
    pub async fn resolve(&self, pool: &MySqlPool, scanned: &str) -> Result<Result<Option<Hit>, GtinError>, sqlx::Error> {
        let code = match gtin::normalize(scanned) {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        if let Some(answer) = self.cached(&code) {
            return Ok(Ok(answer));
        }
        let hit = query_one(pool, &code).await?;
        if let Ok(mut map) = self.map.write() {
            map.insert(code.key(), hit.map_or(Entry::Missing(Instant::now()), Entry::Found));
        }
        Ok(Ok(hit))
    }

    /// Rebuilds the whole map from the database and writes it to disk
    /// (atomically: a temporary file renamed over the old one).
    pub async fn refresh(&self, pool: &MySqlPool) -> Result<usize, sqlx::Error> {
        let mut fresh: HashMap<String, Hit> = HashMap::new();
        let rows = sqlx::query("SELECT id, sku, upc, gtin FROM products WHERE status <> 'archived'").fetch_all(pool).await?;
        for r in rows {
            let id: u64 = r.try_get("id")?;
            let unit = Hit { product_id: id, units: 1 };
            let sku: String = r.try_get("sku")?;
            fresh.insert(Code::Sku(sku).key(), unit);
            for col in ["upc", "gtin"] {
                if let Some(c) = r.try_get::<Option<String>, _>(col)?.and_then(|v| gtin::normalize(&v).ok()) {
                    fresh.insert(c.key(), unit);
                }
            }
        }
        for r in sqlx::query("SELECT gtin14, product_id, units FROM product_packs").fetch_all(pool).await? {
            let code: String = r.try_get("gtin14")?;
            fresh.insert(Code::CasePack(code).key(), Hit { product_id: r.try_get("product_id")?, units: r.try_get("units")? });
        }
        let n = fresh.len();
        if let Ok(bytes) = serde_json::to_vec(&fresh) {
            let tmp = self.file.with_extension("json.tmp");
            if let Some(dir) = self.file.parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, &self.file)).is_err() {
                tracing::warn!(file = %self.file.display(), "could not persist the code lookup; it stays in memory");
            }
        }
        if let Ok(mut map) = self.map.write() {
            *map = fresh.into_iter().map(|(k, h)| (k, Entry::Found(h))).collect();
        }
        Ok(n)
    }
}

async fn query_one(pool: &MySqlPool, code: &Code) -> Result<Option<Hit>, sqlx::Error> {
    let unit = |id: Option<u64>| id.map(|product_id| Hit { product_id, units: 1 });
    Ok(match code {
        Code::Sku(s) => unit(sqlx::query_scalar("SELECT id FROM products WHERE sku = ?").bind(s).fetch_optional(pool).await?),
        Code::UpcA(u) => unit(
            sqlx::query_scalar("SELECT id FROM products WHERE upc = ? OR gtin IN (?, ?, ?) LIMIT 1")
                .bind(u)
                .bind(u)
                .bind(format!("0{u}"))
                .bind(format!("00{u}"))
                .fetch_optional(pool)
                .await?,
        ),
        Code::Ean13(c) | Code::Gtin8(c) | Code::VariableMeasure(c) => {
            let padded = format!("{c:0>14}");
            unit(
                sqlx::query_scalar("SELECT id FROM products WHERE gtin IN (?, ?) LIMIT 1")
                    .bind(c)
                    .bind(padded)
                    .fetch_optional(pool)
                    .await?,
            )
        }
        Code::CasePack(c) => sqlx::query("SELECT product_id, units FROM product_packs WHERE gtin14 = ?")
            .bind(c)
            .fetch_optional(pool)
            .await?
            .map(|r| -> Result<Hit, sqlx::Error> { Ok(Hit { product_id: r.try_get("product_id")?, units: r.try_get("units")? }) })
            .transpose()?,
    })
}
