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
pub mod instant;
pub mod model;
pub mod pages;
pub mod rules_api;
pub mod rules_pages;
mod store;
pub mod workflow;
pub mod workflow_api;
pub mod workflow_pages;

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
    /// The instant decision (秒批), when the item has a rule: which rule decided and why.
    pub decision: Option<instant::Decision>,
    /// The review steps and where the application stands in them.
    pub review: workflow::Review,
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
    /// To return: the index of the earlier review step to go back to.
    #[serde(default)]
    pub to_step: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SupplementItem {
    /// The material's code.
    pub material: String,
    /// What is missing or wrong with it.
    pub problem: String,
}

/// What an actor may do with an application.
struct Access {
    parties: Vec<Party>,
    /// The department of the current review step the actor decides for, if any.
    deciding_for: Option<String>,
    /// Whether the actor reviews any step of the workflow (and so may read the application).
    reviews: bool,
    steps: Vec<workflow::ReviewStep>,
}

async fn access(store: &Store, actor: &Principal, row: &store::ApplicationRow) -> Result<Access> {
    let mut conn = store.pool().acquire().await?;
    let steps = workflow::steps(&mut conn, &row.item_code, &row.department_code).await?;
    let mut parties = Vec::new();
    if actor.account_id == row.applicant_id {
        parties.push(Party::Applicant);
    }
    let own_reviewer = actor.grants.iter().any(|g| g.role == Role::Reviewer && g.department_id == row.department_id);
    // The service hall's comprehensive window (综合窗口) takes applications for every department
    // of its region.
    if own_reviewer || actor.reaches_with(&row.region_path, Role::WindowClerk) {
        parties.push(Party::Window);
    }
    let mut departments: Vec<String> = steps.iter().flat_map(|s| s.departments.iter().cloned()).collect();
    departments.sort();
    departments.dedup();
    let reviewed = workflow::reviewing_for(&mut conn, actor, &departments).await?;
    let current = steps.get(row.review_step as usize).map(|s| s.departments.as_slice()).unwrap_or_default();
    let deciding_for = current.iter().find(|d| reviewed.contains(d)).cloned();
    if deciding_for.is_some() {
        parties.push(Party::Decider);
    }
    Ok(Access { parties, deciding_for, reviews: !reviewed.is_empty(), steps })
}

async fn row(store: &Store, number: &str) -> Result<store::ApplicationRow> {
    let mut conn = store.pool().acquire().await?;
    store::select(&mut conn, Some(number), None, None, 1, 0).await?.into_iter().next().ok_or(ApplicationError::NotFound)
}

/// The row, if the actor may see it; otherwise `NotFound`, which does not say it exists.
async fn visible_row(store: &Store, actor: &Principal, number: &str) -> Result<(store::ApplicationRow, Access)> {
    let row = row(store, number).await?;
    let access = access(store, actor, &row).await?;
    if access.parties.is_empty() && !access.reviews { Err(ApplicationError::NotFound) } else { Ok((row, access)) }
}

