//! Where a work order goes: its category (given, or predicted from its text by the classifier),
//! the competent department from the dispatch catalogue (派单目录), and its grid, community,
//! street and district from its location. A functional department's matter goes to that
//! department, never down to a community; a matter of the place (属地) goes to the town or street
//! government of the grid it happened in.
//!
//! The category tree, the catalogue, the departments and the time limits are held in memory
//! ([`Routing`]) so that routing an order needs no query; they are reloaded when edited.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use super::classifier::Classifier;
use super::model::{RequestType, RequesterKind};
use crate::grid::{Grid, GridMap, LatLon};
use crate::store::Store;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Category {
    pub code: String,
    pub name: String,
    pub level: i64,
    pub parent_code: Option<String>,
    /// Open311 attributes of the service definition.
    #[schema(value_type = Vec<Object>)]
    pub attributes: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DepartmentRef {
    #[serde(skip)]
    pub id: i64,
    pub code: String,
    pub name: String,
    #[serde(skip)]
    pub region_code: String,
}

/// A category the classifier proposes, with its department.
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[schema(as = CategorySuggestion)]
pub struct Suggestion {
    pub category_code: String,
    pub category_name: String,
    pub department_code: Option<String>,
    pub confidence: f64,
}

/// How an order is routed.
pub struct Route {
    pub category: Option<Category>,
    pub department: Option<DepartmentRef>,
    pub grid: Option<Grid>,
    /// The community of the grid, else the department's region, else the city.
    pub region_code: String,
    pub suggestions: Vec<Suggestion>,
    /// Confident enough, and a department found: dispatched without a dispatcher.
    pub automatic: bool,
}

/// (respond within working hours, handle within working days)
pub type Limit = (Option<u32>, u32);

#[derive(Default)]
struct Tables {
    categories: HashMap<String, Category>,
    by_level1_name: HashMap<String, String>,
    catalogue: HashMap<String, (Option<String>, bool)>,
    departments: HashMap<String, DepartmentRef>,
    limits: HashMap<(String, String), Limit>,
    root_region: String,
}

#[derive(Clone)]
pub struct Routing {
    tables: Arc<RwLock<Arc<Tables>>>,
    pub grids: GridMap,
    pub classifier: Arc<Classifier>,
    /// At or above this confidence a predicted category is dispatched by itself.
    pub threshold: f64,
}

impl Routing {
    pub async fn load(store: &Store, classifier: Arc<Classifier>, threshold: f64) -> Result<Self, sqlx::Error> {
        let grids = GridMap::load(store).await.map_err(|e| match e {
            crate::grid::GridError::Db(db) => db,
            other => sqlx::Error::Protocol(other.to_string()),
        })?;
        let routing = Routing { tables: Arc::default(), grids, classifier, threshold };
        routing.reload_tables(store).await?;
        Ok(routing)
    }

    /// Reads everything again: tables and grids.
    pub async fn reload(&self, store: &Store) -> Result<(), sqlx::Error> {
        self.reload_tables(store).await?;
        self.grids.reload(store).await.map_err(|e| match e {
            crate::grid::GridError::Db(db) => db,
            other => sqlx::Error::Protocol(other.to_string()),
        })
    }

    /// Reads the category tree, catalogue, departments and limits again.
    pub async fn reload_tables(&self, store: &Store) -> Result<(), sqlx::Error> {
        let mut conn = store.pool().acquire().await?;
        let mut tables = Tables::default();
        for (code, name, level, parent_code, attributes) in super::store::categories(&mut conn).await? {
            if level == 1 {
                tables.by_level1_name.insert(name.clone(), code.clone());
            }
            let attributes = serde_json::from_str(&attributes).unwrap_or(serde_json::Value::Array(vec![]));
            tables.categories.insert(code.clone(), Category { code, name, level, parent_code, attributes });
        }
        for (category, department, territorial) in super::store::dispatch_catalogue(&mut conn).await? {
            tables.catalogue.insert(category, (department, territorial == 1));
        }
        for (id, code, name, region_code) in super::store::departments(&mut conn).await? {
            tables.departments.insert(code.clone(), DepartmentRef { id, code, name, region_code });
        }
        for (request_type, requester_kind, respond, days) in super::store::time_limits(&mut conn).await? {
            let respond = respond.and_then(|h| u32::try_from(h).ok());
            tables.limits.insert((request_type, requester_kind), (respond, u32::try_from(days).unwrap_or(15)));
        }
        tables.root_region =
            sqlx::query_scalar("SELECT code FROM regions WHERE parent_code IS NULL ORDER BY code LIMIT 1")
                .fetch_optional(&mut *conn)
                .await?
                .unwrap_or_default();
        *self.tables.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(tables);
        Ok(())
    }

    fn tables(&self) -> Arc<Tables> {
        self.tables.read().map(|t| t.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    pub fn category(&self, code: &str) -> Option<Category> {
        self.tables().categories.get(code).cloned()
    }

    /// Every category, in code order.
    pub fn categories(&self) -> Vec<Category> {
        let mut all: Vec<Category> = self.tables().categories.values().cloned().collect();
        all.sort_by(|a, b| a.code.cmp(&b.code));
        all
    }

    /// The names from the first level down to this category: `城乡建设 / 市政管理 / 路灯`.
    pub fn category_path(&self, code: &str) -> String {
        let tables = self.tables();
        let mut names = Vec::new();
        let mut next = Some(code.to_owned());
        while let Some(code) = next {
            let Some(category) = tables.categories.get(&code) else { break };
            names.push(category.name.clone());
            next = category.parent_code.clone();
        }
        names.reverse();
        names.join(" / ")
    }

    pub fn department(&self, code: &str) -> Option<DepartmentRef> {
        self.tables().departments.get(code).cloned()
    }

    pub fn department_by_id(&self, id: i64) -> Option<DepartmentRef> {
        self.tables().departments.values().find(|d| d.id == id).cloned()
    }

    pub fn limit(&self, request_type: RequestType, requester: RequesterKind) -> Limit {
        let tables = self.tables();
        let key = |kind: &str| (request_type.as_str().to_owned(), kind.to_owned());
        tables
            .limits
            .get(&key(requester.as_str()))
            .or_else(|| tables.limits.get(&key(RequesterKind::Resident.as_str())))
            .copied()
            .unwrap_or((None, 15))
    }

    /// The department a category goes to at a place, by the dispatch catalogue.
    pub fn competent(&self, category_code: &str, grid: Option<&Grid>) -> Option<DepartmentRef> {
        let tables = self.tables();
        let mut next = Some(category_code.to_owned());
        while let Some(code) = next {
            if let Some((department, territorial)) = tables.catalogue.get(&code) {
                return if *territorial {
                    // The street or town government of the place: its region is the grid's
                    // community's parent.
                    let community = grid?.community_code.as_str();
                    let street = community.get(..9)?;
                    tables
                        .departments
                        .values()
                        .filter(|d| d.region_code == street)
                        .min_by(|a, b| a.code.cmp(&b.code))
                        .cloned()
                } else {
                    department.as_deref().and_then(|d| tables.departments.get(d)).cloned()
                };
            }
            next = tables.categories.get(&code).and_then(|c| c.parent_code.clone());
        }
        None
    }

    /// Only the place: an emergency is not classified.
    pub fn place(&self, at: Option<LatLon>) -> Route {
        let grid = at.and_then(|p| self.grids.locate(p));
        let region_code =
            grid.as_ref().map(|g| g.community_code.clone()).unwrap_or_else(|| self.tables().root_region.clone());
        Route { category: None, department: None, grid, region_code, suggestions: Vec::new(), automatic: false }
    }

    /// Routes an order: `given` is a category the intake chose (a patrol item, a sensor, an
    /// Open311 service, the operator); otherwise the classifier reads `text`.
    pub fn route(&self, given: Option<&str>, text: &str, at: Option<LatLon>) -> Route {
        let grid = at.and_then(|p| self.grids.locate(p));
        let tables = self.tables();
        let suggestions: Vec<Suggestion> = match given.and_then(|code| tables.categories.get(code)) {
            Some(category) => vec![Suggestion {
                category_code: category.code.clone(),
                category_name: category.name.clone(),
                department_code: self.competent(&category.code, grid.as_ref()).map(|d| d.code),
                confidence: 1.0,
            }],
            None => self
                .classifier
                .predict(text)
                .into_iter()
                .filter_map(|(label, confidence)| {
                    let code = tables.by_level1_name.get(&label)?;
                    Some(Suggestion {
                        category_code: code.clone(),
                        category_name: label,
                        department_code: self.competent(code, grid.as_ref()).map(|d| d.code),
                        confidence,
                    })
                })
                .take(3)
                .collect(),
        };
        let best = suggestions.first();
        let category = best.and_then(|s| tables.categories.get(&s.category_code)).cloned();
        let department =
            best.and_then(|s| s.department_code.as_deref()).and_then(|d| tables.departments.get(d)).cloned();
        let automatic = best.is_some_and(|s| s.confidence >= self.threshold) && department.is_some();
        let region_code = grid
            .as_ref()
            .map(|g| g.community_code.clone())
            .or_else(|| department.as_ref().map(|d| d.region_code.clone()))
            .unwrap_or_else(|| tables.root_region.clone());
        Route { category, department, grid, region_code, suggestions, automatic }
    }
}
