//! argon2id password hashing, off the async threads (a hash costs tens of
//! milliseconds of CPU by design).

use argon2::{
    Argon2,
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng},
};

use crate::config::Secret;

/// A PHC string (`$argon2id$v=19$…`) for the password, or `None` if hashing failed.
pub async fn hash(password: Secret) -> Option<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default().hash_password(password.expose().as_bytes(), &salt).ok().map(|h| h.to_string())
    })
    .await
    .ok()
    .flatten()
}

/// Whether the password matches the stored PHC string.
pub async fn verify(password: Secret, phc: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&phc).is_ok_and(|parsed| Argon2::default().verify_password(password.expose().as_bytes(), &parsed).is_ok())
    })
    .await
    .unwrap_or(false)
}

/// Does the work of a verification against a fixed hash, for unknown users.
pub async fn burn(password: Secret) {
    const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$W8wpd0NU4DcKCPbWiqpGIx+WOWGEPMjQSHlAhZtyFCg";
    let _ = verify(password, DUMMY.to_owned()).await;
}
