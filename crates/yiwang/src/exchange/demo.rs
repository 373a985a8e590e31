//! The demo city's data exchange (`demo/exchange.json`): the base registers — population (人口),
//! legal entities (法人), credit red and black lists (信用), the e-certificate index (电子证照),
//! grids (空间) — and the housing-fund register attached as a table, with made-up rows for
//! Zhuhai; a resource not shared; two apps with known demo tokens, their grants and a few calls.

use serde::Deserialize;
use serde_json::Value;

use super::gateway::CallRecord;
use super::model::{Masking, ResourceInput};
use super::pseudonym::Pseudonyms;
use super::store::{self, NewGrant};
use super::{ExchangeError, GrantState, Result, dataset, insert_app, insert_resource, invalid};
use crate::identity;
use crate::ledger;
use crate::store::{WriteTx, now_ms};

pub const DEMO_EXCHANGE: &str = include_str!("../../demo/exchange.json");

#[derive(Deserialize)]
struct Demo {
    resources: Vec<Value>,
    apps: Vec<DemoApp>,
    grants: Vec<DemoGrant>,
    calls: Vec<DemoCall>,
}

#[derive(Deserialize)]
struct DemoApp {
    name: String,
    department_code: String,
    /// Known demo tokens (like the demo password): for trying the gateway from the README.
    token: String,
    rate_per_minute: i64,
    daily_quota: i64,
}

#[derive(Deserialize)]
struct DemoGrant {
    app: usize,
    resource: String,
    purpose: String,
    fields: Vec<String>,
    clear_fields: Vec<String>,
    /// The steward who approved a conditional request; none for unconditional sharing.
    decided_by: Option<String>,
}

#[derive(Deserialize)]
struct DemoCall {
    app: usize,
    resource: String,
    key: String,
    reason: String,
    days_ago: i64,
}

fn malformed(e: impl std::fmt::Display) -> ExchangeError {
    invalid("demo/exchange.json", e.to_string())
}

pub async fn load_demo(tx: &mut WriteTx, pseudonyms: &Pseudonyms) -> Result<()> {
    let demo: Demo = serde_json::from_str(DEMO_EXCHANGE).map_err(malformed)?;
    let now = now_ms();
    let mut resources = Vec::new();
    for mut value in demo.resources {
        let rows = value.as_object_mut().and_then(|o| o.remove("rows"));
        let input: ResourceInput = serde_json::from_value(value).map_err(malformed)?;
        input.check()?;
        let id = insert_resource(tx, None, &input).await?;
        if let Some(rows) = rows {
            let rows = dataset::parse_json(&input, rows.to_string().as_bytes())?;
            store::replace_rows(tx, id, &input, &rows, now).await?;
        }
        resources.push((id, input));
    }
    let mut apps = Vec::new();
    for app in &demo.apps {
        let (department_id, _) = identity::department_region(tx, &app.department_code)
            .await?
            .ok_or_else(|| malformed(&app.department_code))?;
        let hash = identity::hash_secret(&app.token);
        apps.push((
            insert_app(tx, None, &app.name, department_id, &hash, app.rate_per_minute, app.daily_quota).await?,
            department_id,
        ));
    }
    let find = |code: &str| resources.iter().find(|(_, r)| r.code == code).ok_or_else(|| malformed(code));
    // Grants run a year from loading.
    let expires_at = now + 365 * 24 * 3_600_000;
    for grant in demo.grants {
        let (resource_id, _) = find(&grant.resource)?;
        let (app_id, _) = *apps.get(grant.app).ok_or_else(|| malformed("grant app"))?;
        let decided_by = match &grant.decided_by {
            Some(login) => Some(identity::account_id_by_login(tx, login).await?.ok_or_else(|| malformed(login))?),
            None => None,
        };
        let row = NewGrant {
            resource_id: *resource_id,
            app_id,
            purpose: grant.purpose,
            fields: serde_json::to_string(&grant.fields).map_err(malformed)?,
            clear_fields: serde_json::to_string(&grant.clear_fields).map_err(malformed)?,
            state: GrantState::Granted,
            requested_by: decided_by,
            requested_at: now,
            due_at: None,
            expires_at,
        };
        let id = store::insert_grant(tx, &row).await?;
        if let Some(by) = decided_by {
            store::decide_grant(tx, id, "granted", "granted", by, now, None).await?;
        }
        let record = serde_json::json!({"grant": id, "resource": grant.resource, "app": app_id, "fields": grant.fields, "state": "granted"});
        ledger::record(tx, "exchange.grant_decided", format!("grant:{id}"), ledger::actor(decided_by), &record)?;
    }
    let mut calls = Vec::new();
    for call in demo.calls {
        let (resource_id, resource) = find(&call.resource)?;
        let (app_id, department_id) = *apps.get(call.app).ok_or_else(|| malformed("call app"))?;
        let id_field = resource.fields.iter().any(|f| f.name == resource.key_field && f.masking == Masking::IdNumber);
        calls.push(CallRecord {
            id: hex::encode(rand::random::<[u8; 16]>()),
            app_id,
            department_id,
            resource_id: Some(*resource_id),
            resource_code: resource.code.clone(),
            kind: "lookup",
            key_hash: Some(pseudonyms.of("key", &call.key)),
            fields: resource.fields.iter().take(3).map(|f| f.name.clone()).collect(),
            rows: 1,
            reason: call.reason,
            outcome: "ok",
            at: now - call.days_ago * 24 * 3_600_000,
            subjects: if id_field { vec![pseudonyms.of("subject", &call.key)] } else { Vec::new() },
        });
    }
    store::insert_calls(tx, &calls);
    for call in &calls {
        let (subject, actor) = (format!("resource:{}", call.resource_code), format!("exchange_app:{}", call.app_id));
        ledger::record(tx, "exchange.call", subject, actor, call)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_resources_are_valid_and_their_rows_load() {
        let demo: Demo = serde_json::from_str(DEMO_EXCHANGE).unwrap();
        assert!(demo.resources.len() >= 6);
        for mut value in demo.resources {
            let rows = value.as_object_mut().and_then(|o| o.remove("rows"));
            let input: ResourceInput = serde_json::from_value(value).unwrap();
            input.check().unwrap();
            if let Some(rows) = rows {
                assert!(
                    !dataset::parse_json(&input, rows.to_string().as_bytes()).unwrap().is_empty(),
                    "{}",
                    input.code
                );
            }
        }
    }
}
