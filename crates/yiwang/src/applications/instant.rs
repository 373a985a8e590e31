//! Instant approval (秒批): an item (or one of its situations) may carry a decision table in
//! GoRules JDM form, evaluated first-hit over the application's form, the e-certificates supplied
//! and facts looked up in the base registers. `approve` and `reject` decide at once; `manual` (or
//! no rule hit) leaves the application to the window and the department. Every decision keeps the
//! rule version, the hash of its inputs and each rule's outcome. Rule versions are published by
//! the item's catalogue editors, and only when every test case they carry passes.

use serde::{Deserialize, Serialize};
use yiwang_rules::{DecisionTable, Evaluation, TestCase, all_pass, inputs_hash};

use super::{ApplicationError, Result, invalid};
use crate::catalog::{self, CatalogError};
use crate::identity::Principal;
use crate::ledger;
use crate::store::{Conn, Store, WriteTx, deferred, from_ms, now_ms};

/// A rule version as staff publish it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewRule {
    /// The situation the rule decides; none for every situation of the item.
    pub situation: Option<String>,
    /// The decision table (GoRules JDM: a decision-table node's content, or a graph with one).
    /// Its outputs must include `decision` (`approve`, `reject` or `manual`) and `reason`.
    #[schema(value_type = Object)]
    pub table: serde_json::Value,
    /// Cases that must all pass before the version is published.
    #[schema(value_type = Vec<Object>)]
    pub tests: Vec<TestCase>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct RuleVersion {
    pub item_code: String,
    /// Empty for every situation.
    pub situation: String,
    pub version: i64,
    #[schema(value_type = Object)]
    pub table: serde_json::Value,
    #[schema(value_type = Vec<Object>)]
    pub tests: serde_json::Value,
    pub published_by: Option<String>,
    pub published_at: chrono::DateTime<chrono::Utc>,
}

/// How an instant decision came out, as the applicant and staff see it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Decision {
    /// `approve`, `reject` or `manual`.
    pub outcome: String,
    pub reason: String,
    pub rule_version: i64,
    /// The rule that hit; none when no rule did.
    pub rule_id: Option<String>,
    pub rule_description: Option<String>,
    /// SHA-256 of the canonical JSON of the inputs the table saw.
    pub inputs_hash: String,
    /// The output and each rule's outcome, for audit.
    #[schema(value_type = Object)]
    pub evaluation: serde_json::Value,
    pub decided_at: chrono::DateTime<chrono::Utc>,
}

const OUTCOMES: [&str; 3] = ["approve", "reject", "manual"];

fn rule_problem(field: impl Into<String>, message: impl std::fmt::Display) -> ApplicationError {
    invalid(field, message.to_string())
}

/// Checks a rule version and publishes it as the item's next one; returns its version.
pub async fn publish(
    store: &Store,
    items: &super::context::ItemContexts,
    actor: &Principal,
    item_code: &str,
    rule: NewRule,
) -> Result<i64> {
    let (item, _) = catalog::published(store, item_code).await?;
    let allowed = catalog::drafts::editable_departments(store, actor).await?;
    if !allowed.contains(&item.department_code) {
        return Err(ApplicationError::Forbidden);
    }
    let situation = rule.situation.unwrap_or_default();
    if !situation.is_empty() && !item.situations.iter().any(|s| s.code == situation) {
        return Err(invalid("situation", "该事项没有此办理情形 / no such situation"));
    }
    let table = DecisionTable::from_json(&rule.table).map_err(|e| rule_problem("table", e))?;
    table.check().map_err(|e| rule_problem("table", e))?;
    for needed in ["decision", "reason"] {
        if !table.outputs().iter().any(|o| o.field == needed) {
            return Err(invalid("table", format!("输出须包含 {needed} / the outputs must include `{needed}`")));
        }
    }
    if rule.tests.is_empty() {
        return Err(invalid("tests", "至少一个测试用例 / at least one test case"));
    }
    let outcomes = table.run_tests(&rule.tests);
    if !all_pass(&outcomes) {
        let (i, failed) = outcomes.iter().enumerate().find(|(_, o)| !o.passed()).expect("one failed");
        return Err(invalid(
            format!("tests[{i}]"),
            format!("“{}”未通过 / failed: {}", failed.name, failed.failure.clone().unwrap_or_default()),
        ));
    }
    let table_text = rule.table.to_string();
    let tests_text = serde_json::to_string(&rule.tests).map_err(|e| rule_problem("tests", e))?;
    let mut tx = store.begin_write().await?;
    let version = insert_rule(&mut tx, item_code, &situation, &table_text, &tests_text, Some(actor.account_id)).await?;
    tx.commit().await?;
    items.forget(item_code);
    Ok(version)
}

