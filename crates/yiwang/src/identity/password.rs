//! Password hashing with Argon2id, off the async threads.

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};

use super::IdentityError;

/// A valid hash of a random password, verified against when a login is unknown so that a failed
/// sign-in costs the same either way.
static DECOY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default().hash_password(salt.as_str().as_bytes(), &salt).map(|h| h.to_string()).unwrap_or_default()
});

pub async fn hash(password: &str) -> Result<String, IdentityError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| IdentityError::Hashing)
    })
    .await
    .map_err(|_| IdentityError::Hashing)?
}

/// True when `password` matches `stored`; with no stored hash, verifies against a decoy and
/// returns false.
pub async fn verify(password: &str, stored: Option<&str>) -> Result<bool, IdentityError> {
    let password = password.to_owned();
    let known = stored.is_some();
    let stored = stored.map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        let encoded = stored.unwrap_or_else(|| DECOY.clone());
        let parsed = PasswordHash::new(&encoded).map_err(|_| IdentityError::Hashing)?;
        let matches = Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok();
        Ok(known && matches)
    })
    .await
    .map_err(|_| IdentityError::Hashing)?
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hash_then_verify() {
        let h = super::hash("Yiwang@2026").await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("Yiwang@2026", Some(&h)).await.unwrap());
        assert!(!super::verify("yiwang@2026", Some(&h)).await.unwrap());
        assert!(!super::verify("Yiwang@2026", None).await.unwrap());
    }
}
