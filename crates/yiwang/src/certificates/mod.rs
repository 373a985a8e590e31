//! E-certificates (电子证照): a catalogue of types, certificates issued on approval with a GB/T
//! 36904 identifier and the issuer's Ed25519 signature (a C2SP signed note over the certificate's
//! body, checkable offline with the issuer's verifier key), revocation and expiry, a wallet for
//! holders, showing one (亮证) as a QR code, public verification, and a log of every use by a
//! department, which the holder sees. Verification always checks the signature and, online, the
//! revocation state: a screenshot is not a certificate.
//!
//! Errors are [`CertificateError`]; `http::error` maps them.

pub mod api;
pub mod model;
pub mod pages;
mod store;

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::Serialize;
use yiwang_ledger::{SignerKey, VerifierKey, open_note, sign_note};

use crate::identity::{Principal, Role};
use crate::ledger::{self, LedgerError};
use crate::store::{Conn, Store, WriteTx, from_ms, now_ms, outbox};
use model::{BODY_FORMAT, CertificateBody};

#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("certificate key: {0}")]
    Key(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

type Result<T> = std::result::Result<T, CertificateError>;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> CertificateError {
    CertificateError::Invalid { field: field.into(), message: message.into() }
}

/// The SM2 distinguishing identifier: the default of GM/T 0009.
pub const SM2_DISTID: &str = "1234567812345678";

/// The keys that sign certificates, created on first start: Ed25519 (`DATA_DIR/certificate.key`,
/// for the signed note a QR code carries) and SM2 with SM3 (`DATA_DIR/certificate-sm2.key`, the
/// national-standard second signature over the same body).
pub struct Issuer {
    key: SignerKey,
    sm2: sm2::dsa::SigningKey,
    /// Serials reserved ahead per (type, issuer) for [`Issuer::sign_ahead`]: the next one and the
    /// end of the block.
    reserved: tokio::sync::Mutex<std::collections::HashMap<(String, String), (i64, i64)>>,
}

/// Serials [`Issuer::sign_ahead`] reserves at a time. A restart leaves the rest of a block unused:
/// serials stay unique and increasing, with gaps.
const SERIALS_RESERVED: i64 = 32;

fn sm2_key_file(path: &Path) -> std::result::Result<sm2::dsa::SigningKey, String> {
    let describe = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let bytes = hex::decode(text.trim()).map_err(|e| describe(&e))?;
            sm2::dsa::SigningKey::from_slice(SM2_DISTID, &bytes).map_err(|e| describe(&e))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => loop {
            let mut secret = [0u8; 32];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut secret);
            // A random 256-bit value is a valid scalar but for a vanishing few; draw again then.
            if let Ok(key) = sm2::dsa::SigningKey::from_slice(SM2_DISTID, &secret) {
                ledger::write_private(path, &hex::encode(secret)).map_err(|e| describe(&e))?;
                break Ok(key);
            }
        },
        Err(e) => Err(describe(&e)),
    }
}

impl Issuer {
    pub fn load_or_create(data_dir: &Path, name: &str) -> Result<Issuer> {
        let key = ledger::key_file(&data_dir.join("certificate.key"), name).map_err(CertificateError::Key)?;
        let sm2 = sm2_key_file(&data_dir.join("certificate-sm2.key")).map_err(CertificateError::Key)?;
        Ok(Issuer { key, sm2, reserved: Default::default() })
    }

    pub fn verifier_key(&self) -> VerifierKey {
        self.key.verifier_key()
    }

    /// The SM2 public key, uncompressed SEC1, hex.
    pub fn sm2_public_key(&self) -> String {
        hex::encode(self.sm2.verifying_key().to_sec1_bytes())
    }

    /// Numbers and signs a certificate before the write that records it, for a decision known
    /// before the write (instant approval): the database's single writer then never waits for a
    /// signature. The serial comes from a block reserved in its own small write.
    pub async fn sign_ahead(&self, store: &Store, prepared: Prepared) -> Result<Signed> {
        let key = (prepared.type_code.clone(), prepared.issuer_code.clone());
        let serial = {
            let mut reserved = self.reserved.lock().await;
            let block = reserved.entry(key.clone()).or_insert((1, 0));
            if block.0 > block.1 {
                let (type_code, issuer_code) = key;
                let last = store
                    .write(move |tx| {
                        Box::pin(
                            async move { store::reserve_serials(tx, &type_code, &issuer_code, SERIALS_RESERVED).await },
                        )
                    })
                    .await?;
                *block = (last - SERIALS_RESERVED + 1, last);
            }
            block.0 += 1;
            block.0 - 1
        };
        self.signed(prepared, serial)
    }

