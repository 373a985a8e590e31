//! What applying for an item needs to know about the item, whoever applies: its published
//! document, its department, its review steps, the rules in force and the certificate its approval
//! issues. Every submission needs it and it changes only when staff publish, so it is read once
//! and kept for a few seconds.
//!
//! Publishing on this node forgets the item at once (the handlers call [`ItemContexts::forget`]
//! or [`ItemContexts::clear`]); another node sharing the database sees the change within
//! [`KEPT_FOR`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use yiwang_rules::DecisionTable;

use super::{ApplicationError, Result, store, workflow};
use crate::catalog::{self, CatalogError, model::ItemDocument};
use crate::store::Store;

/// How long a context is used before it is read again.
pub const KEPT_FOR: Duration = Duration::from_secs(5);

pub struct ItemContext {
    pub item: ItemDocument,
    pub version: i64,
    /// (id, region code, name, region path) of the item's department.
    pub department: (i64, String, String, String),
    pub steps: Vec<workflow::ReviewStep>,
    /// The newest rule of each situation (`""`: every situation): (situation, version, table).
    pub rules: Vec<(String, i64, DecisionTable)>,
    /// The certificate an approval issues, if any.
    pub result: Option<crate::certificates::ResultType>,
    /// The base-register resources of the data exchange that hold the facts the rules read, and
    /// the app whose grants the lookups use; none when no such app is registered.
    pub fact_sources: Vec<String>,
    pub facts_app: Option<i64>,
}

impl ItemContext {
    /// The rule in force for a situation: the situation's own, else the item's.
    pub fn rule(&self, situation: &str) -> Option<(i64, &DecisionTable)> {
        let of = |s: &str| self.rules.iter().find(|(situation, ..)| situation == s);
        of(situation).or_else(|| of("")).map(|(_, version, table)| (*version, table))
    }
}

/// Each item's context by implementation code, with when it was read.
type Kept = HashMap<String, (Instant, Arc<ItemContext>)>;

#[derive(Clone)]
pub struct ItemContexts {
    kept: Arc<Mutex<Kept>>,
    /// The name of the data-exchange app instant approval looks facts up as.
    facts_app: Arc<str>,
}

impl ItemContexts {
    pub fn new(facts_app: &str) -> Self {
        ItemContexts { kept: Arc::default(), facts_app: facts_app.into() }
    }

    /// The context of a published item; `NotFound` (as a catalogue error) if there is none.
    pub async fn get(&self, store: &Store, implementation_code: &str) -> Result<Arc<ItemContext>> {
        if let Some((read, context)) = self.lock().get(implementation_code)
            && read.elapsed() < KEPT_FOR
        {
            return Ok(context.clone());
        }
        let context = Arc::new(load(store, implementation_code, &self.facts_app).await?);
        self.lock().insert(implementation_code.to_owned(), (Instant::now(), context.clone()));
        Ok(context)
    }

    /// Forgets an item whose rules or workflow changed.
    pub fn forget(&self, implementation_code: &str) {
        self.lock().remove(implementation_code);
    }

    /// Forgets every item, after a catalogue publication.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

async fn load(store: &Store, implementation_code: &str, facts_app: &str) -> Result<ItemContext> {
    let (item, version) = catalog::published(store, implementation_code).await?;
    let mut conn = store.pool().acquire().await?;
    let department = store::department(&mut conn, &item.department_code).await?.ok_or(ApplicationError::NotFound)?;
    let steps = workflow::steps(&mut conn, &item.implementation_code, &item.department_code).await?;
    let rules = store::current_rules(&mut conn, &item.implementation_code)
        .await?
        .into_iter()
        .map(|(situation, version, text)| {
            let json: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| CatalogError::Malformed(e.to_string()))?;
            let table = DecisionTable::from_json(&json).map_err(|e| CatalogError::Malformed(e.to_string()))?;
            Ok((situation, version, table))
        })
        .collect::<Result<Vec<_>>>()?;
    let result = crate::certificates::result_type(&mut conn, &item.basic_code).await?;
    drop(conn);
    let fields: Vec<String> =
        rules.iter().flat_map(|(_, _, table)| super::instant::fact_fields(table).map(str::to_owned)).collect();
    let (fact_sources, facts_app) = if fields.is_empty() {
        (Vec::new(), None)
    } else {
        let exchange = |e: crate::exchange::ExchangeError| ApplicationError::Exchange(Box::new(e));
        let sources = crate::exchange::register_resources_with(store, &fields).await.map_err(exchange)?;
        (sources, crate::exchange::app_named(store, facts_app).await.map_err(exchange)?)
    };
    Ok(ItemContext { item, version, department, steps, rules, result, fact_sources, facts_app })
}
