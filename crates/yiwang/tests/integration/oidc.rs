//! Sign-in through the city's identity platform (OIDC) against a mock provider started in the test:
//! discovery, JWKS and a token endpoint that checks the client's secret and PKCE verifier and
//! answers with an ID token signed by a fixed test key (`tests/data/oidc_provider_key.pem`; the
//! keys under `tests/data/` are test fixtures, never used anywhere else). The test plays the
//! browser: it follows the redirect's parameters itself instead of an authorization page.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AdditionalClaims, Audience, IdToken, IdTokenClaims, IssuerUrl, JsonWebKeyId, JsonWebKeySet, Nonce,
    PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use yiwang::config::OidcConfig;

use crate::support::{PASSWORD, Session, TestApp, expect_error};

const CLIENT_ID: &str = "yiwang-test";
const CLIENT_SECRET: &str = "test-client-secret";
const PROVIDER_KEY: &str = include_str!("../data/oidc_provider_key.pem");
const OTHER_KEY: &str = include_str!("../data/oidc_other_key.pem");
/// A valid ID number that is not among the demo residents.
const NEW_RESIDENT_ID: &str = "440402199003071232";

fn key(pem: &str, kid: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new(kid.into()))).expect("test key")
}

/// Every claim besides the standard ones, as the test writes them.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct TestClaims(Map<String, Value>);
impl AdditionalClaims for TestClaims {}

type TestIdToken = IdToken<TestClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// A code the mock's token endpoint will redeem once: for the PKCE challenge it was issued with.
struct Grant {
    challenge: String,
    id_token: String,
}

struct Mock {
    base: String,
    published: Mutex<Vec<CoreJsonWebKey>>,
    grants: Mutex<HashMap<String, Grant>>,
}

struct Provider {
    mock: Arc<Mock>,
    task: tokio::task::JoinHandle<()>,
}

impl Provider {
    async fn start() -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let mock = Arc::new(Mock {
            base,
            published: Mutex::new(vec![key(PROVIDER_KEY, "k1").as_verification_key()]),
            grants: Mutex::new(HashMap::new()),
        });
        let router = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/token", post(token))
            .with_state(mock.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Provider { mock, task }
    }

    fn issuer(&self) -> &str {
        &self.mock.base
    }

    fn config(&self) -> OidcConfig {
        OidcConfig::for_tests(self.issuer(), CLIENT_ID, CLIENT_SECRET, "http://127.0.0.1")
    }

    /// Lets the token endpoint redeem `code` for `id_token`.
    fn grant(&self, code: &str, started: &Started, id_token: String) {
        let grant = Grant { challenge: started.param("code_challenge"), id_token };
        self.mock.grants.lock().unwrap().insert(code.into(), grant);
    }

    fn publish(&self, key: &CoreRsaPrivateSigningKey) {
        self.mock.published.lock().unwrap().push(key.as_verification_key());
    }

    /// An ID token for the sign-in `started`, signed by the provider's key, valid for 5 minutes.
    fn id_token(&self, started: &Started, claims: Value) -> String {
        TokenSpec::new(self, &started.param("nonce"), claims).sign()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn discovery(State(mock): State<Arc<Mock>>) -> Response {
    let base = &mock.base;
    axum::Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
    }))
    .into_response()
}

async fn jwks(State(mock): State<Arc<Mock>>) -> Response {
    axum::Json(JsonWebKeySet::new(mock.published.lock().unwrap().clone())).into_response()
}

fn token_error(error: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": error}))).into_response()
}

/// The token endpoint: client authentication, a known code, and the PKCE verifier that matches
/// the challenge the code was issued for.
async fn token(
    State(mock): State<Arc<Mock>>,
    headers: HeaderMap,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let expected = format!("Basic {}", STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"}))).into_response();
    }
    if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return token_error("unsupported_grant_type");
    }
    let Some(grant) = form.get("code").and_then(|code| mock.grants.lock().unwrap().remove(code)) else {
        return token_error("invalid_grant");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge {
        return token_error("invalid_grant");
    }
    axum::Json(json!({
        "access_token": "test-access-token",
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": grant.id_token,
    }))
    .into_response()
}