    /// The certificate numbered `serial`, its body signed.
    fn signed(&self, prepared: Prepared, serial: i64) -> Result<Signed> {
        let id = model::identifier(&prepared.type_code, &prepared.issuer_code, serial, 1)
            .ok_or_else(|| invalid("type_code", "证照类型代码只能含字母数字 / letters and digits only"))?;
        let issued_at = Utc::now();
        let expires_at = prepared.validity_days.map(|d| issued_at + chrono::TimeDelta::days(d));
        let body = CertificateBody {
            format: BODY_FORMAT.into(),
            id: id.clone(),
            type_code: prepared.type_code.clone(),
            type_name: prepared.type_name,
            issuer_code: prepared.issuer_code,
            issuer_name: prepared.issuer_name,
            holder_code_type: prepared.holder_code_type,
            holder_code: prepared.holder_code,
            holder_name: prepared.holder_name,
            data: prepared.data,
            issued_at,
            expires_at,
        };
        let (note, sm2_signature) = self.sign(&body)?;
        Ok(Signed {
            id,
            type_code: prepared.type_code,
            holder_account_id: prepared.holder_account_id,
            note,
            sm2_signature,
            issued_at,
            expires_at,
        })
    }

    /// The signed note and the SM2 signature (hex) over the same body text.
    fn sign(&self, body: &CertificateBody) -> Result<(String, String)> {
        let text = format!("{}\n", serde_json::to_string(body).map_err(|e| CertificateError::Key(e.to_string()))?);
        let sm2: sm2::dsa::Signature = sm2::dsa::signature::Signer::sign(&self.sm2, text.as_bytes());
        Ok((sign_note(&text, self.key.name(), self.key.signing_key()), hex::encode(sm2.to_bytes())))
    }

    fn sm2_verifies(&self, text: &str, signature_hex: &str) -> bool {
        let Some(signature) = hex::decode(signature_hex).ok().and_then(|b| sm2::dsa::Signature::from_slice(&b).ok())
        else {
            return false;
        };
        sm2::dsa::signature::Verifier::verify(self.sm2.verifying_key(), text.as_bytes(), &signature).is_ok()
    }
}

/// How a signed note travels in a QR code or a link: base64url, no padding.
pub fn token(note: &str) -> String {
    URL_SAFE_NO_PAD.encode(note)
}

/// What a holder, a verifier or the issuing department sees of a certificate.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CertificateView {
    pub id: String,
    pub type_code: String,
    pub type_name: String,
    pub issuer_name: String,
    pub holder_name: String,
    #[schema(value_type = Object)]
    pub data: serde_json::Map<String, serde_json::Value>,
    pub issued_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// `valid`, `revoked` or `expired`.
    pub status: String,
    pub revoked_reason: Option<String>,
    /// The application whose approval issued it.
    pub application_number: Option<String>,
    /// The signed note (body and signature), as the QR code carries it.
    pub note: String,
    /// SM2 (SM3) signature over the note's body text, hex (distinguishing id 1234567812345678).
    pub sm2_signature: String,
}

fn status(row: &store::CertificateRow, now: i64) -> &'static str {
    if row.revoked_at.is_some() {
        "revoked"
    } else if row.expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "valid"
    }
}

fn view(row: store::CertificateRow) -> Result<CertificateView> {
    let body = body_of(&row.note)?;
    let status = status(&row, now_ms()).to_owned();
    Ok(CertificateView {
        id: row.id,
        type_code: row.type_code,
        type_name: row.type_name,
        issuer_name: body.issuer_name,
        holder_name: body.holder_name,
        data: body.data,
        issued_at: from_ms(row.issued_at),
        expires_at: row.expires_at.map(from_ms),
        status,
        revoked_reason: row.revoked_reason,
        application_number: row.application_number,
        note: row.note,
        sm2_signature: row.sm2_signature,
    })
}

