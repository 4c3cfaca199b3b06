//! Random tokens (sessions, CSRF, nonces, request ids): the ground floor,
//! used by every layer.

use rand::RngCore;

/// The key the server signs its pre-sign-in CSRF tokens with. Replicas of
/// one tenant share it when the tenant file sets `server.signing_key` (a
/// secret reference), so a sign-in page served by one replica is accepted
/// by another; without it each process draws its own, never stored, and a
/// restart only means a sign-in page must be reloaded.
#[derive(Clone)]
pub struct FormKey([u8; 32]);

impl FormKey {
    /// From the tenant's `server.signing_key` (any length, stretched with
    /// HMAC-SHA256 under a label of its own), or this process's own.
    pub fn new(secret: Option<&str>) -> Self {
        use hmac::{Hmac, Mac};
        let mut key = [0u8; 32];
        match secret.and_then(|s| Hmac::<sha2::Sha256>::new_from_slice(s.as_bytes()).ok()) {
            Some(mut mac) => {
                mac.update(b"qm form key\0");
                key.copy_from_slice(&mac.finalize().into_bytes());
            }
            None => rand::rng().fill_bytes(&mut key),
        }
        Self(key)
    }

    /// HMAC-SHA256 of `label` and `message` under this key.
    pub fn mac(&self, label: &[u8], message: &[u8]) -> Vec<u8> {
        use hmac::{Hmac, Mac};
        // HMAC takes keys of any length: a 32-byte key cannot be refused.
        let Ok(mut mac) = Hmac::<sha2::Sha256>::new_from_slice(&self.0) else { return Vec::new() };
        mac.update(label);
        mac.update(message);
        mac.finalize().into_bytes().to_vec()
    }
}

impl std::fmt::Debug for FormKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FormKey([redacted])")
    }
}

/// A random 256-bit token as 64 hex characters.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
