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
pub mod context;
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

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use yiwang_calendar::{Calendar, LimitClock, LimitUnit};

use crate::catalog::{self, CatalogError, model::Audience};
use crate::identity::{AccountKind, IdentityError, Principal, Role};
use crate::ledger::{self, LedgerError};
use crate::store::{Conn, Store, WriteTx, from_ms, now_ms, outbox};
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
    /// Finding, for an item, where its facts are kept; boxed, as the exchange's errors are large.
    #[error(transparent)]
    Exchange(Box<crate::exchange::ExchangeError>),
    #[error(transparent)]
    Evaluation(#[from] crate::evaluation::EvaluationError),
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

/// Checks that each uploaded material is a file the applicant uploaded, before anything is
/// written. (Certificates are checked as their use is recorded.)
async fn check_uploads(conn: &mut Conn, applicant: i64, materials: &[SuppliedMaterial]) -> Result<()> {
    for (i, supplied) in materials.iter().enumerate() {
        if let Supply::Upload { sha256 } = &supplied.supply
            && (!files::is_sha256(sha256) || store::file_of(conn, sha256, applicant).await?.is_none())
        {
            return Err(invalid(
                format!("materials[{i}].sha256"),
                "未找到您上传的该文件 / no such file uploaded by you",
            ));
        }
    }
    Ok(())
}

fn certificate_problem(i: usize, error: crate::certificates::CertificateError) -> ApplicationError {
    match error {
        crate::certificates::CertificateError::NotFound => {
            invalid(format!("materials[{i}].id"), "您没有此电子证照 / you hold no such e-certificate")
        }
        crate::certificates::CertificateError::Invalid { message, .. } => {
            invalid(format!("materials[{i}].id"), message)
        }
        other => other.into(),
    }
}

/// Saves how each material was supplied; an e-certificate's use is checked and recorded for its
/// holder to see, with the reason (申请事由).
async fn save_materials(
    tx: &mut WriteTx,
    application: (i64, &str),
    applicant: i64,
    item: &catalog::model::ItemDocument,
    materials: &[SuppliedMaterial],
) -> Result<()> {
    let (id, number) = application;
    let mut rows: Vec<store::MaterialRow> = Vec::with_capacity(materials.len());
    for (i, supplied) in materials.iter().enumerate() {
        let (source, sha256, certificate_id) = match &supplied.supply {
            Supply::Upload { sha256 } => ("upload", Some(sha256.as_str()), None),
            Supply::SharedData => ("shared_data", None, None),
            Supply::Certificate { id } => ("certificate", None, Some(id.as_str())),
        };
        if let Some(certificate) = certificate_id {
            let material = item.materials.iter().find(|m| m.code == supplied.material);
            let allowed = material.and_then(model::certificate_type).unwrap_or_default();
            let reason = format!("办理“{}” / applying for {}", item.name, item.name);
            crate::certificates::use_for_application(
                tx,
                certificate,
                applicant,
                allowed,
                &item.department_code,
                number,
                &reason,
            )
            .await
            .map_err(|e| certificate_problem(i, e))?;
        }
        // A material supplied twice counts as its last supply.
        rows.retain(|r| r.code != supplied.material);
        rows.push(store::MaterialRow { code: &supplied.material, source, sha256, certificate_id });
    }
    store::set_materials(tx, id, &rows).await?;
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
/// signs result certificates, what is known of items, the data-exchange gateway, and the time.
pub struct Deciding {
    pub calendar: Arc<Calendar>,
    pub issuer: Arc<crate::certificates::Issuer>,
    pub items: context::ItemContexts,
    /// The gateway instant approval looks facts up through.
    pub exchange: crate::exchange::Exchange,
    pub now: DateTime<Utc>,
}

impl Deciding {
    /// The app's calendar, issuer, item contexts and clock, as a request finds them.
    pub fn now(state: &crate::AppState) -> Self {
        Deciding {
            calendar: state.calendar.get(),
            issuer: state.issuer.clone(),
            items: state.items.clone(),
            exchange: state.exchange.clone(),
            now: state.clock.now(),
        }
    }
}

/// What an applicant is told they may do against an automated rejection (行政许可法 Art. 38).
pub const REMEDY: &str = "如不服本决定，可自收到决定之日起六十日内依法申请行政复议，或者六个月内依法提起行政诉讼。";

/// Submits an application for a published item; where a rule is in force it is decided at once.
///
/// Everything that only reads (the materials' checks, the rule and the facts it decides on, the
/// certificate an approval issues) happens before the write, which then shares a transaction
/// with concurrent submissions (group commit); the answer is built from what was written.
pub async fn submit(store: &Store, at: &Deciding, actor: &Principal, new: NewApplication) -> Result<Application> {
    let audience = match actor.kind {
        AccountKind::Resident => Audience::Person,
        AccountKind::Enterprise => Audience::LegalPerson,
        AccountKind::Staff => return Err(ApplicationError::Forbidden),
    };
    let context = at.items.get(store, &new.item).await.map_err(|e| match e {
        ApplicationError::Catalog(CatalogError::NotFound) => invalid("item", "没有此事项 / no such item"),
        other => other,
    })?;
    let (item, version) = (&context.item, context.version);
    if !item.audiences.contains(&audience) {
        return Err(invalid("item", "该事项不面向您这类申请人 / this item is not for your kind of applicant"));
    }
    if let Some(problem) = model::check(item, &new.situation, &new.form, &new.materials).into_iter().next() {
        return Err(invalid(problem.field, problem.message));
    }
    let form = serde_json::Value::Object(new.form.clone());
    let (supplied, situation_code) = (new.materials.clone(), new.situation.clone());
    if new.materials.iter().any(|m| matches!(m.supply, Supply::Upload { .. })) {
        check_uploads(&mut *store.pool().acquire().await?, actor.account_id, &new.materials).await?;
    }
    let holder = crate::certificates::holder_of(actor);
    let rule = context.rule(&new.situation);
    let (facts, lookups) = match (rule, &holder) {
        (Some(_), Some((_, subject, _))) => look_up_facts(store, &at.exchange, &context, subject).await,
        _ => (serde_json::Map::new(), Vec::new()),
    };
    let certificates = new
        .materials
        .iter()
        .filter(|m| matches!(m.supply, Supply::Certificate { .. }))
        .filter_map(|m| item.materials.iter().find(|x| x.code == m.material))
        .filter_map(model::certificate_type)
        .map(str::to_owned)
        .collect();
    let asked = instant::Asked {
        item_code: &item.implementation_code,
        situation: &new.situation,
        form: &new.form,
        facts,
        certificates,
    };
    let decision = instant::decide(rule, asked);
    let certificate = match (&decision, &context.result, holder) {
        (Some(d), Some(result), Some(holder)) if d.outcome == "approve" => {
            let prepared = crate::certificates::prepare_result(result, actor.account_id, holder, &form);
            Some(crate::certificates::Pending::Signed(at.issuer.sign_ahead(store, prepared).await?))
        }
        _ => None,
    };
    let steps = context.steps.clone();
    let (department_id, region_code, department_name, region_path) = context.department.clone();
    let now = at.now;
    let now_ms = now.timestamp_millis();
    let form_text = form.to_string();
    let applicant = (actor.account_id, actor.display_name.clone());
    let (calendar, issuer) = (at.calendar.clone(), at.issuer.clone());
    let written_context = context.clone();
    let written_decision = decision.clone();
    let served_by = (department_name.clone(), region_path);
    let (number, moving) = store
        .write(move |tx| {
            Box::pin(async move {
                let (item, decision) = (&written_context.item, written_decision);
                let today = china_day(now);
                let sequence = store::next_sequence(tx, &region_code, &today.format("%Y%m%d").to_string()).await?;
                let number = model::number(&region_code, today, sequence);
                let mut moving = Moving::new(&number, applicant.0, item, State::Submitted, now);
                let payload = serde_json::json!({"number": number, "item": item.implementation_code, "version": version,
                    "situation": new.situation, "form": form_text, "materials": new.materials});
                moving.submitted(tx, &payload)?;
                if let Some(decision) = &decision {
                    decide_at_once(tx, &mut moving, &calendar, decision, certificate)?;
                }
                let application = store::NewApplication {
                    number: &number,
                    item_code: &item.implementation_code,
                    item_version: version,
                    item_name: &item.name,
                    situation_code: &new.situation,
                    department_id,
                    applicant_id: applicant.0,
                    form: &form_text,
                };
                let written = moving.save(tx, &issuer, Saving::New(application)).await?;
                save_materials(tx, (written.id, &number), applicant.0, item, &new.materials).await?;
                if let Some(decision) = &decision {
                    instant::record(tx, written.id, &item.implementation_code, &new.situation, decision);
                }
                crate::exchange::gateway::log_in(tx, &lookups)
                    .await
                    .map_err(|e| ApplicationError::Exchange(Box::new(e)))?;
                if written.state == State::Completed {
                    // Decided and delivered at once: a service its applicant may now rate (好差评).
                    let served = crate::evaluation::Served {
                        kind: crate::evaluation::model::EventKind::Application,
                        reference: &number,
                        item_code: &item.implementation_code,
                        item_name: &item.name,
                        department_id,
                        staff_id: None,
                        requester_id: Some(applicant.0),
                        at: now,
                    };
                    let department = (item.department_code.as_str(), served_by.0.as_str(), served_by.1.as_str());
                    crate::evaluation::served_by(tx, served, department).await?;
                }
                Ok::<_, ApplicationError>((number, written))
            })
        })
        .await?;
    let events = moving
        .events
        .into_iter()
        .map(|e| EventView {
            action: e.action.to_owned(),
            from_state: e.from.map(|s| s.as_str().to_owned()),
            to_state: e.to.as_str().to_owned(),
            actor: e.actor.map(|_| actor.display_name.clone()),
            at: from_ms(now_ms),
            reason: e.reason,
            details: serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    let review = workflow::Review {
        current: 0,
        steps: steps
            .into_iter()
            .map(|s| workflow::StepView { name: s.name, departments: s.departments, all: s.all, signed: Vec::new() })
            .collect(),
    };
    Ok(Application {
        number,
        item_code: item.implementation_code.clone(),
        item_name: item.name.clone(),
        item_version: version,
        situation: situation_code,
        department_code: item.department_code.clone(),
        department_name,
        state: moving.state,
        form,
        materials: material_views(&supplied),
        submitted_at: from_ms(now_ms),
        updated_at: from_ms(now_ms),
        deadline: moving.deadline_at.map(from_ms),
        clock_paused: moving.clock.is_some_and(|c| c.is_paused()),
        alarm: moving.alarm,
        events,
        certificates: moving.certificates,
        decision,
        review,
    })
}

/// What the base registers say of the applicant, looked up through the data-exchange gateway as
/// the instant-approval app, one lookup per resource holding facts the item's rules read; with
/// each lookup's call record, which the submission's transaction logs. A lookup the gateway
/// refuses (no grant, say) leaves its facts unknown: the rule then sends the application to staff.
async fn look_up_facts(
    store: &Store,
    exchange: &crate::exchange::Exchange,
    context: &context::ItemContext,
    subject: &str,
) -> (serde_json::Map<String, serde_json::Value>, Vec<crate::exchange::gateway::CallRecord>) {
    let Some(app) = context.facts_app else {
        return (serde_json::Map::new(), Vec::new());
    };
    let reason = format!("秒批核验：办理“{}” / instant approval of {}", context.item.name, context.item.name);
    let lookups = context
        .fact_sources
        .iter()
        .map(|resource| exchange.lookup_logged_by_caller(store, app, resource, subject, &reason));
    let mut facts = serde_json::Map::new();
    let mut calls = Vec::new();
    for ((answer, call), resource) in
        futures_util::future::join_all(lookups).await.into_iter().zip(&context.fact_sources)
    {
        match answer {
            Ok(Some(record)) => facts.extend(record),
            Ok(None) => {}
            Err(e) => tracing::warn!(resource = %resource, error = %e, "an instant-approval lookup was refused"),
        }
        calls.extend(call);
    }
    (facts, calls)
}

/// The materials as stored: one per code (the last supply of it), in code order.
fn material_views(supplied: &[SuppliedMaterial]) -> Vec<MaterialView> {
    let mut views: Vec<MaterialView> = Vec::with_capacity(supplied.len());
    for m in supplied {
        views.retain(|v| v.material != m.material);
        let (source, sha256, certificate_id) = match &m.supply {
            Supply::Upload { sha256 } => ("upload", Some(sha256.clone()), None),
            Supply::SharedData => ("shared_data", None, None),
            Supply::Certificate { id } => ("certificate", None, Some(id.clone())),
        };
        views.push(MaterialView { material: m.material.clone(), source: source.into(), sha256, certificate_id });
    }
    views.sort_by(|a, b| a.material.cmp(&b.material));
    views
}

/// Takes the steps an instant decision calls for: accept, then approve and complete (with the
/// item's certificate), or reject with the basis and the remedy.
fn decide_at_once(
    tx: &mut WriteTx,
    moving: &mut Moving<'_>,
    calendar: &Calendar,
    decision: &instant::Decision,
    certificate: Option<crate::certificates::Pending>,
) -> Result<()> {
    let rule = serde_json::json!({"rule_version": decision.rule_version, "rule_id": decision.rule_id,
        "inputs_hash": decision.inputs_hash});
    let system = |action, reason: &str| Taken { action, reason: reason.to_owned(), details: rule.clone(), actor: None };
    match decision.outcome.as_str() {
        "approve" => {
            moving.certificate = certificate;
            moving.take(tx, calendar, system(Action::Accept, "秒批：即时受理"))?;
            moving.take(tx, calendar, system(Action::Approve, &decision.reason))?;
            moving.take(tx, calendar, system(Action::Complete, "结果已电子送达 / delivered electronically"))?;
        }
        "reject" => {
            moving.take(tx, calendar, system(Action::Accept, "秒批：即时受理"))?;
            let basis = decision.evaluation["output"]["basis"].as_str().unwrap_or_default().to_owned();
            let mut details = rule.clone();
            details["basis"] = basis.into();
            details["remedy"] = REMEDY.into();
            let reject = Taken { action: Action::Reject, reason: decision.reason.clone(), details, actor: None };
            moving.take(tx, calendar, reject)?;
        }
        _ => {}
    }
    Ok(())
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

/// An application as a line of a list: what a queue shows, read from its row alone.
#[derive(Debug)]
pub struct ApplicationLine {
    pub number: String,
    pub item_name: String,
    pub department_name: String,
    pub state: State,
    pub deadline: Option<DateTime<Utc>>,
    pub clock_paused: bool,
    pub alarm: String,
}

impl From<Application> for ApplicationLine {
    fn from(a: Application) -> Self {
        ApplicationLine {
            number: a.number,
            item_name: a.item_name,
            department_name: a.department_name,
            state: a.state,
            deadline: a.deadline,
            clock_paused: a.clock_paused,
            alarm: a.alarm,
        }
    }
}

/// How many applications the workbench shows.
const WORKBENCH_LINES: i64 = 200;

/// Staff's workbench: the open applications of every department they handle (the window of a
/// region, the reviewers of a department), those whose time runs out first at the top.
pub async fn workbench(store: &Store, actor: &Principal) -> Result<Vec<ApplicationLine>> {
    let mut departments = crate::identity::departments_reached(store, actor, Role::WindowClerk).await?;
    departments.extend(crate::identity::departments_held(store, actor, Role::Reviewer).await?);
    let departments: Vec<String> = departments.into_iter().collect();
    let rows = store::select_open(&mut *store.pool().acquire().await?, &departments, WORKBENCH_LINES).await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let clock: Option<LimitClock> = row.clock.as_deref().and_then(|c| serde_json::from_str(c).ok());
            ApplicationLine {
                number: row.number,
                item_name: row.item_name,
                department_name: row.department_name,
                state: State::parse(&row.state).unwrap_or(State::Submitted),
                deadline: row.deadline_at.map(from_ms),
                clock_paused: clock.is_some_and(|c| c.is_paused()),
                alarm: row.alarm,
            }
        })
        .collect())
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
    at: &Deciding,
    actor: &Principal,
    number: &str,
    action: Action,
    step: Step,
) -> Result<Application> {
    let (calendar, issuer, now) = (at.calendar.as_ref(), at.issuer.as_ref(), at.now);
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

    let certificate = {
        let mut conn = store.pool().acquire().await?;
        if action == Action::Supplement {
            check_uploads(&mut conn, row.applicant_id, &step.materials).await?;
        }
        match action {
            Action::Approve => {
                let result = crate::certificates::result_type(&mut conn, &item.basic_code).await?;
                let holder = crate::certificates::holder_identity(&mut conn, row.applicant_id).await?;
                let form: serde_json::Value = serde_json::from_str(&row.form).unwrap_or_default();
                result.zip(holder).map(|(result, holder)| {
                    crate::certificates::Pending::Prepared(crate::certificates::prepare_result(
                        &result,
                        row.applicant_id,
                        holder,
                        &form,
                    ))
                })
            }
            _ => None,
        }
    };
    let mut tx = store.begin_write().await?;
    if action == Action::Supplement {
        save_materials(&mut tx, (row.id, &row.number), row.applicant_id, &item, &step.materials).await?;
    }
    let mut moving = Moving::from_row(&row, &item, now);
    moving.certificate = certificate;
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
            moving.note(&mut tx, Taken { action, reason, details: serde_json::Value::Object(details), actor: by })?;
        }
        Action::Approve => {
            let department = access.deciding_for.clone().ok_or(ApplicationError::Forbidden)?;
            let here = &access.steps[current.min(access.steps.len() - 1)];
            workflow::sign(&mut tx, row.id, current, &department, actor.account_id).await?;
            let signed = workflow::signed(&mut tx, row.id, current).await?;
            let step_done = !here.all || here.departments.iter().all(|d| signed.contains(d));
            details.insert("step".into(), current.into());
            details.insert("department".into(), department.into());
            let taken = Taken { action, reason, details: serde_json::Value::Object(details), actor: by };
            if step_done && last {
                moving.take(&mut tx, calendar, taken)?;
            } else {
                if step_done {
                    workflow::go_to(&mut tx, row.id, current + 1).await?;
                }
                moving.note(&mut tx, taken)?;
            }
        }
        _ => {
            moving.take(
                &mut tx,
                calendar,
                Taken { action, reason, details: serde_json::Value::Object(details), actor: by },
            )?;
        }
    }
    let written = moving.save(&mut tx, issuer, Saving::Stored(row.id)).await?;
    if written.state == State::Completed && state != State::Completed {
        // A completed application is a service its applicant may now rate (好差评).
        let served = crate::evaluation::Served {
            kind: crate::evaluation::model::EventKind::Application,
            reference: &row.number,
            item_code: &row.item_code,
            item_name: &row.item_name,
            department_id: row.department_id,
            staff_id: by,
            requester_id: Some(row.applicant_id),
            at: now,
        };
        crate::evaluation::served(&mut tx, served).await?;
    }
    tx.commit().await?;
    view(store, self::row(store, number).await?).await
}