/// The body of a stored note (the note was signed by us; its text is the body's JSON).
fn body_of(note: &str) -> Result<CertificateBody> {
    let text = note.split("\n\n").next().unwrap_or_default();
    serde_json::from_str(text).map_err(|e| CertificateError::Key(format!("stored certificate unreadable: {e}")))
}

/// A certificate ready to issue: everything it says but its identifier and time. Prepared from
/// reads before the write transaction, so the transaction only numbers, signs and stores it.
pub struct Prepared {
    type_code: String,
    type_name: String,
    issuer_code: String,
    issuer_name: String,
    validity_days: Option<i64>,
    holder_account_id: i64,
    holder_code_type: String,
    holder_code: String,
    holder_name: String,
    data: serde_json::Map<String, serde_json::Value>,
}

/// A certificate type as an issue needs it: the type and the name of its issuing department.
pub struct ResultType {
    certificate_type: store::TypeRow,
    issuer_name: String,
}

/// The certificate type an item's approval issues, if it issues one.
pub async fn result_type(conn: &mut Conn, item_basic_code: &str) -> Result<Option<ResultType>> {
    let Some(type_code) = store::result_type(conn, item_basic_code).await? else { return Ok(None) };
    let certificate_type = store::type_by_code(conn, &type_code).await?.ok_or(CertificateError::NotFound)?;
    Ok(Some(with_issuer(conn, certificate_type).await?))
}

async fn with_issuer(conn: &mut Conn, certificate_type: store::TypeRow) -> Result<ResultType> {
    let issuer_name = department_name(conn, &certificate_type.2).await?;
    Ok(ResultType { certificate_type, issuer_name })
}

/// The holder as a certificate names them: (holder code type, ID number or credit code, name).
pub type Holder = (String, String, String);

/// Prepares the certificate an approval issues to its holder, its fields taken from the
/// application's form.
pub fn prepare_result(
    result: &ResultType,
    holder_account_id: i64,
    holder: Holder,
    form: &serde_json::Value,
) -> Prepared {
    let fields: Vec<serde_json::Value> = serde_json::from_str(&result.certificate_type.4).unwrap_or_default();
    let data = fields
        .iter()
        .filter_map(|f| f["key"].as_str())
        .filter_map(|key| form.get(key).filter(|v| !v.is_null()).map(|v| (key.to_owned(), v.clone())))
        .collect();
    prepare(result, holder_account_id, holder, data)
}

fn prepare(
    result: &ResultType,
    holder_account_id: i64,
    holder: Holder,
    data: serde_json::Map<String, serde_json::Value>,
) -> Prepared {
    let (type_code, type_name, department_code, _, _, validity_days) = result.certificate_type.clone();
    let (holder_code_type, holder_code, holder_name) = holder;
    Prepared {
        type_code,
        type_name,
        issuer_code: department_code.chars().filter(char::is_ascii_alphanumeric).collect(),
        issuer_name: result.issuer_name.clone(),
        validity_days,
        holder_account_id,
        holder_code_type,
        holder_code,
        holder_name,
        data,
    }
}

/// A certificate numbered and signed, waiting for the write that records it.
pub struct Signed {
    id: String,
    type_code: String,
    holder_account_id: i64,
    note: String,
    sm2_signature: String,
    issued_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
}

/// A result certificate on its way into the write that delivers it: signed ahead where the
/// decision is known before the write ([`Issuer::sign_ahead`]), or numbered and signed in the
/// write where only the write decides (the last sign-off of a review).
pub enum Pending {
    Prepared(Prepared),
    Signed(Signed),
}

/// Issues a certificate in the caller's transaction: the row, an evidence leaf and an outbox
/// event; returns its identifier.
pub async fn issue(
    tx: &mut WriteTx,
    issuer: &Issuer,
    pending: Pending,
    application_number: Option<&str>,
    by: Option<i64>,
) -> Result<String> {
    let signed = match pending {
        Pending::Signed(signed) => signed,
        Pending::Prepared(prepared) => {
            let serial = store::next_serial(tx, &prepared.type_code, &prepared.issuer_code).await?;
            issuer.signed(prepared, serial)?
        }
    };
    let row = store::NewCertificate {
        id: &signed.id,
        type_code: &signed.type_code,
        holder_account_id: signed.holder_account_id,
        note: &signed.note,
        sm2_signature: &signed.sm2_signature,
        issued_at: signed.issued_at.timestamp_millis(),
        expires_at: signed.expires_at.map(|e| e.timestamp_millis()),
        application_number,
    };
    store::insert(tx, row).await?;
    ledger::append(
        tx,
        ledger::Entry {
            kind: "certificate.issued",
            subject: format!("certificate:{}", signed.id),
            actor: ledger::actor(by),
            payload: signed.note.as_bytes(),
        },
    )?;
    outbox::append(tx, "certificate.issued", &serde_json::json!({"id": signed.id, "type": signed.type_code}))?;
    Ok(signed.id)
}