async fn view(store: &Store, row: store::ApplicationRow) -> Result<Application> {
    let mut conn = store.pool().acquire().await?;
    let materials = store::materials(&mut conn, row.id)
        .await?
        .into_iter()
        .map(|(material, source, sha256, certificate_id)| MaterialView { material, source, sha256, certificate_id })
        .collect();
    let certificates = store::issued_certificates(&mut conn, &row.number).await?;
    let decision = instant::recorded(&mut conn, row.id).await?;
    let steps = workflow::steps(&mut conn, &row.item_code, &row.department_code).await?;
    let review = workflow::review(&mut conn, row.id, row.review_step as usize, steps).await?;
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
        decision,
        review,
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

/// (content type, size in bytes) of a file the account uploaded, if it did.
pub async fn uploaded_file(
    conn: &mut crate::store::Conn,
    sha256: &str,
    account_id: i64,
) -> Result<Option<(String, i64)>> {
    if !files::is_sha256(sha256) {
        return Ok(None);
    }
    Ok(store::file_type_and_size(conn, sha256, account_id).await?)
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

fn china_day(now: DateTime<Utc>) -> chrono::NaiveDate {
    (now + chrono::TimeDelta::hours(8)).date_naive()
}

/// What taking steps needs besides the database: the calendar time limits count on, the key that
/// signs result certificates, and the time.
pub struct Deciding<'a> {
    pub calendar: std::sync::Arc<Calendar>,
    pub issuer: &'a crate::certificates::Issuer,
    pub now: DateTime<Utc>,
}

impl<'a> Deciding<'a> {
    /// The app's calendar, issuer and clock, as a request finds them.
    pub fn now(state: &'a crate::AppState) -> Self {
        Deciding { calendar: state.calendar.get(), issuer: &state.issuer, now: state.clock.now() }
    }
}

/// What an applicant is told they may do against an automated rejection (行政许可法 Art. 38).
pub const REMEDY: &str = "如不服本决定，可自收到决定之日起六十日内依法申请行政复议，或者六个月内依法提起行政诉讼。";

/// Submits an application for a published item; where a rule is in force it is decided at once.
pub async fn submit(store: &Store, at: &Deciding<'_>, actor: &Principal, new: NewApplication) -> Result<Application> {
    let (calendar, issuer, now) = (at.calendar.as_ref(), at.issuer, at.now);
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
    let today = china_day(now);
    let sequence = store::next_sequence(&mut tx, &region_code, &today.format("%Y%m%d").to_string()).await?;
    let number = model::number(&region_code, today, sequence);
    let form = serde_json::Value::Object(new.form.clone()).to_string();
    let now_ms = now.timestamp_millis();
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
        now_ms,
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
    store::insert_event(&mut tx, id, event, now_ms).await?;
    let payload = serde_json::json!({"number": number, "item": item.implementation_code, "version": version,
        "situation": new.situation, "form": form, "materials": new.materials});
    record(&mut tx, &number, "application.submitted", Some(actor.account_id), &payload)?;
    outbox::append(&mut tx, "application.submitted", &serde_json::json!({"number": number})).await?;

    let subject = crate::certificates::holder_identity(&mut tx, actor.account_id).await?.map(|(_, code, _)| code);
    let certificates = new
        .materials
        .iter()
        .filter(|m| matches!(m.supply, Supply::Certificate { .. }))
        .filter_map(|m| item.materials.iter().find(|x| x.code == m.material))
        .filter_map(model::certificate_type)
        .map(str::to_owned)
        .collect();
    let asked = instant::Asked {
        application_id: id,
        item_code: &item.implementation_code,
        situation: &new.situation,
        form: &new.form,
        subject: subject.as_deref().unwrap_or_default(),
        certificates,
    };
    if let Some(decision) = instant::decide(&mut tx, asked).await? {
        let mut moving = Moving {
            id,
            number: &number,
            applicant_id: actor.account_id,
            form: &form,
            item: &item,
            state: State::Submitted,
            resume: None,
            clock: None,
            alarm: "none".into(),
            now,
        };
        let rule = serde_json::json!({"rule_version": decision.rule_version, "rule_id": decision.rule_id,
            "inputs_hash": decision.inputs_hash});
        let system = |action, reason: &'static str| Taken { action, reason, details: rule.clone(), actor: None };
        match decision.outcome.as_str() {
            "approve" => {
                moving.take(&mut tx, calendar, issuer, system(Action::Accept, "秒批：即时受理")).await?;
                let approve =
                    Taken { action: Action::Approve, reason: &decision.reason, details: rule.clone(), actor: None };
                moving.take(&mut tx, calendar, issuer, approve).await?;
                moving
                    .take(
                        &mut tx,
                        calendar,
                        issuer,
                        system(Action::Complete, "结果已电子送达 / delivered electronically"),
                    )
                    .await?;
            }
            "reject" => {
                moving.take(&mut tx, calendar, issuer, system(Action::Accept, "秒批：即时受理")).await?;
                let basis = decision.evaluation["output"]["basis"].as_str().unwrap_or_default().to_owned();
                let mut details = rule.clone();
                details["basis"] = basis.into();
                details["remedy"] = REMEDY.into();
                let reject = Taken { action: Action::Reject, reason: &decision.reason, details, actor: None };
                moving.take(&mut tx, calendar, issuer, reject).await?;
            }
            _ => {}
        }
    }
    tx.commit().await?;
    view(store, row(store, &number).await?).await
}

pub async fn get(store: &Store, actor: &Principal, number: &str) -> Result<Application> {
    view(store, visible_row(store, actor, number).await?.0).await
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
        if actor.kind == AccountKind::Staff {
            let access = access(store, actor, &row).await?;
            if !access.parties.contains(&Party::Window) && !access.reviews {
                return Err(ApplicationError::Forbidden);
            }
        }
        views.push(view(store, row).await?);
    }
    Ok(views)
}