/// An application being moved within a transaction. Steps are worked out in memory, each with its
/// evidence leaf and outbox event; [`Moving::save`] then writes the new state once (only if the
/// application is still as it was read: a concurrent step that moved it first wins), the events,
/// and the certificate an approval issues.
struct Moving<'a> {
    number: &'a str,
    applicant_id: i64,
    item: &'a catalog::model::ItemDocument,
    /// The state as read; the state is saved only from it.
    read_state: State,
    state: State,
    resume: Option<State>,
    clock: Option<LimitClock>,
    deadline_at: Option<i64>,
    alarm: String,
    /// When the steps are taken.
    now: DateTime<Utc>,
    /// Whether a step changed the state, so it must be saved.
    moved: bool,
    events: Vec<PendingEvent>,
    /// Issued when an approval is saved, if the item's approval produces one.
    certificate: Option<crate::certificates::Pending>,
    approved: bool,
}

/// An event waiting to be saved.
struct PendingEvent {
    action: &'static str,
    from: Option<State>,
    to: State,
    actor: Option<i64>,
    reason: String,
    details: String,
}

/// What saving wrote: the application's new state and events, and the certificates issued.
struct Written {
    id: i64,
    state: State,
    clock: Option<LimitClock>,
    deadline_at: Option<i64>,
    alarm: String,
    events: Vec<PendingEvent>,
    certificates: Vec<String>,
}