/// Stores the next version of a rule, with its evidence leaf.
async fn insert_rule(
    tx: &mut WriteTx,
    item_code: &str,
    situation: &str,
    table: &str,
    tests: &str,
    by: Option<i64>,
) -> Result<i64> {
    let version: i64 = sqlx::query_scalar(
        "INSERT INTO approval_rules (item_code, situation, version, decision_table, tests, published_by, published_at)
         VALUES ($1, $2, (SELECT COALESCE(MAX(version), 0) + 1 FROM approval_rules WHERE item_code = $1 AND situation = $2),
                 $3, $4, $5, $6) RETURNING version",
    )
    .bind(item_code)
    .bind(situation)
    .bind(table)
    .bind(tests)
    .bind(by)
    .bind(now_ms())
    .fetch_one(&mut **tx)
    .await?;
    let payload = serde_json::json!({"item": item_code, "situation": situation, "version": version, "table": table, "tests": tests});
    ledger::append(
        tx,
        ledger::Entry {
            kind: "rule.published",
            subject: format!("rule:{item_code}:{situation}"),
            actor: ledger::actor(by),
            payload: payload.to_string().as_bytes(),
        },
    )?;
    Ok(version)
}

/// (item, situation, version, table, tests, published by (login), published at)
type RuleRow = (String, String, i64, String, String, Option<String>, i64);

/// Every version of an item's rules, newest first.
pub async fn versions(store: &Store, item_code: &str) -> Result<Vec<RuleVersion>> {
    let rows: Vec<RuleRow> = sqlx::query_as(
        "SELECT r.item_code, r.situation, r.version, r.decision_table, r.tests, a.login, r.published_at
         FROM approval_rules r LEFT JOIN accounts a ON a.id = r.published_by
         WHERE r.item_code = $1 ORDER BY r.situation, r.version DESC",
    )
    .bind(item_code)
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .into_iter()
        .map(|(item_code, situation, version, table, tests, published_by, at)| RuleVersion {
            item_code,
            situation,
            version,
            table: serde_json::from_str(&table).unwrap_or_default(),
            tests: serde_json::from_str(&tests).unwrap_or_default(),
            published_by,
            published_at: from_ms(at),
        })
        .collect())
}

/// What the table is asked about an application.
pub struct Asked<'a> {
    pub item_code: &'a str,
    pub situation: &'a str,
    pub form: &'a serde_json::Map<String, serde_json::Value>,
    /// What the base registers say of the applicant, looked up through the data-exchange gateway.
    pub facts: serde_json::Map<String, serde_json::Value>,
    /// Type names of the e-certificates supplied.
    pub certificates: Vec<String>,
}

/// Decides an application by the rule in force (see [`super::context::ItemContext::rule`]), if the
/// item has one; `None` when it has none. The decision is stored with the application by
/// [`record`].
pub fn decide(rule: Option<(i64, &DecisionTable)>, asked: Asked<'_>) -> Option<Decision> {
    let (version, table) = rule?;
    let input = serde_json::json!({
        "form": asked.form,
        "facts": asked.facts,
        "certificates": asked.certificates,
    });
    let hash = inputs_hash(&input);
    let (outcome, reason, evaluation) = match table.evaluate(&input) {
        Ok(evaluation) => outcome_of(&evaluation),
        // A broken rule must not stop anyone applying: the application goes to staff.
        Err(e) => {
            tracing::warn!(item = asked.item_code, version, error = %e, "an instant-approval rule failed; sent to manual review");
            let evaluation = serde_json::json!({"error": e.to_string()});
            ("manual".to_owned(), "规则执行出错，转人工审核 / the rule failed; sent to staff".to_owned(), evaluation)
        }
    };
    Some(decision_from(version, outcome, reason, hash, evaluation, now_ms()))
}

