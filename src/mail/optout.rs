//! Who asked for no more mail of a kind (review requests), and the signed
//! link that records it without a sign-in: an HMAC-SHA256 of the address
//! under the tenant's `reviews.link_key`, checked in constant time.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use sqlx::MySqlPool;
use subtle::ConstantTimeEq;

use crate::config::Secret;

fn mac(key: &Secret, email: &str) -> Vec<u8> {
    // HMAC takes keys of any length.
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()) else { return Vec::new() };
    m.update(b"qm unsubscribe\0");
    m.update(email.trim().to_ascii_lowercase().as_bytes());
    m.finalize().into_bytes().to_vec()
}

/// The token an unsubscribe link carries for `email`.
pub fn token(key: &Secret, email: &str) -> String {
    hex::encode(mac(key, email))
}

/// Whether `token` was issued for `email` under `key`.
pub fn verify(key: &Secret, email: &str, token: &str) -> bool {
    let Ok(given) = hex::decode(token) else { return false };
    !given.is_empty() && bool::from(mac(key, email).ct_eq(&given))
}

/// Records the opt-out (again is fine).
pub async fn opt_out(pool: &MySqlPool, email: &str, reason: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO mail_optouts (email, reason) VALUES (?, ?) ON DUPLICATE KEY UPDATE reason = VALUES(reason)")
        .bind(email.trim().to_ascii_lowercase())
        .bind(reason)
        .execute(pool)
        .await?;
    Ok(())
}

/// Whether `email` opted out.
pub async fn opted_out(pool: &MySqlPool, email: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mail_optouts WHERE email = ?")
        .bind(email.trim().to_ascii_lowercase())
        .fetch_one(pool)
        .await?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_opens_only_its_own_address_under_its_own_key() {
        let key = Secret::new("link-key-1");
        let t = token(&key, "Buyer@Example.com");
        assert!(verify(&key, "buyer@example.com", &t), "case and spaces do not matter");
        assert!(!verify(&key, "other@example.com", &t));
        assert!(!verify(&Secret::new("link-key-2"), "buyer@example.com", &t));
        assert!(!verify(&key, "buyer@example.com", "zz"));
        assert!(!verify(&key, "buyer@example.com", ""));
    }
}