/// Which application [`Moving::save`] writes: one being submitted, or a stored one by id.
enum Saving<'a> {
    New(store::NewApplication<'a>),
    Stored(i64),
}

/// One step, with who took it (`None`: the system, for an instant decision) and why.
struct Taken {
    action: Action,
    reason: String,
    details: serde_json::Value,
    actor: Option<i64>,
}

impl<'a> Moving<'a> {
    fn new(
        number: &'a str,
        applicant_id: i64,
        item: &'a catalog::model::ItemDocument,
        state: State,
        now: DateTime<Utc>,
    ) -> Self {
        Moving {
            number,
            applicant_id,
            item,
            read_state: state,
            state,
            resume: None,
            clock: None,
            deadline_at: None,
            alarm: "none".into(),
            now,
            moved: false,
            events: Vec::new(),
            certificate: None,
            approved: false,
        }
    }

    fn from_row(row: &'a store::ApplicationRow, item: &'a catalog::model::ItemDocument, now: DateTime<Utc>) -> Self {
        let state = State::parse(&row.state).unwrap_or(State::Submitted);
        Moving {
            resume: row.resume_state.as_deref().and_then(State::parse),
            clock: row.clock.as_deref().and_then(|c| serde_json::from_str(c).ok()),
            deadline_at: row.deadline_at,
            alarm: row.alarm.clone(),
            ..Moving::new(&row.number, row.applicant_id, item, state, now)
        }
    }

