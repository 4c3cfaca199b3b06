//! Resolving secret references at start-up ("deploy time"): environment
//! variables, files, and Vault/OpenBao KV v2 through vaultrs with a token or
//! an AppRole login.
//!
//! Errors name the reference and what went wrong, never a value: Vault's own
//! error strings ("permission denied", "invalid role or secret ID") carry no
//! secrets, and values only ever travel inside [`Secret`].

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    time::Duration,
};

use serde_json::Value;
use vaultrs::{
    client::Client as _,
    client::{VaultClient, VaultClientSettingsBuilder},
    error::ClientError,
};

use super::{LoadedConfig, Secret, SecretRef, Vault, VaultAuth};

/// Why a reference could not be resolved. Never contains a secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    #[error("{reference}: environment variable {name} is not set")]
    EnvMissing { reference: String, name: String },
    #[error("{reference}: cannot read {}: {reason}", path.display())]
    File { reference: String, path: PathBuf, reason: String },
    #[error("{reference}: the secret is empty")]
    Empty { reference: String },
    #[error("{reference}: ref+vault:// needs a `vault` section in the tenant file")]
    NoVault { reference: String },
    #[error("vault login ({method}) at {address} failed: {reason}")]
    Login { method: &'static str, address: String, reason: String },
    #[error("{reference}: vault answered {reason}")]
    Read { reference: String, reason: String },
    #[error("{reference}: the secret has no key `{key}` (keys present: {present})")]
    KeyMissing { reference: String, key: String, present: String },
    #[error("{reference}: the value under `{key}` is not text")]
    NotText { reference: String, key: String },
}