async fn department_name(conn: &mut Conn, code: &str) -> Result<String> {
    Ok(store::department_name(conn, code).await?.unwrap_or_else(|| code.to_owned()))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CertificateType {
    pub code: String,
    pub name: String,
    pub department_code: String,
    /// `person` or `legal_person`.
    pub holder_type: String,
    /// `{key, label}` of each field.
    #[schema(value_type = Vec<Object>)]
    pub fields: serde_json::Value,
    /// How long a certificate is valid; none for no limit.
    pub validity_days: Option<i64>,
}

pub async fn types(store: &Store) -> Result<Vec<CertificateType>> {
    let rows = store::types(&mut *store.pool().acquire().await?).await?;
    Ok(rows
        .into_iter()
        .map(|(code, name, department_code, holder_type, fields, validity_days)| CertificateType {
            code,
            name,
            department_code,
            holder_type,
            fields: serde_json::from_str(&fields).unwrap_or_default(),
            validity_days,
        })
        .collect())
}

/// The holder's certificates, newest first.
pub async fn wallet(store: &Store, actor: &Principal) -> Result<Vec<CertificateView>> {
    let rows = store::select(&mut *store.pool().acquire().await?, None, Some(actor.account_id)).await?;
    rows.into_iter().map(view).collect()
}

/// Staff who answer for certificates of a department: its reviewers, and platform admins over it.
async fn answers_for(store: &Store, actor: &Principal, department_code: &str) -> Result<bool> {
    let admin = crate::identity::departments_reached(store, actor, Role::PlatformAdmin).await?;
    let reviewer = crate::identity::departments_held(store, actor, Role::Reviewer).await?;
    Ok(admin.contains(department_code) || reviewer.contains(department_code))
}

/// A certificate for its holder or the issuing department; `NotFound` for anyone else.
pub async fn get(store: &Store, actor: &Principal, id: &str) -> Result<CertificateView> {
    let row = store::select(&mut *store.pool().acquire().await?, Some(id), None)
        .await?
        .into_iter()
        .next()
        .ok_or(CertificateError::NotFound)?;
    if row.holder_account_id != actor.account_id && !answers_for(store, actor, &row.department_code).await? {
        return Err(CertificateError::NotFound);
    }
    view(row)
}

/// Revokes a certificate (the issuing department), with a reason; verification fails from then on.
pub async fn revoke(store: &Store, actor: &Principal, id: &str, reason: &str) -> Result<CertificateView> {
    let row = store::select(&mut *store.pool().acquire().await?, Some(id), None)
        .await?
        .into_iter()
        .next()
        .ok_or(CertificateError::NotFound)?;
    if !answers_for(store, actor, &row.department_code).await? {
        return Err(if row.holder_account_id == actor.account_id {
            CertificateError::Forbidden
        } else {
            CertificateError::NotFound
        });
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(invalid("reason", "请说明吊销原因（1-500字） / give the reason (1-500 characters)"));
    }
    let mut tx = store.begin_write().await?;
    if !store::revoke(&mut tx, id, reason, now_ms()).await? {
        return Err(invalid("id", "证照已被吊销 / already revoked"));
    }
    let payload = serde_json::json!({"id": id, "reason": reason});
    ledger::append(
        &mut tx,
        ledger::Entry {
            kind: "certificate.revoked",
            subject: format!("certificate:{id}"),
            actor: ledger::actor(Some(actor.account_id)),
            payload: payload.to_string().as_bytes(),
        },
    )?;
    outbox::append(&mut tx, "certificate.revoked", &payload)?;
    tx.commit().await?;
    get(store, actor, id).await
}

/// What a verification found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub valid: bool,
    /// Why it is not valid: `malformed`, `bad_signature`, `unknown`, `bad_sm2_signature`,
    /// `revoked` or `expired`.
    pub problem: Option<String>,
    /// The signed body, when the signature holds.
    pub certificate: Option<CertificateBody>,
}

