//! Random tokens (sessions, CSRF, nonces, request ids): the ground floor,
//! used by every layer.

use rand::RngCore;

/// A random 256-bit token as 64 hex characters.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
