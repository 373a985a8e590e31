//! The seam where a city plugs in its unified identity platform (统一身份认证).
//!
//! Sign-in asks the configured [`IdentityProvider`] to turn credentials into a local account id;
//! sessions, roles and scopes stay local whichever provider answered. The embedded default is
//! [`LocalAccounts`]: passwords hashed with Argon2id in yiwang's own database, throttled per login
//! and per client address. An OIDC provider implements the same trait and maps the token's
//! subject to an account.

use std::future::Future;
use std::pin::Pin;

use crate::store::Store;

use super::{IdentityError, authenticate};

pub struct Credentials<'a> {
    pub login: &'a str,
    pub password: &'a str,
    /// The client address, for throttling.
    pub client: &'a str,
}

pub type AuthFuture<'a> = Pin<Box<dyn Future<Output = Result<i64, IdentityError>> + Send + 'a>>;

pub trait IdentityProvider: Send + Sync {
    /// A short name for logs and the login page ("local", "oidc").
    fn name(&self) -> &'static str;
    /// The local account id for these credentials.
    fn authenticate<'a>(&'a self, store: &'a Store, credentials: Credentials<'a>) -> AuthFuture<'a>;
}

pub struct LocalAccounts;

impl IdentityProvider for LocalAccounts {
    fn name(&self) -> &'static str {
        "local"
    }

    fn authenticate<'a>(&'a self, store: &'a Store, c: Credentials<'a>) -> AuthFuture<'a> {
        Box::pin(authenticate(store, c.login, c.password, c.client))
    }
}