    /// Records the submission itself, the first event of every application.
    fn submitted(&mut self, tx: &mut WriteTx, payload: &serde_json::Value) -> Result<()> {
        let applicant = Some(self.applicant_id);
        record(tx, self.number, "application.submitted", applicant, payload)?;
        outbox::append(tx, "application.submitted", &serde_json::json!({"number": self.number}))?;
        self.events.push(PendingEvent {
            action: "submit",
            from: None,
            to: State::Submitted,
            actor: applicant,
            reason: String::new(),
            details: "{}".into(),
        });
        Ok(())
    }

    /// Records a step that keeps the state: a sign-off within a review step (会签), or a return to
    /// an earlier step.
    fn note(&mut self, tx: &mut WriteTx, step: Taken) -> Result<()> {
        let Taken { action, reason, details, actor } = step;
        let (label, kind) = match action {
            Action::Return => ("return", "application.returned"),
            _ => ("sign_off", "application.signed_off"),
        };
        let payload = serde_json::json!({"number": self.number, "action": label, "reason": reason, "details": details});
        record(tx, self.number, kind, actor, &payload)?;
        outbox::append(tx, kind, &serde_json::json!({"number": self.number}))?;
        let (from, to) = (Some(self.state), self.state);
        self.events.push(PendingEvent { action: label, from, to, actor, reason, details: details.to_string() });
        Ok(())
    }