/// Staff's workbench: the open applications of every department they handle (the window of a
/// region, the reviewers of a department), those whose time runs out first at the top.
pub async fn workbench(store: &Store, actor: &Principal) -> Result<Vec<Application>> {
    let mut departments = crate::identity::departments_reached(store, actor, Role::WindowClerk).await?;
    departments.extend(crate::identity::departments_held(store, actor, Role::Reviewer).await?);
    let mut rows = Vec::new();
    {
        let mut conn = store.pool().acquire().await?;
        for code in &departments {
            rows.extend(store::select(&mut conn, None, None, Some(code), 200, 0).await?);
        }
    }
    rows.retain(|r| State::parse(&r.state).is_some_and(|s| !s.is_closed()));
    rows.sort_by_key(|r| (r.deadline_at.is_none(), r.deadline_at, r.submitted_at));
    let mut views = Vec::with_capacity(rows.len());
    for row in rows.into_iter().take(200) {
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
    at: &Deciding<'_>,
    actor: &Principal,
    number: &str,
    action: Action,
    step: Step,
) -> Result<Application> {
    let (calendar, issuer, now) = (at.calendar.as_ref(), at.issuer, at.now);
    let (row, access) = visible_row(store, actor, number).await?;
    if !access.parties.contains(&action.party()) {
        return Err(ApplicationError::Forbidden);
    }
    let state = State::parse(&row.state).unwrap_or(State::Submitted);
    let resume = row.resume_state.as_deref().and_then(State::parse);
    // Checked before the step's fields, so a step that cannot apply says so first.
    if action.next(state, resume).is_none() {
        return Err(ApplicationError::WrongState { action: action.as_str(), state: state.as_str() });
    }
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

    let mut tx = store.begin_write().await?;
    if action == Action::Supplement {
        check_uploads(&mut tx, row.applicant_id, &step.materials).await?;
        let applied = Applied { id: row.id, number: &row.number, applicant: row.applicant_id, item: &item };
        save_materials(&mut tx, &applied, &step.materials).await?;
    }
    let mut moving = Moving::from_row(&row, &item, now);
    let current = row.review_step as usize;
    let last = current + 1 >= access.steps.len();
    let by = Some(actor.account_id);
    match action {
        Action::Return => {
            let to = step
                .to_step
                .filter(|to| *to < current)
                .ok_or_else(|| invalid("to_step", "只能退回到之前的环节 / return to an earlier step"))?;
            workflow::go_to(&mut tx, row.id, to).await?;
            details.insert("to_step".into(), to.into());
            let taken = Taken { action, reason: &reason, details: serde_json::Value::Object(details), actor: by };
            moving.note(&mut tx, taken).await?;
        }
        Action::Approve => {
            let department = access.deciding_for.clone().ok_or(ApplicationError::Forbidden)?;
            let here = &access.steps[current.min(access.steps.len() - 1)];
            workflow::sign(&mut tx, row.id, current, &department, actor.account_id).await?;
            let signed = workflow::signed(&mut tx, row.id, current).await?;
            let step_done = !here.all || here.departments.iter().all(|d| signed.contains(d));
            details.insert("step".into(), current.into());
            details.insert("department".into(), department.into());
            let taken = Taken { action, reason: &reason, details: serde_json::Value::Object(details), actor: by };
            if step_done && last {
                moving.take(&mut tx, calendar, issuer, taken).await?;
            } else {
                if step_done {
                    workflow::go_to(&mut tx, row.id, current + 1).await?;
                }
                moving.note(&mut tx, taken).await?;
            }
        }
        _ => {
            let taken = Taken { action, reason: &reason, details: serde_json::Value::Object(details), actor: by };
            moving.take(&mut tx, calendar, issuer, taken).await?;
        }
    }
    tx.commit().await?;
    view(store, self::row(store, number).await?).await
}

/// An application being moved within a transaction.
struct Moving<'a> {
    id: i64,
    number: &'a str,
    applicant_id: i64,
    form: &'a str,
    item: &'a catalog::model::ItemDocument,
    state: State,
    resume: Option<State>,
    clock: Option<LimitClock>,
    alarm: String,
    /// When the steps are taken.
    now: DateTime<Utc>,
}

/// One step, with who took it (`None`: the system, for an instant decision) and why.
struct Taken<'a> {
    action: Action,
    reason: &'a str,
    details: serde_json::Value,
    actor: Option<i64>,
}

impl<'a> Moving<'a> {
    fn from_row(row: &'a store::ApplicationRow, item: &'a catalog::model::ItemDocument, now: DateTime<Utc>) -> Self {
        Moving {
            id: row.id,
            number: &row.number,
            applicant_id: row.applicant_id,
            form: &row.form,
            item,
            state: State::parse(&row.state).unwrap_or(State::Submitted),
            resume: row.resume_state.as_deref().and_then(State::parse),
            clock: row.clock.as_deref().and_then(|c| serde_json::from_str(c).ok()),
            alarm: row.alarm.clone(),
            now,
        }
    }