/// Resolved secrets by the key path they were configured under.
#[derive(Debug, Default, Clone)]
pub struct Secrets(BTreeMap<&'static str, Secret>);

impl Secrets {
    /// The secret configured at `path` (e.g. `woocommerce.consumer_secret`).
    pub fn get(&self, path: &str) -> Option<&Secret> {
        self.0.get(path)
    }

    /// Adds or replaces one secret (tests and `QM_DATABASE_URL`).
    pub fn insert(&mut self, path: &'static str, secret: Secret) {
        self.0.insert(path, secret);
    }
}

/// Resolves references for one tenant file.
pub struct Resolver {
    base_dir: PathBuf,
    vault: Option<Vault>,
    client: Option<VaultClient>,
    /// One read per secret path and version, however many keys use it.
    cache: HashMap<(String, String, Option<u64>), HashMap<String, Value>>,
}

impl Resolver {
    /// A resolver for a loaded tenant file.
    pub fn for_config(config: &LoadedConfig) -> Self {
        Self { base_dir: config.base_dir(), vault: config.config.vault.clone(), client: None, cache: HashMap::new() }
    }

    /// Resolves every reference in the file; returns the secrets that
    /// resolved and a problem per reference that did not.
    pub async fn resolve_all(&mut self, config: &LoadedConfig) -> (Secrets, Vec<(&'static str, ResolveError)>) {
        let mut secrets = Secrets::default();
        let mut failures = Vec::new();
        for (path, reference) in config.config.secret_refs() {
            match self.resolve(reference).await {
                Ok(s) => secrets.insert(path, s),
                Err(e) => failures.push((path, e)),
            }
        }
        (secrets, failures)
    }

    /// Resolves one reference.
    #[tracing::instrument(skip_all, fields(reference = %reference))]
    pub async fn resolve(&mut self, reference: &SecretRef) -> Result<Secret, ResolveError> {
        let secret = match reference {
            SecretRef::Env { .. } | SecretRef::File { .. } => read_local(reference, &self.base_dir)?,
            SecretRef::Vault { mount, path, key, version } => {
                let data = self.read_kv(reference, mount, path, *version).await?;
                let value = data.get(key).ok_or_else(|| {
                    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
                    keys.sort_unstable();
                    ResolveError::KeyMissing { reference: reference.to_string(), key: key.clone(), present: keys.join(", ") }
                })?;
                match value {
                    Value::String(s) => Secret::new(s.clone()),
                    Value::Number(n) => Secret::new(n.to_string()),
                    _ => return Err(ResolveError::NotText { reference: reference.to_string(), key: key.clone() }),
                }
            }
        };
        if secret.expose().is_empty() {
            return Err(ResolveError::Empty { reference: reference.to_string() });
        }
        Ok(secret)
    }

    async fn read_kv(
        &mut self,
        reference: &SecretRef,
        mount: &str,
        path: &str,
        version: Option<u64>,
    ) -> Result<&HashMap<String, Value>, ResolveError> {
        let cache_key = (mount.to_owned(), path.to_owned(), version);
        if !self.cache.contains_key(&cache_key) {
            let client = self.client(reference).await?;
            // vaultrs' kv2::read ignores versions; a pinned one needs read_version.
            let read = match version {
                Some(v) => vaultrs::kv2::read_version::<HashMap<String, Value>>(client, mount, path, v).await,
                None => vaultrs::kv2::read::<HashMap<String, Value>>(client, mount, path).await,
            };
            let data = read.map_err(|e| ResolveError::Read { reference: reference.to_string(), reason: describe(&e) })?;
            self.cache.insert(cache_key.clone(), data);
        }
        Ok(&self.cache[&cache_key])
    }

    async fn client(&mut self, reference: &SecretRef) -> Result<&VaultClient, ResolveError> {
        if self.client.is_none() {
            let vault = self.vault.clone().ok_or_else(|| ResolveError::NoVault { reference: reference.to_string() })?;
            self.client = Some(login(&vault, &self.base_dir).await?);
        }
        Ok(self.client.as_ref().expect("set above"))
    }
}

/// Logs in to Vault with the configured method and returns a ready client.
async fn login(vault: &Vault, base_dir: &Path) -> Result<VaultClient, ResolveError> {
    let method = match vault.auth {
        VaultAuth::Token { .. } => "token",
        VaultAuth::Approle { .. } => "approle",
    };
    let fail = |reason: String| ResolveError::Login { method, address: vault.address.clone(), reason };
    // Set the token explicitly (empty for AppRole) so VAULT_TOKEN in the
    // environment never decides which identity the appliance uses.
    let token = match &vault.auth {
        VaultAuth::Token { token } => read_local(token, base_dir).map_err(|e| fail(e.to_string()))?,
        VaultAuth::Approle { .. } => Secret::new(""),
    };
    let mut settings = VaultClientSettingsBuilder::default();
    settings.address(&vault.address).token(token.expose()).timeout(Some(Duration::from_secs(vault.timeout_seconds)));
    if let Some(ns) = &vault.namespace {
        settings.namespace(Some(ns.clone()));
    }
    let settings = settings.build().map_err(|e| fail(format!("bad settings: {e}")))?;
    let mut client = VaultClient::new(settings).map_err(|e| fail(describe(&e)))?;
    if let VaultAuth::Approle { mount, role_id, secret_id } = &vault.auth {
        let role_id = read_local(role_id, base_dir).map_err(|e| fail(e.to_string()))?;
        let secret_id = read_local(secret_id, base_dir).map_err(|e| fail(e.to_string()))?;
        let auth =
            vaultrs::auth::approle::login(&client, mount, role_id.expose(), secret_id.expose()).await.map_err(|e| fail(describe(&e)))?;
        client.set_token(&auth.client_token);
    }
    Ok(client)
}

/// Reads an `env` or `file` reference.
fn read_local(reference: &SecretRef, base_dir: &Path) -> Result<Secret, ResolveError> {
    match reference {
        SecretRef::Env { name } => std::env::var(name)
            .map(Secret::new)
            .map_err(|_| ResolveError::EnvMissing { reference: reference.to_string(), name: name.clone() }),
        SecretRef::File { path } => {
            let full = if path.is_absolute() { path.clone() } else { base_dir.join(path) };
            // A FIFO, a device or a huge file is refused at once; the reason never quotes the content.
            let text = super::files::read_text(&full, super::files::SECRET_FILE_MAX).map_err(|e| ResolveError::File {
                reference: reference.to_string(),
                path: full.clone(),
                reason: match e.kind() {
                    std::io::ErrorKind::InvalidInput => e.to_string(),
                    kind => kind.to_string(),
                },
            })?;
            // Docker secrets and `echo x > file` end with a newline that is not part of the secret.
            let trimmed = text.strip_suffix('\n').map(|t| t.strip_suffix('\r').unwrap_or(t)).unwrap_or(&text);
            Ok(Secret::new(trimmed))
        }
        SecretRef::Vault { .. } => Err(ResolveError::Read {
            reference: reference.to_string(),
            reason: "a vault reference cannot be used to log in to vault".into(),
        }),
    }
}

/// Vault's answer in words: status and its error list, nothing of the request.
fn describe(e: &ClientError) -> String {
    match e {
        ClientError::APIError { code: 404, errors } if errors.is_empty() => {
            "HTTP 404: no secret at that path (or that version was deleted)".into()
        }
        ClientError::APIError { code, errors } => format!("HTTP {code}: {}", errors.join("; ")),
        ClientError::RestClientError { source } => format!("cannot reach vault: {source}"),
        other => other.to_string(),
    }
}
