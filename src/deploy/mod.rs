//! Per-tenant deployment: `qm compose render` writes a tenant's Compose
//! `.env` (project name, image tag, published port, host names, paths) from
//! its tenant file, so many tenants run side by side on one host with no
//! shared project name, port or volume (volumes are namespaced by project).

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

use crate::config::LoadedConfig;

/// First port tried when a tenant file does not fix one.
pub const FIRST_PORT: u16 = 8100;

/// Why a tenant could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("port {port} is already published by tenant `{other}` ({path}); pick another deploy.http_port")]
    PortTaken { port: u16, other: String, path: String },
    #[error("no free port from {FIRST_PORT} on")]
    NoPort,
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// Other tenants already rendered under `root`: tenant → published port.
fn rendered_ports(root: &Path, except: &str) -> BTreeMap<String, u16> {
    let mut out = BTreeMap::new();
    let Ok(dirs) = fs::read_dir(root) else { return out };
    for d in dirs.flatten() {
        let tenant = d.file_name().to_string_lossy().into_owned();
        if tenant == except {
            continue;
        }
        if let Ok(env) = fs::read_to_string(d.path().join(".env")) {
            if let Some(port) = env.lines().find_map(|l| l.strip_prefix("QM_HTTP_PORT=")).and_then(|p| p.trim().parse().ok()) {
                out.insert(tenant, port);
            }
        }
    }
    out
}

/// Writes `<root>/<tenant>/.env` for the tenant; returns its path.
pub fn render(loaded: &LoadedConfig, root: &Path, repo: &Path) -> Result<PathBuf, RenderError> {
    let c = &loaded.config;
    let tenant = c.tenant.id.as_str();
    let taken = rendered_ports(root, tenant);
    let port = match c.deploy.http_port {
        Some(p) => {
            if let Some((other, _)) = taken.iter().find(|(_, q)| **q == p) {
                return Err(RenderError::PortTaken { port: p, other: other.clone(), path: root.join(other).display().to_string() });
            }
            p
        }
        None => {
            // Keep the port a tenant already has; otherwise the first free one.
            let own = fs::read_to_string(root.join(tenant).join(".env"))
                .ok()
                .and_then(|e| e.lines().find_map(|l| l.strip_prefix("QM_HTTP_PORT=")).and_then(|p| p.trim().parse().ok()));
            match own.filter(|p| !taken.values().any(|q| q == p)) {
                Some(p) => p,
                None => (FIRST_PORT..u16::MAX).find(|p| !taken.values().any(|q| q == p)).ok_or(RenderError::NoPort)?,
            }
        }
    };
    let mut names = vec![c.domains.storefront.clone()];
    names.extend(c.domains.ops.iter().cloned());
    names.extend(c.domains.aliases.iter().cloned());
    names.dedup();
    let abs = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = root.join(tenant);
    let env = format!(
        "# Written by `qm compose render`; re-render instead of editing.\n\
         COMPOSE_PROJECT_NAME=qm-{tenant}\n\
         QM_TENANT={tenant}\n\
         QM_IMAGE_TAG={tag}\n\
         QM_HTTP_BIND={bind}\n\
         QM_HTTP_PORT={port}\n\
         QM_SERVER_NAMES={names}\n\
         QM_TENANT_CONFIG={config}\n\
         QM_SECRETS_DIR={secrets}\n\
         QM_COMPOSE_FILE={compose}\n\
         {swarm}",
        tag = c.deploy.image_tag,
        bind = c.deploy.http_bind,
        names = names.join(" "),
        config = abs(&loaded.path).display(),
        secrets = abs(&dir).join("secrets").display(),
        compose = abs(&repo.join("compose/compose.yaml")).display(),
        swarm = c.deploy.swarm.as_ref().map_or(String::new(), |s| format!(
            "QM_ORCHESTRATOR=swarm\nQM_DATA_NODE={}\nQM_OPS_REPLICAS={}\n",
            s.data_node, s.ops_replicas
        )),
    );
    fs::create_dir_all(&dir).map_err(|source| RenderError::Write { path: dir.clone(), source })?;
    let path = dir.join(".env");
    fs::write(&path, env).map_err(|source| RenderError::Write { path: path.clone(), source })?;
    Ok(path)
}