fn refused(problem: &str, certificate: Option<CertificateBody>) -> Verification {
    Verification { valid: false, problem: Some(problem.to_owned()), certificate }
}

/// Checks a shown certificate (the token of its signed note): the signature against the issuer's
/// key, then, online, that it exists, is not revoked and has not expired.
pub async fn verify(store: &Store, issuer: &Issuer, token: &str) -> Result<Verification> {
    let Some(note) = URL_SAFE_NO_PAD.decode(token.trim()).ok().and_then(|b| String::from_utf8(b).ok()) else {
        return Ok(refused("malformed", None));
    };
    let Ok(text) = open_note(&note, &issuer.verifier_key()) else {
        return Ok(refused("bad_signature", None));
    };
    let Ok(body) = serde_json::from_str::<CertificateBody>(text.trim_end()) else {
        return Ok(refused("malformed", None));
    };
    let row = store::select(&mut *store.pool().acquire().await?, Some(&body.id), None).await?.into_iter().next();
    let Some(row) = row else { return Ok(refused("unknown", Some(body))) };
    if !issuer.sm2_verifies(text, &row.sm2_signature) {
        return Ok(refused("bad_sm2_signature", Some(body)));
    }
    match status(&row, now_ms()) {
        "valid" => Ok(Verification { valid: true, problem: None, certificate: Some(body) }),
        other => Ok(refused(other, Some(body))),
    }
}