/// Stores the decision taken on an application.
pub fn record(tx: &mut WriteTx, application_id: i64, item_code: &str, situation: &str, decision: &Decision) {
    // A new application's decision: its key is the application just written.
    deferred::insert(
        tx,
        "INSERT INTO decisions (application_id, item_code, situation, rule_version, rule_id, outcome, reason,
                inputs_hash, evaluation, decided_at) VALUES",
        vec![
            application_id.into(),
            item_code.into(),
            situation.into(),
            decision.rule_version.into(),
            decision.rule_id.as_deref().into(),
            decision.outcome.as_str().into(),
            decision.reason.as_str().into(),
            decision.inputs_hash.as_str().into(),
            decision.evaluation.to_string().into(),
            decision.decided_at.timestamp_millis().into(),
        ],
    );
}

fn outcome_of(evaluation: &Evaluation) -> (String, String, serde_json::Value) {
    let output = |key: &str| evaluation.output.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
    let mut outcome = output("decision");
    if !OUTCOMES.contains(&outcome.as_str()) {
        outcome = "manual".into();
    }
    let mut reason = output("reason");
    if evaluation.matched.is_none() {
        reason = "没有规则适用，转人工审核 / no rule applies; sent to staff".into();
    }
    (outcome, reason, serde_json::to_value(evaluation).unwrap_or_default())
}

fn decision_from(
    version: i64,
    outcome: String,
    reason: String,
    hash: String,
    evaluation: serde_json::Value,
    at: i64,
) -> Decision {
    Decision {
        outcome,
        reason,
        rule_version: version,
        rule_id: evaluation["matched"]["id"].as_str().map(str::to_owned),
        rule_description: evaluation["matched"]["description"].as_str().map(str::to_owned),
        inputs_hash: hash,
        evaluation,
        decided_at: from_ms(at),
    }
}

/// The instant decision recorded for an application, if any.
pub async fn recorded(conn: &mut Conn, application_id: i64) -> Result<Option<Decision>> {
    let row: Option<(i64, String, String, String, String, i64)> = sqlx::query_as(
        "SELECT rule_version, outcome, reason, inputs_hash, evaluation, decided_at FROM decisions WHERE application_id = $1",
    )
    .bind(application_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|(version, outcome, reason, hash, evaluation, at)| {
        decision_from(version, outcome, reason, hash, serde_json::from_str(&evaluation).unwrap_or_default(), at)
    }))
}

/// The facts a table reads (`facts.<field>` inputs), by field name.
pub fn fact_fields(table: &DecisionTable) -> impl Iterator<Item = &str> {
    table.inputs().iter().filter_map(|c| c.field.strip_prefix("facts."))
}

/// The demo's rules (one file per item, `demo/rules/*.json`) and base-register records.
pub async fn load_demo(tx: &mut WriteTx) -> Result<()> {
    for text in DEMO_RULES {
        let rule: DemoRule = serde_json::from_str(text).map_err(|e| CatalogError::Malformed(e.to_string()))?;
        let table = DecisionTable::from_json(&rule.table).map_err(|e| CatalogError::Malformed(e.to_string()))?;
        if !all_pass(&table.run_tests(&rule.tests)) {
            return Err(CatalogError::Malformed(format!("demo rule for {} fails its tests", rule.item)).into());
        }
        let tests = serde_json::to_string(&rule.tests).map_err(|e| CatalogError::Malformed(e.to_string()))?;
        insert_rule(tx, &rule.item, rule.situation.as_deref().unwrap_or(""), &rule.table.to_string(), &tests, None)
            .await?;
    }
    let registers: Vec<DemoRecord> =
        serde_json::from_str(DEMO_REGISTERS).map_err(|e| CatalogError::Malformed(e.to_string()))?;
    for record in registers {
        sqlx::query("INSERT INTO register_records (register, subject, facts) VALUES ($1, $2, $3)")
            .bind(&record.register)
            .bind(&record.subject)
            .bind(record.facts.to_string())
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

#[derive(Deserialize)]
struct DemoRule {
    item: String,
    situation: Option<String>,
    table: serde_json::Value,
    tests: Vec<TestCase>,
}

#[derive(Deserialize)]
struct DemoRecord {
    register: String,
    subject: String,
    facts: serde_json::Value,
}

pub const DEMO_RULES: [&str; 4] = [
    include_str!("../../demo/rules/rent_withdrawal.json"),
    include_str!("../../demo/rules/graduate_report.json"),
    include_str!("../../demo/rules/vehicle_licence.json"),
    include_str!("../../demo/rules/birth_certificate.json"),
];
const DEMO_REGISTERS: &str = include_str!("../../demo/registers.json");