/// What goes into an ID token; the defaults are a good token for the sign-in.
struct TokenSpec {
    issuer: String,
    audience: String,
    nonce: String,
    lifetime_secs: i64,
    key: CoreRsaPrivateSigningKey,
    claims: Value,
}

impl TokenSpec {
    fn new(provider: &Provider, nonce: &str, claims: Value) -> TokenSpec {
        TokenSpec {
            issuer: provider.issuer().to_owned(),
            audience: CLIENT_ID.into(),
            nonce: nonce.into(),
            lifetime_secs: 300,
            key: key(PROVIDER_KEY, "k1"),
            claims,
        }
    }

    fn sign(self) -> String {
        let now = chrono::Utc::now();
        let Value::Object(extra) = self.claims else { panic!("claims must be an object") };
        let claims = IdTokenClaims::new(
            IssuerUrl::new(self.issuer).unwrap(),
            vec![Audience::new(self.audience)],
            now + chrono::Duration::seconds(self.lifetime_secs),
            now - chrono::Duration::seconds(60),
            StandardClaims::new(SubjectIdentifier::new("subject-1".into())),
            TestClaims(extra),
        )
        .set_nonce(Some(Nonce::new(self.nonce)));
        TestIdToken::new(claims, &self.key, CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, None, None)
            .expect("sign the ID token")
            .to_string()
    }
}

/// A sign-in started at yiwang: where it sent the browser.
struct Started {
    location: reqwest::Url,
}

impl Started {
    fn param(&self, name: &str) -> String {
        self.location
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {name} in {}", self.location))
    }
}

async fn start(session: &Session, path: &str) -> Started {
    let response = session.get(path).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path} redirects to the platform");
    let location = response.headers()[header::LOCATION].to_str().unwrap().to_owned();
    Started { location: location.parse().unwrap() }
}

async fn callback(session: &Session, code: &str, state: &str) -> reqwest::Response {
    session.get(&format!("/auth/oidc/callback?code={code}&state={state}")).await
}

/// Runs a whole sign-in for an ID token made from `spec` (given the sign-in's nonce).
async fn sign_in_with(
    session: &Session,
    provider: &Provider,
    code: &str,
    spec: impl FnOnce(&Started) -> String,
) -> reqwest::Response {
    let started = start(session, "/auth/oidc/login").await;
    provider.grant(code, &started, spec(&started));
    callback(session, code, &started.param("state")).await
}

/// A refusal page with this status and error code; no session was started.
async fn expect_refused(session: &Session, response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status().as_u16(), status, "status for {code}");
    let set_cookies: Vec<_> = response.headers().get_all(header::SET_COOKIE).iter().collect();
    assert!(
        !set_cookies.iter().any(|c| c.to_str().unwrap().starts_with("yiwang_session=")),
        "no session on a refusal: {set_cookies:?}"
    );
    let body = response.text().await.unwrap();
    assert!(body.contains(&format!("id=\"error-code\">{code}<")), "{code} in {body}");
    expect_error(session.get("/api/me").await, 401, "unauthenticated", None).await;
    body
}

async fn expect_signed_in(session: &Session, response: reqwest::Response, home: &str) -> Value {
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], home);
    let cookie = response.headers().get_all(header::SET_COOKIE).iter().map(|c| c.to_str().unwrap().to_owned());
    let session_cookie = cookie.into_iter().find(|c| c.starts_with("yiwang_session=")).expect("a session cookie");
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"), "{session_cookie}");
    let me = session.get("/api/me").await;
    assert_eq!(me.status(), StatusCode::OK);
    me.json().await.unwrap()
}