    /// Takes a step: the clock (started at acceptance, paused for a supplement, stopped by a
    /// decision), the state, the event, the evidence leaf and the outbox event.
    fn take(&mut self, tx: &mut WriteTx, calendar: &Calendar, step: Taken) -> Result<()> {
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
        self.deadline_at =
            self.clock.as_ref().filter(|_| running).and_then(|c| c.deadline(calendar)).map(|d| d.timestamp_millis());
        if !running {
            self.alarm = "none".into();
        }
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
        outbox::append(tx, kind, &serde_json::json!({"number": self.number, "state": next.as_str()}))?;
        self.events.push(PendingEvent {
            action: action.as_str(),
            from: Some(from),
            to: next,
            actor,
            reason,
            details: details.to_string(),
        });
        self.approved |= action == Action::Approve;
        self.state = next;
        self.resume = if action == Action::RequestSupplement { Some(from) } else { None };
        self.moved = true;
        Ok(())
    }

    /// Writes what the steps did: the state (of a new application, the application itself;
    /// otherwise only from the state read), the events, and on approval the item's certificate.
    async fn save(self, tx: &mut WriteTx, issuer: &crate::certificates::Issuer, saving: Saving<'_>) -> Result<Written> {
        let now_ms = self.now.timestamp_millis();
        let clock_json = self.clock.as_ref().and_then(|c| serde_json::to_string(c).ok());
        let transition = store::Transition {
            state: self.state.as_str(),
            resume_state: self.resume.map(State::as_str),
            clock: clock_json.as_deref(),
            deadline_at: self.deadline_at,
            alarm: &self.alarm,
        };
        let (id, new) = match saving {
            Saving::New(new) => (store::insert(tx, &new, transition, now_ms).await?, true),
            Saving::Stored(id) => {
                if self.moved && !store::transition(tx, id, self.read_state.as_str(), transition, now_ms).await? {
                    return Err(ApplicationError::WrongState { action: "save", state: self.read_state.as_str() });
                }
                (id, false)
            }
        };
        let events: Vec<store::NewEvent> = self
            .events
            .iter()
            .map(|e| store::NewEvent {
                action: e.action,
                from_state: e.from.map(State::as_str),
                to_state: e.to.as_str(),
                actor_id: e.actor,
                reason: &e.reason,
                details: &e.details,
            })
            .collect();
        if new {
            store::defer_first_events(tx, id, &events, now_ms);
        } else {
            store::insert_events(tx, id, &events, now_ms).await?;
        }
        let mut certificates = Vec::new();
        if self.approved
            && let Some(pending) = self.certificate
        {
            let by = self.events.iter().rev().find(|e| e.action == Action::Approve.as_str()).and_then(|e| e.actor);
            certificates.push(crate::certificates::issue(tx, issuer, pending, Some(self.number), by).await?);
        }
        Ok(Written {
            id,
            state: self.state,
            clock: self.clock,
            deadline_at: self.deadline_at,
            alarm: self.alarm,
            events: self.events,
            certificates,
        })
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
        outbox::append(&mut tx, "application.alarm", &serde_json::json!({"id": id, "alarm": alarm}))?;
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