    /// Records a step that keeps the state: a sign-off within a review step (会签), or a return to
    /// an earlier step.
    async fn note(&mut self, tx: &mut WriteTx, step: Taken<'_>) -> Result<()> {
        let Taken { action, reason, details, actor } = step;
        let (label, kind) = match action {
            Action::Return => ("return", "application.returned"),
            _ => ("sign_off", "application.signed_off"),
        };
        let details_text = details.to_string();
        let event = store::NewEvent {
            action: label,
            from_state: Some(self.state.as_str()),
            to_state: self.state.as_str(),
            actor_id: actor,
            reason,
            details: &details_text,
        };
        store::insert_event(tx, self.id, event, self.now.timestamp_millis()).await?;
        let payload = serde_json::json!({"number": self.number, "action": label, "reason": reason, "details": details});
        record(tx, self.number, kind, actor, &payload)?;
        outbox::append(tx, kind, &serde_json::json!({"number": self.number})).await?;
        Ok(())
    }

    /// Takes a step: the clock (started at acceptance, paused for a supplement, stopped by a
    /// decision), the state, the event, the evidence leaf, the outbox event and, on approval, the
    /// item's certificate. A concurrent step that moved the application first wins.
    async fn take(
        &mut self,
        tx: &mut WriteTx,
        calendar: &Calendar,
        issuer: &crate::certificates::Issuer,
        step: Taken<'_>,
    ) -> Result<()> {
        let Taken { action, reason, details, actor } = step;
        let from = self.state;
        let next = action
            .next(from, self.resume)
            .ok_or(ApplicationError::WrongState { action: action.as_str(), state: from.as_str() })?;
        let now = self.now;
        match action {
            Action::Accept => {
                self.clock = Some(LimitClock::start(now, LimitUnit::WorkingDays(self.item.promised_limit_days)))
            }
            Action::RequestSupplement => {
                if let Some(c) = self.clock.as_mut() {
                    c.pause(now).map_err(|e| invalid("clock", e.to_string()))?;
                }
            }
            Action::Supplement => {
                if let Some(c) = self.clock.as_mut().filter(|c| c.is_paused()) {
                    c.resume(now).map_err(|e| invalid("clock", e.to_string()))?;
                }
            }
            _ => {}
        }
        let running = next == State::Accepted;
        let deadline_at =
            self.clock.as_ref().filter(|_| running).and_then(|c| c.deadline(calendar)).map(|d| d.timestamp_millis());
        let clock_json = self.clock.as_ref().and_then(|c| serde_json::to_string(c).ok());
        let resume_state = (action == Action::RequestSupplement).then_some(from.as_str());
        let alarm = if running { self.alarm.clone() } else { "none".to_owned() };
        let transition = store::Transition {
            state: next.as_str(),
            resume_state,
            clock: clock_json.as_deref(),
            deadline_at,
            alarm: &alarm,
        };
        let now_ms = now.timestamp_millis();
        if !store::transition(tx, self.id, from.as_str(), transition, now_ms).await? {
            return Err(ApplicationError::WrongState { action: action.as_str(), state: from.as_str() });
        }
        let details_text = details.to_string();
        let event = store::NewEvent {
            action: action.as_str(),
            from_state: Some(from.as_str()),
            to_state: next.as_str(),
            actor_id: actor,
            reason,
            details: &details_text,
        };
        store::insert_event(tx, self.id, event, now_ms).await?;
        let kind = match action {
            Action::Accept => "application.accepted",
            Action::Refuse => "application.refused",
            Action::RequestSupplement => "application.supplement_requested",
            Action::Supplement => "application.supplemented",
            Action::Approve => "application.approved",
            Action::Reject => "application.rejected",
            Action::Complete => "application.completed",
            Action::Withdraw => "application.withdrawn",
            Action::Return => "application.returned",
        };
        let payload = serde_json::json!({"number": self.number, "action": action.as_str(), "from": from.as_str(),
            "to": next.as_str(), "reason": reason, "details": details});
        record(tx, self.number, kind, actor, &payload)?;
        outbox::append(tx, kind, &serde_json::json!({"number": self.number, "state": next.as_str()})).await?;
        if action == Action::Approve {
            let form: serde_json::Value = serde_json::from_str(self.form).unwrap_or_default();
            crate::certificates::issue_for_approval(
                tx,
                issuer,
                &self.item.basic_code,
                self.applicant_id,
                &form,
                self.number,
                actor,
            )
            .await?;
        }
        self.state = next;
        self.resume = if action == Action::RequestSupplement { Some(from) } else { None };
        self.alarm = alarm;
        Ok(())
    }
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
    let (row, _) = visible_row(store, actor, number).await?;
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
    let (row, _) = visible_row(store, actor, number).await?;
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
