//! Sign-in through the city's unified identity platform (统一身份认证), an OpenID Connect provider:
//! the authorization-code flow with PKCE, `state` and `nonce`.
//!
//! [`Oidc::begin`] keeps what the callback will need (nonce, PKCE verifier, where to go next) in
//! the `oidc_logins` table under the hash of `state`, and the handler puts `state` in a short-lived
//! cookie that binds the sign-in to this browser. [`Oidc::finish`] checks the answer against both,
//! redeems the code at the token endpoint, verifies the ID token (signature by the provider's JWKS,
//! issuer, audience, expiry, nonce) and maps its claims to a local account: a staff account by
//! login name (it must exist: roles stay local), an enterprise by credit code (it must exist), a
//! resident by ID number (created on first sign-in: the platform has verified who they are). The
//! caller then starts a session exactly as a password sign-in does.
//!
//! The discovery document and the JWKS are fetched on first use and kept; the JWKS is fetched
//! again when a token names a key it does not hold (the provider rotated its keys).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata, CoreResponseType,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdTokenFields, IssuerUrl,
    JsonWebKeySet, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope,
    SignatureVerificationError, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use super::model::{CreditCode, InvalidIdentifier, ResidentIdNumber};
use super::{AccountKind, IdentityError, NewResident, hash_secret, store};
use crate::config::OidcConfig;
use crate::store::{Store, now_ms};

