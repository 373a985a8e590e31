//! The seam where a city plugs in its unified identity platform (统一身份认证).
//!
//! Every way of signing in ends the same way: a local account id, then a session started by
//! [`super::start_session`]; sessions, roles and scopes stay local whichever provider answered.
//!
//! - Credentials typed into yiwang's own form go to the configured [`IdentityProvider`]. The
//!   embedded default is [`LocalAccounts`]: passwords hashed with Argon2id in yiwang's own
//!   database, throttled per login and per client address.
//! - A platform that signs people in on its own pages and sends them back (OpenID Connect) cannot
//!   take a password through this trait; it is [`super::oidc::Oidc`], which verifies the
//!   platform's ID token and maps its claims to an account. It runs beside the local accounts.

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