#[tokio::test]
async fn oidc_staff_sign_in_starts_a_local_session_with_local_roles() {
    let provider = Provider::start().await;
    let app = TestApp::demo_with(|c| c.oidc = Some(provider.config())).await;
    let browser = app.anonymous();

    let page = browser.get("/login").await.text().await.unwrap();
    assert!(page.contains("id=\"oidc-login\"") && page.contains("使用统一身份认证登录"), "the button: {page}");
    assert!(page.contains("id=\"login-form\""), "local sign-in remains");

    let started = start(&browser, "/auth/oidc/login?next=/services").await;
    assert!(started.location.as_str().starts_with(&format!("{}/authorize?", provider.issuer())));
    assert_eq!(started.param("response_type"), "code");
    assert_eq!(started.param("client_id"), CLIENT_ID);
    assert_eq!(started.param("redirect_uri"), "http://127.0.0.1/auth/oidc/callback");
    assert_eq!(started.param("code_challenge_method"), "S256");
    assert_eq!(started.param("scope"), "openid profile");
    let id_token = provider.id_token(&started, json!({"preferred_username": "clerk", "name": "李娜"}));
    provider.grant("code-staff", &started, id_token);
    let response = callback(&browser, "code-staff", &started.param("state")).await;
    let me = expect_signed_in(&browser, response, "/services").await;
    assert_eq!(me["kind"], "staff");
    assert_eq!(me["display_name"], "窗口 李娜", "the local account, not the token's name");
    assert_eq!(me["grants"][0]["role"], "window_clerk", "roles stay local");
    let home = browser.get("/").await.text().await.unwrap();
    assert!(home.contains("id=\"workbench-window_clerk\""), "the clerk's home page");

    // The session is an ordinary one: the same account as a password sign-in, the same CSRF rule,
    // and signing out is local.
    let by_password: Value = app.login("clerk").await.get("/api/me").await.json().await.unwrap();
    assert_eq!(by_password["account_id"], me["account_id"]);
    let csrf = home.split("name=\"csrf-token\" content=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
    let mut session = Session { client: browser.client.clone(), base: browser.base.clone(), csrf: "forged".into() };
    expect_error(session.post("/api/tokens", &json!({"name": "x"})).await, 400, "csrf_failed", Some("csrf_token"))
        .await;
    session.csrf = csrf.to_owned();
    assert_eq!(session.post("/api/tokens", &json!({"name": "x"})).await.status(), 201);
    assert_eq!(session.post("/api/auth/logout", &json!({})).await.status(), 204);
    expect_error(session.get("/api/me").await, 401, "unauthenticated", None).await;

    // `next` must be a path on this site.
    let started = start(&browser, "/auth/oidc/login?next=//evil.example/").await;
    let id_token = provider.id_token(&started, json!({"preferred_username": "reviewer"}));
    provider.grant("code-next", &started, id_token);
    let response = callback(&browser, "code-next", &started.param("state")).await;
    let me = expect_signed_in(&browser, response, "/").await;
    assert_eq!(me["grants"][0]["role"], "reviewer");
    app.stop().await;
}

#[tokio::test]
async fn oidc_resident_is_created_on_first_sign_in_and_reused_after() {
    let provider = Provider::start().await;
    let app = TestApp::demo_with(|c| c.oidc = Some(provider.config())).await;
    let claims = json!({"preferred_username": "wxm2024", "id_card_number": NEW_RESIDENT_ID, "name": "王小明"});

    let first = app.anonymous();
    let response = sign_in_with(&first, &provider, "code-r1", |s| provider.id_token(s, claims.clone())).await;
    let me = expect_signed_in(&first, response, "/").await;
    assert_eq!(me["kind"], "resident");
    assert_eq!(me["display_name"], "王小明");
    let resident_id = me["resident_id"].as_i64().expect("a resident record");
    assert_eq!(resident_id, app.resident_id(NEW_RESIDENT_ID).await);
    let own: Value = first.get(&format!("/api/residents/{resident_id}")).await.json().await.unwrap();
    assert_eq!(own["id_number"], NEW_RESIDENT_ID);
    assert_eq!(own["region_code"], "440400", "recorded under the city at the root of the tree");

    // The account has no password: only the platform signs it in.
    let by_password =
        app.anonymous().post("/api/auth/login", &json!({"login": NEW_RESIDENT_ID, "password": PASSWORD})).await;
    expect_error(by_password, 422, "bad_credentials", Some("password")).await;

    let second = app.anonymous();
    let response = sign_in_with(&second, &provider, "code-r2", |s| provider.id_token(s, claims.clone())).await;
    let again = expect_signed_in(&second, response, "/").await;
    assert_eq!(again["account_id"], me["account_id"], "the second sign-in reuses the account");
    let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM residents WHERE id_number = $1")
        .bind(NEW_RESIDENT_ID)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(count, 1);

    // A resident registered with a password signs in through the platform too, as themself.
    let (demo_id, demo_name, ..) = yiwang::demo::DEMO_RESIDENTS[0];
    let third = app.anonymous();
    let claims = json!({"id_card_number": demo_id, "name": "another name"});
    let response = sign_in_with(&third, &provider, "code-r3", |s| provider.id_token(s, claims)).await;
    let demo = expect_signed_in(&third, response, "/").await;
    assert_eq!(demo["display_name"], demo_name);
    assert_eq!(demo["resident_id"].as_i64().unwrap(), app.resident_id(demo_id).await);
    app.stop().await;
}

#[tokio::test]
async fn oidc_refuses_what_it_cannot_trust() {
    let provider = Provider::start().await;
    let app = TestApp::demo_with(|c| c.oidc = Some(provider.config())).await;
    let staff = json!({"preferred_username": "clerk"});

    // The answer to a sign-in started in another browser (login CSRF), or with no cookie at all.
    let browser = app.anonymous();
    let started = start(&browser, "/auth/oidc/login").await;
    provider.grant("code-a", &started, provider.id_token(&started, staff.clone()));
    let other = start(&app.anonymous(), "/auth/oidc/login").await;
    let response = callback(&browser, "code-a", &other.param("state")).await;
    expect_refused(&browser, response, 400, "oidc_state_mismatch").await;
    let stranger = app.anonymous();
    let response = callback(&stranger, "code-a", &started.param("state")).await;
    expect_refused(&stranger, response, 400, "oidc_state_mismatch").await;

    // A state is used once; one left pending too long has expired.
    let browser = app.anonymous();
    let started = start(&browser, "/auth/oidc/login").await;
    provider.grant("code-b", &started, provider.id_token(&started, staff.clone()));
    let state = started.param("state");
    expect_signed_in(&browser, callback(&browser, "code-b", &state).await, "/").await;
    let replay = app.anonymous();
    let jar_cookie = format!("yiwang_oidc_state={state}");
    let response = replay
        .client
        .get(app.url(&format!("/auth/oidc/callback?code=code-b&state={state}")))
        .header(header::COOKIE, jar_cookie)
        .send()
        .await
        .unwrap();
    expect_refused(&replay, response, 400, "oidc_login_expired").await;
    let browser = app.anonymous();
    let started = start(&browser, "/auth/oidc/login").await;
    provider.grant("code-c", &started, provider.id_token(&started, staff.clone()));
    sqlx::query("UPDATE oidc_logins SET expires_at = 0").execute(app.state.store.pool()).await.unwrap();
    let response = callback(&browser, "code-c", &started.param("state")).await;
    expect_refused(&browser, response, 400, "oidc_login_expired").await;

    // The platform's own refusal, and a code it does not know.
    let browser = app.anonymous();
    let started = start(&browser, "/auth/oidc/login").await;
    let state = started.param("state");
    let response = browser.get(&format!("/auth/oidc/callback?error=access_denied&state={state}")).await;
    expect_refused(&browser, response, 403, "oidc_access_denied").await;
    let browser = app.anonymous();
    let started = start(&browser, "/auth/oidc/login").await;
    let response = callback(&browser, "never-issued", &started.param("state")).await;
    let page = expect_refused(&browser, response, 400, "oidc_code_rejected").await;
    assert!(page.contains("invalid_grant"), "{page}");

    // ID tokens that fail a check: nonce, audience, expiry, signature, issuer.
    type Tweak = fn(&mut TokenSpec);
    let bad_tokens: [(&str, Tweak, &str); 5] = [
        ("code-nonce", |t| t.nonce = "another-sign-in".into(), "nonce"),
        ("code-aud", |t| t.audience = "another-client".into(), "aud"),
        ("code-exp", |t| t.lifetime_secs = -600, "exp"),
        ("code-key", |t| t.key = key(OTHER_KEY, "k1"), "signature"),
        ("code-iss", |t| t.issuer = "http://127.0.0.1:1/".into(), "iss"),
    ];
    for (code, tweak, check) in bad_tokens {
        let browser = app.anonymous();
        let response = sign_in_with(&browser, &provider, code, |started| {
            let mut spec = TokenSpec::new(&provider, &started.param("nonce"), staff.clone());
            tweak(&mut spec);
            spec.sign()
        })
        .await;
        let page = expect_refused(&browser, response, 403, "oidc_invalid_token").await;
        assert!(!page.contains("clerk"), "{check}: nothing of the token is shown");
    }

    // Tokens that are valid but name nobody yiwang may sign in.
    let refusals = [
        (json!({"preferred_username": "nobody"}), 403, "oidc_unknown_staff", "nobody"),
        (json!({"id_card_number": "440402199003071231", "name": "王小明"}), 422, "invalid_id_number", "id_card_number"),
        (json!({"id_card_number": NEW_RESIDENT_ID}), 422, "oidc_missing_claim", "name"),
        (json!({"email": "someone@example.org"}), 403, "oidc_no_identity", ""),
    ];
    for (n, (claims, status, code, named)) in refusals.into_iter().enumerate() {
        let browser = app.anonymous();
        let response =
            sign_in_with(&browser, &provider, &format!("code-who-{n}"), |s| provider.id_token(s, claims)).await;
        let page = expect_refused(&browser, response, status, code).await;
        assert!(page.contains(named), "{code} names {named}: {page}");
        assert!(!page.contains("440402199003071231"), "the ID number is not echoed");
    }
    app.stop().await;
}

#[tokio::test]
async fn oidc_keys_rotated_at_the_provider_are_fetched_again() {
    let provider = Provider::start().await;
    let app = TestApp::demo_with(|c| c.oidc = Some(provider.config())).await;
    let staff = json!({"preferred_username": "admin"});
    let browser = app.anonymous();
    let response = sign_in_with(&browser, &provider, "code-1", |s| provider.id_token(s, staff.clone())).await;
    expect_signed_in(&browser, response, "/").await;

    // The provider starts signing with a new key after yiwang cached its JWKS.
    let rotated = key(OTHER_KEY, "k2");
    provider.publish(&rotated);
    let browser = app.anonymous();
    let response = sign_in_with(&browser, &provider, "code-2", |started| {
        let mut spec = TokenSpec::new(&provider, &started.param("nonce"), staff.clone());
        spec.key = rotated;
        spec.sign()
    })
    .await;
    let me = expect_signed_in(&browser, response, "/").await;
    assert_eq!(me["grants"][0]["role"], "platform_admin");
    app.stop().await;
}

#[tokio::test]
async fn oidc_not_configured_answers_404() {
    let app = TestApp::demo().await;
    let browser = app.anonymous();
    let page = browser.get("/login").await.text().await.unwrap();
    assert!(!page.contains("oidc-login"), "no platform button without [oidc]");
    for path in ["/auth/oidc/login", "/auth/oidc/callback?code=a&state=b"] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(response.text().await.unwrap().contains("id=\"error-code\">not_found<"));
    }
    app.stop().await;
}