/// Records the use of a certificate for an application (免证办), which its holder sees with the
/// reason (申请事由): only the holder's own, of the type the material allows, and valid now.
pub async fn use_for_application(
    tx: &mut WriteTx,
    certificate_id: &str,
    holder_account_id: i64,
    allowed_type_name: &str,
    department_code: &str,
    application_number: &str,
    reason: &str,
) -> Result<()> {
    let new = store::NewUse {
        certificate_id,
        holder_account_id,
        type_name: allowed_type_name,
        department_code,
        application_number: Some(application_number),
        reason,
    };
    if store::insert_use(tx, new, now_ms()).await? {
        return Ok(());
    }
    // Refused: read it to say why.
    let row = store::select(tx, Some(certificate_id), None).await?.into_iter().next();
    let row = row.filter(|r| r.holder_account_id == holder_account_id).ok_or(CertificateError::NotFound)?;
    if row.type_name != allowed_type_name {
        return Err(invalid(
            "certificate",
            format!("此材料只能用“{allowed_type_name}” / only a {allowed_type_name} will do"),
        ));
    }
    Err(invalid("certificate", "证照已吊销或过期 / revoked or expired"))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UseView {
    pub department_name: String,
    pub application_number: Option<String>,
    /// 申请事由: why it was used.
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// Every use of a certificate, for its holder.
pub async fn uses(store: &Store, actor: &Principal, id: &str) -> Result<Vec<UseView>> {
    let certificate = get(store, actor, id).await?;
    let rows = store::uses(&mut *store.pool().acquire().await?, &certificate.id).await?;
    Ok(rows
        .into_iter()
        .map(|(department_name, application_number, reason, at)| UseView {
            department_name,
            application_number,
            reason,
            at: from_ms(at),
        })
        .collect())
}

/// The demo certificate catalogue (type codes are illustrative, shaped like the national
/// catalogue's), which items' approvals issue which type, and an ID card for every demo resident
/// and a business licence for every demo enterprise.
pub async fn load_demo(tx: &mut WriteTx, issuer: &Issuer) -> Result<()> {
    let field = |pairs: &[(&str, &str)]| {
        serde_json::Value::from(
            pairs.iter().map(|(k, l)| serde_json::json!({"key": k, "label": l})).collect::<Vec<_>>(),
        )
        .to_string()
    };
    let types: Vec<store::TypeRow> = vec![
        (
            "11100000000013338W001".into(),
            "居民身份证".into(),
            "440400-GAJ".into(),
            "person".into(),
            field(&[("applicant_name", "姓名"), ("id_number", "公民身份号码")]),
            Some(20 * 365),
        ),
        (
            "11100000000013338W002".into(),
            "机动车行驶证".into(),
            "440400-GAJ".into(),
            "person".into(),
            field(&[("plate_no", "号牌号码"), ("plate_type", "车辆类型"), ("applicant_name", "所有人")]),
            None,
        ),
        (
            "11100000000018306B001".into(),
            "出生医学证明".into(),
            "440400-WJJ".into(),
            "person".into(),
            field(&[
                ("baby_name", "新生儿姓名"),
                ("baby_sex", "性别"),
                ("birth_time", "出生日期"),
                ("hospital", "接生机构"),
                ("mother_name", "母亲姓名"),
                ("father_name", "父亲姓名"),
            ]),
            None,
        ),
        (
            "11440400007021583B001".into(),
            "住房公积金提取核准通知书".into(),
            "440400-ZJJ".into(),
            "person".into(),
            field(&[("applicant_name", "缴存职工"), ("extract_mode", "提取方式"), ("rent_amount", "月租金（元）")]),
            Some(365),
        ),
        (
            "11100000000013127D001".into(),
            "高校毕业生报到登记凭证".into(),
            "440400-RSJ".into(),
            "person".into(),
            field(&[
                ("applicant_name", "姓名"),
                ("school", "毕业院校"),
                ("major", "专业"),
                ("education", "学历"),
                ("employer", "就业单位"),
            ]),
            None,
        ),
        (
            "11100000000013390T001".into(),
            "营业执照".into(),
            "440400-SCJ".into(),
            "legal_person".into(),
            field(&[("name", "名称"), ("legal_representative", "法定代表人")]),
            None,
        ),
    ];
    for t in &types {
        store::insert_type(tx, t).await?;
    }
    let named = |name: &str| types.iter().find(|t| t.1 == name).cloned().expect("a demo certificate type");
    let (id_card, business_licence) = (named("居民身份证"), named("营业执照"));
    let (id_card, business_licence) = (with_issuer(tx, id_card).await?, with_issuer(tx, business_licence).await?);
    // Item basic codes whose approval issues a certificate.
    for (basic_code, type_code) in [
        ("000105004000", "11100000000013338W001"),
        ("000105028000", "11100000000013338W002"),
        ("000201014000", "11100000000018306B001"),
        ("000113004000", "11440400007021583B001"),
        ("000110004000", "11100000000013127D001"),
    ] {
        store::insert_result(tx, basic_code, type_code).await?;
    }
    let residents: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT account_id, id_number, name FROM residents WHERE account_id IS NOT NULL ORDER BY id")
            .fetch_all(&mut **tx)
            .await?;
    for (account_id, id_number, name) in residents {
        let data = serde_json::json!({"applicant_name": name, "id_number": id_number});
        let holder = demo_holder(tx, account_id).await?;
        let prepared = prepare(&id_card, account_id, holder, data.as_object().cloned().unwrap_or_default());
        issue(tx, issuer, Pending::Prepared(prepared), None, None).await?;
    }
    let enterprises: Vec<(i64, String)> =
        sqlx::query_as("SELECT account_id, name FROM enterprises WHERE account_id IS NOT NULL ORDER BY id")
            .fetch_all(&mut **tx)
            .await?;
    for (account_id, name) in enterprises {
        let data = serde_json::json!({"name": name});
        let holder = demo_holder(tx, account_id).await?;
        let prepared = prepare(&business_licence, account_id, holder, data.as_object().cloned().unwrap_or_default());
        issue(tx, issuer, Pending::Prepared(prepared), None, None).await?;
    }
    Ok(())
}

async fn demo_holder(conn: &mut Conn, account_id: i64) -> Result<Holder> {
    store::holder_identity(conn, account_id).await?.ok_or_else(|| invalid("holder", "持证人不存在 / no such holder"))
}

/// The principal as a certificate names its holder, if it is a resident or an enterprise.
pub fn holder_of(principal: &Principal) -> Option<Holder> {
    let code_type = match principal.kind {
        crate::identity::AccountKind::Resident => "111",
        crate::identity::AccountKind::Enterprise => "001",
        crate::identity::AccountKind::Staff => return None,
    };
    principal.registered.clone().map(|(code, name)| (code_type.to_owned(), code, name))
}

/// The holder code type, code and name of an account: resident ID number or credit code.
pub async fn holder_identity(conn: &mut Conn, account_id: i64) -> Result<Option<(String, String, String)>> {
    Ok(store::holder_identity(conn, account_id).await?)
}