/// How long a started sign-in may take at the platform before the callback refuses it.
pub const PENDING_TTL_MS: i64 = 10 * 60 * 1000;
/// Holds the `state` of the sign-in started in this browser.
pub const STATE_COOKIE: &str = "yiwang_oidc_state";
/// The path the state cookie is sent to.
pub const COOKIE_PATH: &str = "/auth/oidc";
/// Fetch the JWKS again for an unknown key at most this often (a token naming a key that does not
/// exist must not make yiwang hammer the provider).
const JWKS_REFRESH_EVERY: Duration = Duration::from_secs(10);
const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    /// The platform sent the user back with an error other than a refusal.
    #[error("the identity platform answered {error}")]
    Provider { error: String },
    /// The user (or the platform's policy) refused the sign-in.
    #[error("the identity platform denied the sign-in")]
    AccessDenied,
    /// The callback's `state` is not the one this browser started with.
    #[error("state does not match the sign-in started in this browser")]
    StateMismatch,
    /// No sign-in is pending under this state: used already, or too old.
    #[error("the sign-in expired or was already used")]
    Expired,
    #[error("the callback carries no code")]
    MissingCode,
    /// The token endpoint refused the code (`invalid_grant` …).
    #[error("the identity platform refused the code: {0}")]
    CodeRejected(String),
    /// The ID token failed a check; `claim` names the claim at fault, if one is.
    #[error("invalid ID token ({detail})")]
    InvalidToken { claim: Option<&'static str>, detail: String },
    #[error("claim {claim} is missing")]
    MissingClaim { claim: String },
    #[error("claim {claim}: {source}")]
    InvalidClaim { claim: String, source: InvalidIdentifier },
    /// The token names no identity yiwang maps (none of the configured claims).
    #[error("the token carries none of the mapped claims")]
    NoIdentity,
    #[error("no staff account for this login")]
    UnknownStaff { login: String },
    #[error("no enterprise account for this credit code")]
    UnknownEnterprise,
    #[error("the account is disabled")]
    Disabled,
    /// The platform could not be reached or answered something unreadable.
    #[error("identity platform: {0}")]
    Unreachable(String),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

type Result<T, E = OidcError> = std::result::Result<T, E>;

/// Every claim of the ID token beyond the standard ones, so that the claims a city configures
/// (`id_card_number`, a credit code …) can be read by name.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct CityClaims(Map<String, Value>);

impl AdditionalClaims for CityClaims {}

type CityIdTokenFields = IdTokenFields<
    CityClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type CityTokenResponse = StandardTokenResponse<CityIdTokenFields, CoreTokenType>;
/// A client of the provider built from its discovery document (authorization endpoint set; token
/// and userinfo endpoints as the document announces them).
type CityClient = Client<
    CityClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    CityTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// A sign-in just started: send the browser to `url`, and keep `state` in its cookie.
pub struct Begun {
    pub url: String,
    pub state: String,
}

/// What the platform sent the browser back with.
#[derive(Debug, Deserialize)]
pub struct Callback {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
}

/// The local account the platform's answer maps to, and where the user was going.
pub struct SignedIn {
    pub account_id: i64,
    pub next: Option<String>,
}

pub struct Oidc {
    config: OidcConfig,
    issuer: IssuerUrl,
    redirect: RedirectUrl,
    http: reqwest::Client,
    /// The discovery document with its JWKS, once fetched.
    provider: RwLock<Option<Arc<CoreProviderMetadata>>>,
    /// When the JWKS was last fetched again for an unknown key.
    jwks_refetched: Mutex<Option<Instant>>,
}

impl Oidc {
    /// Checks the settings; nothing is fetched until the first sign-in.
    pub fn new(config: OidcConfig) -> Result<Self, String> {
        let issuer = IssuerUrl::new(config.issuer.clone()).map_err(|e| format!("issuer: {e}"))?;
        let redirect = RedirectUrl::new(config.redirect_url.clone()).map_err(|e| format!("redirect_url: {e}"))?;
        // No redirects: following them would let a provider's answer point yiwang elsewhere (SSRF).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(HTTP_TIMEOUT)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Oidc { config, issuer, redirect, http, provider: RwLock::new(None), jwks_refetched: Mutex::new(None) })
    }

    /// The platform's name for the login button.
    pub fn display_name(&self) -> &str {
        &self.config.display_name
    }

    /// Starts a sign-in: records it and returns the provider's authorization URL. `next` must
    /// already be a local path.
    pub async fn begin(&self, store: &Store, next: Option<String>) -> Result<Begun> {
        let client = self.client(&*self.metadata().await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.config.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let now = now_ms();
        let pending = store::PendingOidcLogin {
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            next_path: next,
            expires_at: now + PENDING_TTL_MS,
        };
        let mut tx = store.begin_write().await?;
        store::insert_oidc_login(&mut tx, &hash_secret(state.secret()), &pending, now).await?;
        tx.commit().await?;
        Ok(Begun { url: url.to_string(), state: state.secret().clone() })
    }

    /// Finishes a sign-in from the platform's callback; `cookie_state` is the state this browser
    /// started with. A refusal is logged (without personal data: no error carries an ID number).
    pub async fn finish(&self, store: &Store, callback: Callback, cookie_state: Option<&str>) -> Result<SignedIn> {
        let result = self.check_callback(store, callback, cookie_state).await;
        match &result {
            Ok(signed_in) => {
                tracing::info!(account_id = signed_in.account_id, "signed in through the identity platform")
            }
            Err(OidcError::Unreachable(cause)) => tracing::warn!(%cause, "the identity platform failed"),
            Err(OidcError::UnknownStaff { login }) => {
                tracing::warn!(login, "identity-platform sign-in refused: no staff account with this login")
            }
            Err(error) => tracing::warn!(%error, "identity-platform sign-in refused"),
        }
        result
    }

    async fn check_callback(&self, store: &Store, callback: Callback, cookie_state: Option<&str>) -> Result<SignedIn> {
        if let Some(error) = callback.error {
            return Err(match error.as_str() {
                "access_denied" => OidcError::AccessDenied,
                // Only the code's own characters are echoed back: it comes from the query string.
                _ => OidcError::Provider { error: error.chars().filter(|c| c.is_ascii_graphic()).take(64).collect() },
            });
        }
        let state = match (callback.state.as_deref(), cookie_state) {
            (Some(sent), Some(kept)) if crate::http::auth::constant_time_eq(sent, kept) => sent,
            _ => return Err(OidcError::StateMismatch),
        };
        let pending = {
            let mut tx = store.begin_write().await?;
            let pending = store::take_oidc_login(&mut tx, &hash_secret(state)).await?;
            tx.commit().await?;
            pending.filter(|p| p.expires_at > now_ms()).ok_or(OidcError::Expired)?
        };
        let code = callback.code.filter(|c| !c.is_empty()).ok_or(OidcError::MissingCode)?;
        let claims = self.redeem(code, pending.pkce_verifier, Nonce::new(pending.nonce)).await?;
        let account_id = self.account_for(store, &claims).await?;
        Ok(SignedIn { account_id, next: pending.next_path })
    }

    /// Redeems the code and returns the verified ID token's claims, every one by name.
    async fn redeem(&self, code: String, verifier: String, nonce: Nonce) -> Result<Map<String, Value>> {
        let metadata = self.metadata().await?;
        let client = self.client(&metadata);
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|_| OidcError::Unreachable("the discovery document names no token endpoint".into()))?
            .set_pkce_verifier(PkceCodeVerifier::new(verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::ServerResponse(r) => OidcError::CodeRejected(r.error().to_string()),
                RequestTokenError::Request(e) => OidcError::Unreachable(format!("token endpoint: {e}")),
                RequestTokenError::Parse(e, _) => OidcError::Unreachable(format!("token response: {e}")),
                RequestTokenError::Other(e) => OidcError::Unreachable(format!("token endpoint: {e}")),
            })?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::InvalidToken { claim: None, detail: "no ID token in the response".into() })?;
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey))
                if self.refetch_jwks(&metadata).await? =>
            {
                let client = self.client(&*self.metadata().await?);
                id_token.claims(&client.id_token_verifier(), &nonce).map_err(invalid_token)?.clone()
            }
            Err(e) => return Err(invalid_token(e)),
        };
        match serde_json::to_value(&claims) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(OidcError::InvalidToken { claim: None, detail: "claims are not an object".into() }),
        }
    }

    /// The local account for verified claims: staff by login name, then an enterprise by credit
    /// code, then a resident by ID number (created on first sign-in).
    async fn account_for(&self, store: &Store, claims: &Map<String, Value>) -> Result<i64> {
        let config = &self.config;
        let staff_login = claim_str(claims, &config.staff_login_claim)?;
        let mut conn = store.pool().acquire().await?;
        if let Some(login) = staff_login
            && let Some((id, disabled)) = super::account_of_kind(&mut conn, AccountKind::Staff, login).await?
        {
            return if disabled { Err(OidcError::Disabled) } else { Ok(id) };
        }
        if let Some(claim) = &config.credit_code_claim
            && let Some(code) = claim_str(claims, claim)?
        {
            let code: CreditCode = parse_claim(claim, code)?;
            return match super::account_of_kind(&mut conn, AccountKind::Enterprise, code.as_str()).await? {
                Some((_, true)) => Err(OidcError::Disabled),
                Some((id, false)) => Ok(id),
                None => Err(OidcError::UnknownEnterprise),
            };
        }
        if let Some(id_number) = claim_str(claims, &config.id_number_claim)? {
            let id_number: ResidentIdNumber = parse_claim(&config.id_number_claim, id_number)?;
            if let Some((id, disabled)) =
                super::account_of_kind(&mut conn, AccountKind::Resident, id_number.as_str()).await?
            {
                return if disabled { Err(OidcError::Disabled) } else { Ok(id) };
            }
            drop(conn);
            return self.create_resident(store, claims, id_number).await;
        }
        match staff_login {
            Some(login) => Err(OidcError::UnknownStaff { login: login.to_owned() }),
            None => Err(OidcError::NoIdentity),
        }
    }

    /// Creates the account of a resident the platform has verified, on their first sign-in.
    async fn create_resident(
        &self,
        store: &Store,
        claims: &Map<String, Value>,
        id_number: ResidentIdNumber,
    ) -> Result<i64> {
        let name_claim = &self.config.name_claim;
        let name =
            claim_str(claims, name_claim)?.ok_or_else(|| OidcError::MissingClaim { claim: name_claim.clone() })?;
        let mut tx = store.begin_write().await?;
        let region_code = match &self.config.resident_region {
            Some(code) => code.clone(),
            None => super::root_region(&mut tx).await?.ok_or(IdentityError::Rule {
                field: "region_code",
                code: "unknown_region",
                message: "尚未建立行政区划 / no region has been set up",
            })?,
        };
        let masked = id_number.masked();
        let input = NewResident { id_number: id_number.clone(), name: name.to_owned(), phone: None, region_code };
        match super::register_verified_resident(&mut tx, input).await {
            Ok((resident_id, account_id)) => {
                tx.commit().await?;
                tracing::info!(resident_id, id_number = %masked, "created a resident account on first sign-in through the identity platform");
                Ok(account_id)
            }
            // Two first sign-ins at once: the other one created it.
            Err(IdentityError::Duplicate { .. }) => {
                drop(tx);
                let mut conn = store.pool().acquire().await?;
                match super::account_of_kind(&mut conn, AccountKind::Resident, id_number.as_str()).await? {
                    Some((id, false)) => Ok(id),
                    Some((_, true)) => Err(OidcError::Disabled),
                    None => Err(IdentityError::Duplicate { field: "id_number" }.into()),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The discovery document (with the JWKS), fetched once.
    async fn metadata(&self) -> Result<Arc<CoreProviderMetadata>> {
        if let Some(metadata) = self.provider.read().await.as_ref() {
            return Ok(metadata.clone());
        }
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| OidcError::Unreachable(format!("discovery: {e}")))?;
        let metadata = Arc::new(metadata);
        *self.provider.write().await = Some(metadata.clone());
        Ok(metadata)
    }

    /// Fetches the JWKS again after a token named a key it lacks; false when it was fetched again
    /// too recently to try once more.
    async fn refetch_jwks(&self, metadata: &CoreProviderMetadata) -> Result<bool> {
        {
            let mut fetched = self.jwks_refetched.lock().unwrap_or_else(|e| e.into_inner());
            if fetched.is_some_and(|at| at.elapsed() < JWKS_REFRESH_EVERY) {
                return Ok(false);
            }
            *fetched = Some(Instant::now());
        }
        let jwks = JsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.http)
            .await
            .map_err(|e| OidcError::Unreachable(format!("JWKS: {e}")))?;
        let renewed = Arc::new(metadata.clone().set_jwks(jwks));
        *self.provider.write().await = Some(renewed);
        tracing::info!("fetched the identity platform's signing keys again");
        Ok(true)
    }

    fn client(&self, metadata: &CoreProviderMetadata) -> CityClient {
        CityClient::from_provider_metadata(
            metadata.clone(),
            ClientId::new(self.config.client_id.clone()),
            Some(ClientSecret::new(self.config.client_secret.expose_secret().to_owned())),
        )
        .set_redirect_uri(self.redirect.clone())
    }
}

/// The check an ID token failed, by the claim at fault.
fn invalid_token(error: ClaimsVerificationError) -> OidcError {
    let claim = match &error {
        ClaimsVerificationError::Expired(_) => Some("exp"),
        ClaimsVerificationError::InvalidAudience(_) => Some("aud"),
        ClaimsVerificationError::InvalidIssuer(_) => Some("iss"),
        ClaimsVerificationError::InvalidNonce(_) => Some("nonce"),
        ClaimsVerificationError::InvalidSubject(_) => Some("sub"),
        _ => None,
    };
    OidcError::InvalidToken { claim, detail: error.to_string() }
}

/// A claim's text; `None` when absent or empty.
fn claim_str<'a>(claims: &'a Map<String, Value>, claim: &str) -> Result<Option<&'a str>> {
    match claims.get(claim) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim())),
        Some(_) => Err(OidcError::InvalidClaim {
            claim: claim.to_owned(),
            source: InvalidIdentifier { code: "invalid_claim", message: "应为文本 / must be a string".into() },
        }),
    }
}

fn parse_claim<T: std::str::FromStr<Err = InvalidIdentifier>>(claim: &str, value: &str) -> Result<T> {
    value.parse().map_err(|source| OidcError::InvalidClaim { claim: claim.to_owned(), source })
}
