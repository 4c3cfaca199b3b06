//! Secret references in the syntax of helmfile's vals, so operators recognise
//! them: `ref+vault://MOUNT/PATH[?version=N]#/KEY`, `ref+env://NAME`,
//! `ref+file://PATH`. A reference names where a secret lives; it is not
//! secret itself and may be printed.

use std::{fmt, path::PathBuf, str::FromStr};

/// Where a secret lives.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SecretRef {
    /// A key of a Vault (or OpenBao) KV v2 secret.
    Vault {
        /// The KV v2 mount, e.g. `secret`.
        mount: String,
        /// The secret's path below the mount, e.g. `tenants/acme/woocommerce`.
        path: String,
        /// The key inside the secret's data.
        key: String,
        /// A pinned version; `None` reads the latest.
        version: Option<u64>,
    },
    /// An environment variable of the process (development, CI).
    Env { name: String },
    /// A file, e.g. a Docker secret under `/run/secrets`. A relative path is
    /// read from the tenant file's folder. One trailing newline is dropped.
    File { path: PathBuf },
}

/// Why a string is not a reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RefParseError {
    /// No `ref+` scheme at all: somebody wrote the secret itself.
    #[error("a literal secret is not allowed here; use a reference such as ref+vault://secret/PATH#/KEY")]
    Literal,
    /// `ref+` followed by something malformed.
    #[error("malformed reference: {0}")]
    Malformed(&'static str),
}

impl FromStr for SecretRef {
    type Err = RefParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let Some(rest) = s.strip_prefix("ref+") else {
            return Err(RefParseError::Literal);
        };
        if let Some(name) = rest.strip_prefix("env://") {
            let valid = !name.is_empty()
                && !name.starts_with(|c: char| c.is_ascii_digit())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            return if valid {
                Ok(Self::Env { name: name.to_owned() })
            } else {
                Err(RefParseError::Malformed("ref+env:// needs a variable name of letters, digits and _"))
            };
        }
        if let Some(path) = rest.strip_prefix("file://") {
            return if path.is_empty() || path.chars().any(char::is_whitespace) {
                Err(RefParseError::Malformed("ref+file:// needs a path without spaces"))
            } else {
                Ok(Self::File { path: PathBuf::from(path) })
            };
        }
        if let Some(body) = rest.strip_prefix("vault://") {
            return parse_vault(body);
        }
        Err(RefParseError::Malformed("expected ref+vault://, ref+env:// or ref+file://"))
    }
}

fn parse_vault(body: &str) -> Result<SecretRef, RefParseError> {
    const SHAPE: &str = "expected ref+vault://MOUNT/PATH[?version=N]#/KEY";
    let (location, key) = body.split_once("#/").ok_or(RefParseError::Malformed(SHAPE))?;
    let (path_part, query) = match location.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (location, None),
    };
    let version = match query {
        None => None,
        Some(q) => {
            let n = q.strip_prefix("version=").ok_or(RefParseError::Malformed("the only query parameter is ?version=N"))?;
            match n.parse::<u64>() {
                Ok(v) if v >= 1 => Some(v),
                _ => return Err(RefParseError::Malformed("?version= takes a whole number from 1")),
            }
        }
    };
    let (mount, path) = path_part.split_once('/').ok_or(RefParseError::Malformed(SHAPE))?;
    let segment_ok = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !segment_ok(mount) || !path.split('/').all(segment_ok) || !segment_ok(key) {
        return Err(RefParseError::Malformed(SHAPE));
    }
    Ok(SecretRef::Vault { mount: mount.to_owned(), path: path.to_owned(), key: key.to_owned(), version })
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Vault { mount, path, key, version: Some(v) } => write!(f, "ref+vault://{mount}/{path}?version={v}#/{key}"),
            Self::Vault { mount, path, key, version: None } => write!(f, "ref+vault://{mount}/{path}#/{key}"),
            Self::Env { name } => write!(f, "ref+env://{name}"),
            Self::File { path } => write!(f, "ref+file://{}", path.display()),
        }
    }
}

impl<'de> serde::Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        // The error never repeats the raw value: it may be a pasted secret.
        raw.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_kinds_and_prints_them_back() {
        for s in [
            "ref+vault://secret/tenants/acme/woo#/consumer_secret",
            "ref+vault://kv/a/b?version=3#/k",
            "ref+env://QM_DB_PASSWORD",
            "ref+file:///run/secrets/vault_role_id",
            "ref+file://secrets/dev.txt",
        ] {
            let r: SecretRef = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(r.to_string(), s);
        }
        assert_eq!(
            "ref+vault://kv/a/b?version=3#/k".parse::<SecretRef>(),
            Ok(SecretRef::Vault { mount: "kv".into(), path: "a/b".into(), key: "k".into(), version: Some(3) })
        );
    }

    #[test]
    fn rejects_literals_and_malformed_references() {
        assert_eq!("cs_1234567890abcdef".parse::<SecretRef>(), Err(RefParseError::Literal));
        for bad in [
            "ref+vault://secret#/k",
            "ref+vault://secret/path",
            "ref+vault://secret/path?version=0#/k",
            "ref+vault://secret/path?v=1#/k",
            "ref+env://1ABC",
            "ref+env://",
            "ref+file://",
            "ref+s3://bucket/x",
        ] {
            assert!(matches!(bad.parse::<SecretRef>(), Err(RefParseError::Malformed(_))), "{bad}");
        }
    }
}
