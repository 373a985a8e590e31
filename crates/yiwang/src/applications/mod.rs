//! Applications (办件): a resident or enterprise applies for a published item, choosing the
//! situation, filling the item's form and supplying each material (a file, or for 免证办 their
//! consent to fetch it by data sharing). The window accepts or refuses it, may ask once for every
//! missing or wrong material (补正, pausing the clock), and the department decides. The time limit
//! counts the item's promised working days on the calendar from acceptance; a job raises yellow
//! at 80% and red when overdue. Every step records actor, time and reason, writes an evidence
//! leaf and an outbox event.
//!
//! Errors are [`ApplicationError`]; `http::error` maps them.

pub mod api;
pub mod files;
pub mod model;
mod store;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use yiwang_calendar::{Calendar, LimitClock, LimitUnit};

use crate::catalog::{self, CatalogError, model::Audience};
use crate::identity::{AccountKind, IdentityError, Principal, Role};
use crate::ledger::{self, LedgerError};
use crate::store::{Store, WriteTx, from_ms, now_ms, outbox};
use model::{Action, Party, State, SuppliedMaterial, Supply};

#[derive(Debug, thiserror::Error)]
pub enum ApplicationError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("not found")]
    NotFound,
    #[error("forbidden")]
    Forbidden,
    #[error("cannot {action} an application that is {state}")]
    WrongState { action: &'static str, state: &'static str },
    #[error("not a PDF, JPEG or PNG file")]
    UnsupportedFile,
    #[error("file storage: {0}")]
    Storage(#[from] std::io::Error),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Certificate(#[from] crate::certificates::CertificateError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

type Result<T> = std::result::Result<T, ApplicationError>;

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApplicationError {
    ApplicationError::Invalid { field: field.into(), message: message.into() }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MaterialView {
    pub material: String,
    /// `upload`, `certificate` or `shared_data`.
    pub source: String,
    pub sha256: Option<String>,
    pub certificate_id: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub action: String,
    pub from_state: Option<String>,
    pub to_state: String,
    /// Display name of who acted; none for the system.
    pub actor: Option<String>,
    pub at: DateTime<Utc>,
    pub reason: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Application {
    /// The human number: region code, date and daily sequence.
    pub number: String,
    pub item_code: String,
    pub item_name: String,
    pub item_version: i64,
    pub situation: String,
    pub department_code: String,
    pub department_name: String,
    pub state: State,
    #[schema(value_type = Object)]
    pub form: serde_json::Value,
    pub materials: Vec<MaterialView>,
    pub submitted_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// While the time limit runs: when it ends.
    pub deadline: Option<DateTime<Utc>>,
    /// Whether the time limit is paused for a supplement.
    pub clock_paused: bool,
    /// `none`, `yellow` (80% of the limit used) or `red` (overdue).
    pub alarm: String,
    pub events: Vec<EventView>,
    /// The e-certificates its approval issued.
    pub certificates: Vec<String>,
}

/// What an applicant submits.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewApplication {
    /// The item's implementation code.
    pub item: String,
    /// The situation (办理情形) code, e.g. `S1`.
    pub situation: String,
    #[schema(value_type = Object)]
    pub form: serde_json::Map<String, serde_json::Value>,
    pub materials: Vec<SuppliedMaterial>,
}

/// A step taken on an application.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct Step {
    /// Why: required to refuse, reject or ask for a supplement.
    #[serde(default)]
    pub reason: String,
    /// To reject: the legal basis of the decision.
    #[serde(default)]
    pub basis: String,
    /// To ask for a supplement: every missing or wrong material at once.
    #[serde(default)]
    pub supplement: Vec<SupplementItem>,
    /// To supplement: the materials supplied again.
    #[serde(default)]
    pub materials: Vec<SuppliedMaterial>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SupplementItem {
    /// The material's code.
    pub material: String,
    /// What is missing or wrong with it.
    pub problem: String,
}

/// The parties an actor is for an application.
fn parties(actor: &Principal, row: &store::ApplicationRow) -> Vec<Party> {
    let mut parties = Vec::new();
    if actor.account_id == row.applicant_id {
        parties.push(Party::Applicant);
    }
    let decides = actor.grants.iter().any(|g| g.role == Role::Reviewer && g.department_id == row.department_id);
    // The service hall's comprehensive window (综合窗口) takes applications for every department
    // of its region.
    if decides || actor.reaches_with(&row.region_path, Role::WindowClerk) {
        parties.push(Party::Window);
    }
    if decides {
        parties.push(Party::Decider);
    }
    parties
}

async fn row(store: &Store, number: &str) -> Result<store::ApplicationRow> {
    let mut conn = store.pool().acquire().await?;
    store::select(&mut conn, Some(number), None, None, 1, 0).await?.into_iter().next().ok_or(ApplicationError::NotFound)
}

/// The row, if the actor may see it; otherwise `NotFound`, which does not say it exists.
async fn visible_row(store: &Store, actor: &Principal, number: &str) -> Result<store::ApplicationRow> {
    let row = row(store, number).await?;
    if parties(actor, &row).is_empty() { Err(ApplicationError::NotFound) } else { Ok(row) }
}

async fn view(store: &Store, row: store::ApplicationRow) -> Result<Application> {
    let mut conn = store.pool().acquire().await?;
    let materials = store::materials(&mut conn, row.id)
        .await?
        .into_iter()
        .map(|(material, source, sha256, certificate_id)| MaterialView { material, source, sha256, certificate_id })
        .collect();
    let certificates = store::issued_certificates(&mut conn, &row.number).await?;
    let events = store::events(&mut conn, row.id)
        .await?
        .into_iter()
        .map(|(action, from_state, to_state, actor, at, reason, details)| EventView {
            action,
            from_state,
            to_state,
            actor,
            at: from_ms(at),
            reason,
            details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    let clock: Option<LimitClock> = row.clock.as_deref().and_then(|c| serde_json::from_str(c).ok());
    Ok(Application {
        number: row.number,
        item_code: row.item_code,
        item_name: row.item_name,
        item_version: row.item_version,
        situation: row.situation_code,
        department_code: row.department_code,
        department_name: row.department_name,
        state: State::parse(&row.state).unwrap_or(State::Submitted),
        form: serde_json::from_str(&row.form).unwrap_or(serde_json::Value::Null),
        materials,
        submitted_at: from_ms(row.submitted_at),
        updated_at: from_ms(row.updated_at),
        deadline: row.deadline_at.map(from_ms),
        clock_paused: clock.is_some_and(|c| c.is_paused()),
        alarm: row.alarm,
        events,
        certificates,
    })
}

/// Stores an uploaded file for its uploader; returns its SHA-256 and type.
pub async fn upload(
    store: &Store,
    data_dir: &std::path::Path,
    actor: &Principal,
    file_name: &str,
    bytes: Vec<u8>,
) -> Result<(String, &'static str)> {
    let content_type = files::sniff(&bytes).ok_or(ApplicationError::UnsupportedFile)?;
    let name: String = file_name.chars().filter(|c| !c.is_control()).take(200).collect();
    let size = bytes.len() as i64;
    let dir = data_dir.to_owned();
    let sha256 = tokio::task::spawn_blocking(move || files::store(&dir, &bytes))
        .await
        .map_err(|e| ApplicationError::Storage(std::io::Error::other(e)))??;
    let mut tx = store.begin_write().await?;
    store::insert_file(&mut tx, &sha256, actor.account_id, content_type, size, &name, now_ms()).await?;
    tx.commit().await?;
    Ok((sha256, content_type))
}

/// Checks that every uploaded material is a file the applicant uploaded.
async fn check_uploads(tx: &mut WriteTx, applicant: i64, materials: &[SuppliedMaterial]) -> Result<()> {
    for (i, supplied) in materials.iter().enumerate() {
        if let Supply::Upload { sha256 } = &supplied.supply
            && (!files::is_sha256(sha256) || store::file_of(tx, sha256, applicant).await?.is_none())
        {
            return Err(invalid(
                format!("materials[{i}].sha256"),
                "未找到您上传的该文件 / no such file uploaded by you",
            ));
        }
    }
    Ok(())
}

/// The application whose materials are saved, as certificate uses record it.
struct Applied<'a> {
    id: i64,
    number: &'a str,
    applicant: i64,
    item: &'a catalog::model::ItemDocument,
}

/// Saves how each material was supplied; an e-certificate's use is recorded for its holder to
/// see, with the reason (申请事由).
async fn save_materials(tx: &mut WriteTx, applied: &Applied<'_>, materials: &[SuppliedMaterial]) -> Result<()> {
    for (i, supplied) in materials.iter().enumerate() {
        let (source, sha256, certificate_id) = match &supplied.supply {
            Supply::Upload { sha256 } => ("upload", Some(sha256.as_str()), None),
            Supply::SharedData => ("shared_data", None, None),
            Supply::Certificate { id } => ("certificate", None, Some(id.as_str())),
        };
        if let Some(id) = certificate_id {
            let material = applied.item.materials.iter().find(|m| m.code == supplied.material);
            let allowed = material.and_then(model::certificate_type).unwrap_or_default();
            let reason = format!("办理“{}” / applying for {}", applied.item.name, applied.item.name);
            crate::certificates::use_for_application(
                tx,
                id,
                applied.applicant,
                allowed,
                &applied.item.department_code,
                applied.number,
                &reason,
            )
            .await
            .map_err(|e| match e {
                crate::certificates::CertificateError::NotFound => {
                    invalid(format!("materials[{i}].id"), "您没有此电子证照 / you hold no such e-certificate")
                }
                crate::certificates::CertificateError::Invalid { message, .. } => {
                    invalid(format!("materials[{i}].id"), message)
                }
                other => other.into(),
            })?;
        }
        let row = store::MaterialRow { code: &supplied.material, source, sha256, certificate_id };
        store::set_material(tx, applied.id, row).await?;
    }
    Ok(())
}

fn record(
    tx: &mut WriteTx,
    number: &str,
    kind: &'static str,
    actor: Option<i64>,
    event: &serde_json::Value,
) -> Result<()> {
    let payload = serde_json::to_vec(event).map_err(|e| ApplicationError::Storage(std::io::Error::other(e)))?;
    ledger::append(
        tx,
        ledger::Entry {
            kind,
            subject: format!("application:{number}"),
            actor: ledger::actor(actor),
            payload: &payload,
        },
    )?;
    Ok(())
}

fn china_today() -> chrono::NaiveDate {
    (Utc::now() + chrono::TimeDelta::hours(8)).date_naive()
}

/// Submits an application for a published item.
pub async fn submit(store: &Store, actor: &Principal, new: NewApplication) -> Result<Application> {
    let audience = match actor.kind {
        AccountKind::Resident => Audience::Person,
        AccountKind::Enterprise => Audience::LegalPerson,
        AccountKind::Staff => return Err(ApplicationError::Forbidden),
    };
    let (item, version) = catalog::published(store, &new.item).await.map_err(|e| match e {
        CatalogError::NotFound => invalid("item", "没有此事项 / no such item"),
        other => other.into(),
    })?;
    if !item.audiences.contains(&audience) {
        return Err(invalid("item", "该事项不面向您这类申请人 / this item is not for your kind of applicant"));
    }
    if let Some(problem) = model::check(&item, &new.situation, &new.form, &new.materials).into_iter().next() {
        return Err(invalid(problem.field, problem.message));
    }
    let mut tx = store.begin_write().await?;
    check_uploads(&mut tx, actor.account_id, &new.materials).await?;
    let (department_id, region_code) =
        crate::identity::department_region(&mut tx, &item.department_code).await?.ok_or(ApplicationError::NotFound)?;
    let today = china_today();
    let sequence = store::next_sequence(&mut tx, &region_code, &today.format("%Y%m%d").to_string()).await?;
    let number = model::number(&region_code, today, sequence);
    let form = serde_json::Value::Object(new.form).to_string();
    let now = now_ms();
    let id = store::insert(
        &mut tx,
        store::NewApplication {
            number: &number,
            item_code: &item.implementation_code,
            item_version: version,
            item_name: &item.name,
            situation_code: &new.situation,
            department_id,
            applicant_id: actor.account_id,
            form: &form,
        },
        now,
    )
    .await?;
    let applied = Applied { id, number: &number, applicant: actor.account_id, item: &item };
    save_materials(&mut tx, &applied, &new.materials).await?;
    let event = store::NewEvent {
        action: "submit",
        from_state: None,
        to_state: State::Submitted.as_str(),
        actor_id: Some(actor.account_id),
        reason: "",
        details: "{}",
    };
    store::insert_event(&mut tx, id, event, now).await?;
    let payload = serde_json::json!({"number": number, "item": item.implementation_code, "version": version,
        "situation": new.situation, "form": form, "materials": new.materials});
    record(&mut tx, &number, "application.submitted", Some(actor.account_id), &payload)?;
    outbox::append(&mut tx, "application.submitted", &serde_json::json!({"number": number})).await?;
    tx.commit().await?;
    view(store, row(store, &number).await?).await
}

pub async fn get(store: &Store, actor: &Principal, number: &str) -> Result<Application> {
    view(store, visible_row(store, actor, number).await?).await
}

/// The actor's own applications, or (staff) a department's, newest first.
pub async fn list(
    store: &Store,
    actor: &Principal,
    department: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Vec<Application>> {
    let rows = {
        let mut conn = store.pool().acquire().await?;
        match (actor.kind, department) {
            (AccountKind::Staff, Some(code)) => store::select(&mut conn, None, None, Some(code), limit, offset).await?,
            (AccountKind::Staff, None) => return Err(invalid("department", "请指定部门 / name the department")),
            (_, _) => store::select(&mut conn, None, Some(actor.account_id), None, limit, offset).await?,
        }
    };
    let mut views = Vec::new();
    for row in rows {
        if actor.kind == AccountKind::Staff && !parties(actor, &row).contains(&Party::Window) {
            return Err(ApplicationError::Forbidden);
        }
        views.push(view(store, row).await?);
    }
    Ok(views)
}

fn text(field: &str, value: &str, required: bool) -> Result<String> {
    let value = value.trim();
    if required && value.is_empty() {
        return Err(invalid(field, "必填 / required"));
    }
    if value.chars().count() > 1000 {
        return Err(invalid(field, "不超过1000字 / at most 1000 characters"));
    }
    Ok(value.to_owned())
}

/// Takes a step on an application and returns it as it now is.
pub async fn act(
    store: &Store,
    calendar: &Calendar,
    issuer: &crate::certificates::Issuer,
    actor: &Principal,
    number: &str,
    action: Action,
    step: Step,
) -> Result<Application> {
    let row = visible_row(store, actor, number).await?;
    if !parties(actor, &row).contains(&action.party()) {
        return Err(ApplicationError::Forbidden);
    }
    let state = State::parse(&row.state).unwrap_or(State::Submitted);
    let resume = row.resume_state.as_deref().and_then(State::parse);
    let next = action
        .next(state, resume)
        .ok_or(ApplicationError::WrongState { action: action.as_str(), state: state.as_str() })?;
    let reason = text("reason", &step.reason, action.needs_reason())?;
    let mut details = serde_json::Map::new();
    let item = catalog::version(store, &row.item_code, row.item_version).await?;
    match action {
        Action::Reject => {
            details.insert("basis".into(), text("basis", &step.basis, true)?.into());
        }
        Action::RequestSupplement => {
            if step.supplement.is_empty() {
                return Err(invalid("supplement", "一次性列出所有需补正的材料 / list every material to supplement"));
            }
            for (i, wanted) in step.supplement.iter().enumerate() {
                if !model::materials_for(&item, &row.situation_code).any(|m| m.code == wanted.material) {
                    return Err(invalid(
                        format!("supplement[{i}].material"),
                        "此情形没有该材料 / not a material of this situation",
                    ));
                }
                text(&format!("supplement[{i}].problem"), &wanted.problem, true)?;
            }
            details.insert("supplement".into(), serde_json::to_value(&step.supplement).unwrap_or_default());
        }
        Action::Supplement => {
            if step.materials.is_empty() {
                return Err(invalid("materials", "请提供补正的材料 / supply the materials asked for"));
            }
            let needed: Vec<&catalog::model::Material> = model::materials_for(&item, &row.situation_code).collect();
            for (i, supplied) in step.materials.iter().enumerate() {
                let Some(material) = needed.iter().find(|m| m.code == supplied.material) else {
                    return Err(invalid(
                        format!("materials[{i}].material"),
                        "此情形没有该材料 / not a material of this situation",
                    ));
                };
                if supplied.supply == Supply::SharedData && !model::shareable(material) {
                    return Err(invalid(format!("materials[{i}].source"), "该材料不能通过数据共享获取 / upload it"));
                }
            }
            details.insert("materials".into(), serde_json::to_value(&step.materials).unwrap_or_default());
        }
        _ => {}
    }

    // The time limit: started at acceptance, paused for a supplement, stopped by a decision.
    let now = Utc::now();
    let mut clock: Option<LimitClock> = row.clock.as_deref().and_then(|c| serde_json::from_str(c).ok());
    match action {
        Action::Accept => clock = Some(LimitClock::start(now, LimitUnit::WorkingDays(item.promised_limit_days))),
        Action::RequestSupplement => {
            if let Some(c) = clock.as_mut() {
                c.pause(now).map_err(|e| invalid("clock", e.to_string()))?;
            }
        }
        Action::Supplement => {
            if let Some(c) = clock.as_mut().filter(|c| c.is_paused()) {
                c.resume(now).map_err(|e| invalid("clock", e.to_string()))?;
            }
        }
        _ => {}
    }
    let running = next == State::Accepted;
    let deadline_at =
        clock.as_ref().filter(|_| running).and_then(|c| c.deadline(calendar)).map(|d| d.timestamp_millis());
    let clock_json = clock.as_ref().and_then(|c| serde_json::to_string(c).ok());
    let resume_state = match action {
        Action::RequestSupplement => Some(state.as_str()),
        _ => None,
    };
    let details = serde_json::Value::Object(details);

    let mut tx = store.begin_write().await?;
    if action == Action::Supplement {
        check_uploads(&mut tx, row.applicant_id, &step.materials).await?;
        let applied = Applied { id: row.id, number: &row.number, applicant: row.applicant_id, item: &item };
        save_materials(&mut tx, &applied, &step.materials).await?;
    }
    let transition = store::Transition {
        state: next.as_str(),
        resume_state,
        clock: clock_json.as_deref(),
        deadline_at,
        alarm: if running { &row.alarm } else { "none" },
    };
    let now_ms = now.timestamp_millis();
    if !store::transition(&mut tx, row.id, &row.state, transition, now_ms).await? {
        return Err(ApplicationError::WrongState { action: action.as_str(), state: state.as_str() });
    }
    let details_text = details.to_string();
    let event = store::NewEvent {
        action: action.as_str(),
        from_state: Some(state.as_str()),
        to_state: next.as_str(),
        actor_id: Some(actor.account_id),
        reason: &reason,
        details: &details_text,
    };
    store::insert_event(&mut tx, row.id, event, now_ms).await?;
    let payload = serde_json::json!({"number": row.number, "action": action.as_str(), "from": state.as_str(),
        "to": next.as_str(), "reason": reason, "details": details});
    let kind = match action {
        Action::Accept => "application.accepted",
        Action::Refuse => "application.refused",
        Action::RequestSupplement => "application.supplement_requested",
        Action::Supplement => "application.supplemented",
        Action::Approve => "application.approved",
        Action::Reject => "application.rejected",
        Action::Complete => "application.completed",
        Action::Withdraw => "application.withdrawn",
    };
    record(&mut tx, &row.number, kind, Some(actor.account_id), &payload)?;
    outbox::append(&mut tx, kind, &serde_json::json!({"number": row.number, "state": next.as_str()})).await?;
    if action == Action::Approve {
        let form: serde_json::Value = serde_json::from_str(&row.form).unwrap_or_default();
        crate::certificates::issue_for_approval(
            &mut tx,
            issuer,
            &item.basic_code,
            row.applicant_id,
            &form,
            &row.number,
            Some(actor.account_id),
        )
        .await?;
    }
    tx.commit().await?;
    view(store, self::row(store, number).await?).await
}

/// The alarm an application whose clock runs should show now.
fn alarm_for(clock: &LimitClock, calendar: &Calendar, now: DateTime<Utc>) -> &'static str {
    match clock.deadline(calendar) {
        Some(deadline) if now > deadline => "red",
        Some(_) if clock.elapsed_fraction(calendar, now) >= 0.8 => "yellow",
        _ => "none",
    }
}

/// Raises yellow and red alarms on running applications (a job, not page loads); returns how
/// many changed.
pub async fn raise_alarms(store: &Store, calendar: &Calendar, now: DateTime<Utc>) -> Result<usize> {
    let running = store::running(&mut *store.pool().acquire().await?).await?;
    let changes: Vec<(i64, &'static str)> = running
        .into_iter()
        .filter_map(|(id, clock, alarm)| {
            let clock: LimitClock = serde_json::from_str(&clock).ok()?;
            let now_alarm = alarm_for(&clock, calendar, now);
            (now_alarm != alarm).then_some((id, now_alarm))
        })
        .collect();
    if changes.is_empty() {
        return Ok(0);
    }
    let mut tx = store.begin_write().await?;
    for (id, alarm) in &changes {
        store::set_alarm(&mut tx, *id, alarm).await?;
        outbox::append(&mut tx, "application.alarm", &serde_json::json!({"id": id, "alarm": alarm})).await?;
    }
    tx.commit().await?;
    Ok(changes.len())
}

/// A receipt for the application's latest step, checkable offline.
pub async fn receipt(
    store: &Store,
    signer: &ledger::Signer,
    actor: &Principal,
    number: &str,
) -> Result<ledger::Receipt> {
    let row = visible_row(store, actor, number).await?;
    let leaves = ledger::leaves_about(store, &format!("application:{}", row.number)).await?;
    let last = leaves.into_iter().max().ok_or(ApplicationError::NotFound)?;
    Ok(ledger::receipt(store, signer, last).await?)
}

/// A material's file, for the applicant and the staff handling the application.
pub async fn material_file(
    store: &Store,
    data_dir: &std::path::Path,
    actor: &Principal,
    number: &str,
    material: &str,
) -> Result<(String, Vec<u8>)> {
    let row = visible_row(store, actor, number).await?;
    let mut conn = store.pool().acquire().await?;
    let sha256 = store::materials(&mut conn, row.id)
        .await?
        .into_iter()
        .find(|(code, ..)| code == material)
        .and_then(|(_, _, sha256, _)| sha256)
        .ok_or(ApplicationError::NotFound)?;
    let (content_type, _) =
        store::file_of(&mut conn, &sha256, row.applicant_id).await?.ok_or(ApplicationError::NotFound)?;
    let bytes = files::read(data_dir, &sha256).map_err(|_| ApplicationError::NotFound)?;
    Ok((content_type, bytes))
}
