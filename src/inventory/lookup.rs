//! Code → product lookup that never makes a scanner wait: an in-memory map
//! keyed by normalised code, persisted under the tenant's data dir so a
//! restart is warm, rebuilt from the database in the background. A miss
//! asks the database once and caches the answer, a negative one for a
//! short time.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sqlx::MySqlPool;

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

/// The most codes held in memory (a catalog's codes fit many times over).
const MAX_ENTRIES: usize = 500_000;

/// The lookup table.
pub struct CodeLookup {
    map: RwLock<HashMap<String, Entry>>,
    file: PathBuf,
    negative_ttl: Duration,
    /// Scans answered from memory, and those that had to ask the database.
    hits: AtomicU64,
    misses: AtomicU64,
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
        Self { map: RwLock::new(map), file, negative_ttl: Duration::from_secs(60), hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    /// Scanned codes answered from memory and from the database since start.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
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

    /// Resolves what was scanned, trying each reading ([`gtin::readings`]):
    /// memory first, the database once on a miss. A number that is not a
    /// valid GTIN and no product's SKU answers with the GTIN's problem.
    pub async fn resolve(&self, pool: &MySqlPool, scanned: &str) -> Result<Result<Option<Hit>, GtinError>, sqlx::Error> {
        let (codes, not_gtin) = match gtin::readings(scanned) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        for code in &codes {
            if let Some(hit) = self.one(pool, code).await? {
                return Ok(Ok(Some(hit)));
            }
        }
        Ok(not_gtin.map_or(Ok(None), Err))
    }

    /// Resolves many typed codes at once (an RFQ's tokens): memory first,
    /// then one query per kind of code for everything not in memory. Misses
    /// are not cached here, so a message full of made-up codes leaves no
    /// trace in memory. Returns the hit for each input that names a product.
    pub async fn resolve_many(&self, pool: &MySqlPool, typed: &[&str]) -> Result<HashMap<String, Hit>, sqlx::Error> {
        let mut readings: Vec<(&str, Vec<Code>)> = Vec::with_capacity(typed.len());
        let mut unknown: HashMap<String, Code> = HashMap::new();
        for t in typed {
            let Ok((codes, _)) = gtin::readings(t) else { continue };
            for c in &codes {
                if self.cached(c).is_none() {
                    unknown.entry(c.key()).or_insert_with(|| c.clone());
                }
            }
            readings.push((t, codes));
        }
        let found = query_many(pool, unknown.values()).await?;
        if let Ok(mut map) = self.map.write() {
            for (k, h) in &found {
                if map.len() < MAX_ENTRIES {
                    map.insert(k.clone(), Entry::Found(*h));
                }
            }
        }
        let mut out = HashMap::new();
        for (t, codes) in readings {
            let hit = codes.iter().find_map(|c| found.get(&c.key()).copied().or_else(|| self.cached(c).flatten()));
            if let Some(h) = hit {
                out.insert(t.to_owned(), h);
            }
        }
        Ok(out)
    }

    async fn one(&self, pool: &MySqlPool, code: &Code) -> Result<Option<Hit>, sqlx::Error> {
        if let Some(answer) = self.cached(code) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(answer);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let hit = query_one(pool, code).await?;
        if let Ok(mut map) = self.map.write() {
            // A miss is cached briefly, and the cache of misses is bounded:
            // a flood of made-up codes cannot grow memory without limit.
            if hit.is_some() || map.len() < MAX_ENTRIES {
                map.insert(code.key(), hit.map_or(Entry::Missing(Instant::now()), Entry::Found));
            }
        }
        Ok(hit)
    }

    /// Rebuilds the whole map from the database and writes it to disk
    /// (atomically: a temporary file renamed over the old one).
    pub async fn refresh(&self, pool: &MySqlPool) -> Result<usize, sqlx::Error> {
        let mut fresh: HashMap<String, Hit> = HashMap::new();
        let rows = sqlx::query_as::<_, (u64, String, Option<String>, Option<String>)>(
            "SELECT id, sku, upc, gtin FROM products WHERE status <> 'archived'",
        )
        .fetch_all(pool)
        .await?;
        for (id, sku, upc, gtin_col) in rows {
            let unit = Hit { product_id: id, units: 1 };
            fresh.insert(Code::Sku(sku).key(), unit);
            for c in [upc, gtin_col].into_iter().flatten().filter_map(|v| gtin::normalize(&v).ok()) {
                fresh.insert(c.key(), unit);
            }
        }
        for (code, product_id, units) in
            sqlx::query_as::<_, (String, u64, u32)>("SELECT gtin14, product_id, units FROM product_packs").fetch_all(pool).await?
        {
            fresh.insert(Code::CasePack(code).key(), Hit { product_id, units });
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

/// Looks up many codes with one query per kind (a thousand codes a query);
/// keyed by [`Code::key`]. No cache: receiving and RFQs call it directly.
pub(crate) async fn query_many(pool: &MySqlPool, codes: impl Iterator<Item = &Code>) -> Result<HashMap<String, Hit>, sqlx::Error> {
    let (mut skus, mut gtins, mut packs) = (Vec::new(), Vec::new(), Vec::new());
    for c in codes {
        match c {
            // Longer than the column: no product has it (and a truncated copy must not match one).
            Code::Sku(s) if s.chars().count() > 100 => {}
            Code::Sku(s) => skus.push(s.clone()),
            Code::UpcA(u) => gtins.extend([u.clone(), format!("0{u}"), format!("00{u}")]),
            Code::Ean13(c) | Code::Gtin8(c) | Code::VariableMeasure(c) => gtins.extend([c.clone(), format!("{c:0>14}")]),
            Code::CasePack(c) => packs.push(c.clone()),
        }
    }
    let mut out = HashMap::new();
    if !skus.is_empty() {
        let rows = sqlx::query_as::<_, (u64, String)>(
            r#"SELECT p.id, p.sku FROM JSON_TABLE(?, '$[*]' COLUMNS (v VARCHAR(100) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$')) AS j
               STRAIGHT_JOIN products p ON p.sku = j.v"#,
        )
        .bind(crate::db::json_list(&skus))
        .fetch_all(pool)
        .await?;
        for (id, sku) in rows {
            out.insert(Code::Sku(sku).key(), Hit { product_id: id, units: 1 });
        }
    }
    if !gtins.is_empty() {
        let rows = sqlx::query_as::<_, (u64, Option<String>, Option<String>)>(
            r#"SELECT p.id, p.upc, p.gtin FROM JSON_TABLE(?, '$[*]' COLUMNS (v VARCHAR(14) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$')) AS j
               STRAIGHT_JOIN products p ON p.upc = j.v
               UNION
               SELECT p.id, p.upc, p.gtin FROM JSON_TABLE(?, '$[*]' COLUMNS (v VARCHAR(14) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$')) AS j
               STRAIGHT_JOIN products p ON p.gtin = j.v"#,
        )
        .bind(crate::db::json_list(&gtins))
        .bind(crate::db::json_list(&gtins))
        .fetch_all(pool)
        .await?;
        for (id, upc, gtin_col) in rows {
            let hit = Hit { product_id: id, units: 1 };
            for c in [upc, gtin_col].into_iter().flatten().filter_map(|v| gtin::normalize(&v).ok()) {
                out.entry(c.key()).or_insert(hit);
            }
        }
    }
    if !packs.is_empty() {
        let rows = sqlx::query_as::<_, (String, u64, u32)>(
            r#"SELECT k.gtin14, k.product_id, k.units FROM JSON_TABLE(?, '$[*]' COLUMNS (v VARCHAR(14) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci PATH '$')) AS j
               STRAIGHT_JOIN product_packs k ON k.gtin14 = j.v"#,
        )
        .bind(crate::db::json_list(&packs))
        .fetch_all(pool)
        .await?;
        for (gtin14, product_id, units) in rows {
            out.insert(Code::CasePack(gtin14).key(), Hit { product_id, units });
        }
    }
    Ok(out)
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
        Code::CasePack(c) => sqlx::query_as::<_, (u64, u32)>("SELECT product_id, units FROM product_packs WHERE gtin14 = ?")
            .bind(c)
            .fetch_optional(pool)
            .await?
            .map(|(product_id, units)| Hit { product_id, units }),
    })
}
