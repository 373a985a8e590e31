//! Setting up a work-order centre: the three-level category tree (derived from a
//! `level1,level2,level3` CSV such as the government tree in `shared/data/workorders`), default
//! time limits, and the demo city's dispatch catalogue, grids, patrol checklist, sensors and
//! hotline knowledge base.

use std::collections::HashMap;

use serde::Deserialize;

use super::store;
use crate::store::{Conn, now_ms};

/// The demo tree, made by `yiwang workorders categories ../shared/data/workorders/categories.csv`.
const DEMO_CATEGORIES: &str = include_str!("../../demo/workorder_categories.csv");
const DEMO: &str = include_str!("../../demo/workorders.json");

#[derive(Debug, Clone, PartialEq)]
pub struct CategoryRow {
    pub code: String,
    pub name: String,
    pub level: i64,
    pub parent: Option<String>,
}

/// Numbers a `level1,level2,level3` tree (header row first): first levels `01`, `02`…, their
/// children `0101`…, grandchildren `010101`…, in order of first appearance.
pub fn number_tree(csv_text: &str) -> Result<Vec<CategoryRow>, String> {
    let mut reader = csv::Reader::from_reader(csv_text.as_bytes());
    let mut rows: Vec<CategoryRow> = Vec::new();
    let mut codes: HashMap<(Option<String>, String), String> = HashMap::new();
    let mut children: HashMap<Option<String>, usize> = HashMap::new();
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("row {}: {e}", line + 2))?;
        let mut parent: Option<String> = None;
        for (level, name) in record.iter().take(3).enumerate() {
            let name = name.trim();
            if name.is_empty() {
                break;
            }
            let key = (parent.clone(), name.to_owned());
            let code = match codes.get(&key) {
                Some(code) => code.clone(),
                None => {
                    let n = children.entry(parent.clone()).or_default();
                    *n += 1;
                    let code = format!("{}{:02}", parent.as_deref().unwrap_or_default(), n);
                    codes.insert(key, code.clone());
                    rows.push(CategoryRow {
                        code: code.clone(),
                        name: name.to_owned(),
                        level: level as i64 + 1,
                        parent: parent.clone(),
                    });
                    code
                }
            };
            parent = Some(code);
        }
    }
    Ok(rows)
}

/// The numbered tree as `code,name,level,parent_code` CSV.
pub fn tree_csv(rows: &[CategoryRow]) -> String {
    let mut out = String::from("code,name,level,parent_code\n");
    for r in rows {
        out.push_str(&format!("{},{},{},{}\n", r.code, r.name, r.level, r.parent.as_deref().unwrap_or_default()));
    }
    out
}

/// Loads a city's category tree (`code,name,level,parent_code`, as `yiwang workorders
/// categories` prints it) into the database in one transaction: new categories are added and
/// existing ones renamed or moved; none is removed, as orders keep theirs. An evidence leaf
/// records the file's SHA-256. Returns how many categories were loaded; servers read the tree
/// again within a minute.
pub async fn load_categories(store: &crate::store::Store, csv_text: &str) -> Result<usize, String> {
    let rows = read_tree_csv(csv_text)?;
    check_tree(&rows)?;
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(csv_text.as_bytes()));
    store
        .write(move |tx| {
            Box::pin(async move {
                for r in &rows {
                    store::upsert_category(tx, &r.code, &r.name, r.level, r.parent.as_deref()).await?;
                }
                let payload = serde_json::json!({"categories": rows.len(), "sha256": sha256});
                let subject = "workorder-settings:categories".to_owned();
                crate::ledger::record(
                    tx,
                    "workorder.categories_loaded",
                    subject,
                    crate::ledger::actor(None),
                    &payload,
                )?;
                crate::store::outbox::append(tx, "workorder.categories_loaded", &payload)?;
                Ok::<_, super::WorkOrderError>(rows.len())
            })
        })
        .await
        .map_err(|e| e.to_string())
}

/// A tree loads when its codes are unique and non-empty, names non-empty, levels 1 to 3, and
/// each category after its parent, one level below it (a first-level category has none).
pub fn check_tree(rows: &[CategoryRow]) -> Result<(), String> {
    if rows.is_empty() {
        return Err("no categories".into());
    }
    let mut seen: HashMap<&str, i64> = HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        let line = i + 2;
        if r.code.trim().is_empty() || r.name.trim().is_empty() {
            return Err(format!("line {line}: code and name are required"));
        }
        if !(1..=3).contains(&r.level) {
            return Err(format!("line {line} ({}): the level is 1, 2 or 3", r.code));
        }
        match (&r.parent, r.level) {
            (None, 1) => {}
            (Some(parent), level) if seen.get(parent.as_str()) == Some(&(level - 1)) => {}
            _ => {
                return Err(format!(
                    "line {line} ({}): a level-{} category needs its parent, one level up, on an earlier line",
                    r.code, r.level
                ));
            }
        }
        if seen.insert(&r.code, r.level).is_some() {
            return Err(format!("line {line}: the code {} appears twice", r.code));
        }
    }
    Ok(())
}

fn read_tree_csv(text: &str) -> Result<Vec<CategoryRow>, String> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let mut rows = Vec::new();
    for record in reader.records() {
        let r = record.map_err(|e| e.to_string())?;
        rows.push(CategoryRow {
            code: r[0].to_owned(),
            name: r[1].to_owned(),
            level: r[2].parse().map_err(|_| format!("{}: bad level", &r[0]))?,
            parent: Some(r[3].to_owned()).filter(|p| !p.is_empty()),
        });
    }
    Ok(rows)
}

/// The code of a category named by its path, `城乡建设/城乡规划/违章建筑`.
fn code_of(rows: &[CategoryRow], path: &str) -> Result<String, String> {
    let mut parent: Option<String> = None;
    for name in path.split('/') {
        let found =
            rows.iter().find(|r| r.name == name && r.parent == parent).ok_or_else(|| format!("no category {path}"))?;
        parent = Some(found.code.clone());
    }
    parent.ok_or_else(|| format!("empty category path {path:?}"))
}

#[derive(Deserialize)]
struct Demo {
    dispatch: Vec<DispatchEntry>,
    attributes: Vec<AttributesEntry>,
    grids: Vec<GridEntry>,
    grid_workers: Vec<GridWorkerEntry>,
    patrol_items: Vec<PatrolItemEntry>,
    sensor_thresholds: Vec<ThresholdEntry>,
    sensors: Vec<SensorEntry>,
    knowledge: Vec<KnowledgeEntry>,
}

#[derive(Deserialize)]
struct DispatchEntry {
    category: String,
    department: Option<String>,
    #[serde(default)]
    territorial: bool,
}

#[derive(Deserialize)]
struct AttributesEntry {
    category: String,
    attributes: serde_json::Value,
}

#[derive(Deserialize)]
struct GridEntry {
    code: String,
    name: String,
    community: String,
    /// [west, south, east, north]
    #[serde(rename = "box")]
    bounds: [f64; 4],
}

#[derive(Deserialize)]
struct GridWorkerEntry {
    login: String,
    grid: String,
}

#[derive(Deserialize)]
struct PatrolItemEntry {
    department: String,
    name: String,
    guidance: String,
    category: String,
}

#[derive(Deserialize)]
struct ThresholdEntry {
    kind: String,
    unit: String,
    above: f64,
    category: String,
    title: String,
}

#[derive(Deserialize)]
struct SensorEntry {
    device_id: String,
    kind: String,
    name: String,
    address: String,
    lat: f64,
    lon: f64,
    client: String,
}

#[derive(Deserialize)]
struct KnowledgeEntry {
    title: String,
    category: String,
    keywords: String,
    body: String,
}

/// Guangdong's and Zhuhai's default time limits, where none are set.
pub async fn default_limits(conn: &mut Conn) -> Result<(), sqlx::Error> {
    for (request_type, kind, respond, days) in super::limits::DEFAULTS {
        store::set_time_limit(conn, request_type.as_str(), kind.as_str(), *respond, *days).await?;
    }
    Ok(())
}

fn demo_error(message: String) -> sqlx::Error {
    sqlx::Error::Protocol(format!("demo work-order data: {message}"))
}

/// Loads the demo city's work-order set-up. `account` finds a demo account's id by login.
pub async fn load_demo(conn: &mut Conn) -> Result<(), sqlx::Error> {
    let tree = read_tree_csv(DEMO_CATEGORIES).map_err(demo_error)?;
    let demo: Demo = serde_json::from_str(DEMO).map_err(|e| demo_error(e.to_string()))?;
    let code = |path: &str| code_of(&tree, path).map_err(demo_error);
    let mut attributes: HashMap<String, String> = HashMap::new();
    for entry in &demo.attributes {
        attributes.insert(code(&entry.category)?, entry.attributes.to_string());
    }
    for row in &tree {
        let attrs = attributes.get(&row.code).map_or("[]", String::as_str);
        store::insert_category(conn, &row.code, &row.name, row.level, row.parent.as_deref(), attrs).await?;
    }
    for entry in &demo.dispatch {
        store::set_dispatch(conn, &code(&entry.category)?, entry.department.as_deref(), entry.territorial).await?;
    }
    default_limits(conn).await?;
    for grid in &demo.grids {
        let [w, s, e, n] = grid.bounds;
        let geometry =
            serde_json::json!({"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]});
        crate::grid::store::upsert(conn, &grid.code, &grid.name, &grid.community, &geometry.to_string()).await?;
    }
    for worker in &demo.grid_workers {
        let account = account_id(conn, &worker.login).await?;
        crate::grid::store::add_worker(conn, &worker.grid, account).await?;
    }
    for item in &demo.patrol_items {
        sqlx::query(
            "INSERT INTO patrol_items (department_code, name, guidance, category_code) VALUES ($1, $2, $3, $4)",
        )
        .bind(&item.department)
        .bind(&item.name)
        .bind(&item.guidance)
        .bind(code(&item.category)?)
        .execute(&mut *conn)
        .await?;
    }
    for t in &demo.sensor_thresholds {
        sqlx::query(
            "INSERT INTO sensor_thresholds (kind, unit, above_milli, category_code, title) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&t.kind)
        .bind(&t.unit)
        .bind((t.above * 1000.0).round() as i64)
        .bind(code(&t.category)?)
        .bind(&t.title)
        .execute(&mut *conn)
        .await?;
    }
    for s in &demo.sensors {
        let account = account_id(conn, &s.client).await?;
        sqlx::query(
            "INSERT INTO sensor_devices (device_id, kind, name, address, lat_e6, lon_e6, account_id)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&s.device_id)
        .bind(&s.kind)
        .bind(&s.name)
        .bind(&s.address)
        .bind((s.lat * 1e6).round() as i64)
        .bind((s.lon * 1e6).round() as i64)
        .bind(account)
        .execute(&mut *conn)
        .await?;
    }
    for k in &demo.knowledge {
        sqlx::query(
            "INSERT INTO knowledge_articles (title, body, category_code, keywords, updated_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&k.title)
        .bind(&k.body)
        .bind(code(&k.category)?)
        .bind(&k.keywords)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn account_id(conn: &mut Conn, login: &str) -> Result<i64, sqlx::Error> {
    crate::identity::account_id_by_login(conn, login)
        .await
        .map_err(|e| demo_error(e.to_string()))?
        .ok_or_else(|| demo_error(format!("no demo account {login}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_loads_only_with_each_parent_first_and_one_level_up() {
        let row = |code: &str, level: i64, parent: Option<&str>| CategoryRow {
            code: code.into(),
            name: format!("名{code}"),
            level,
            parent: parent.map(str::to_owned),
        };
        let good = [row("01", 1, None), row("0101", 2, Some("01")), row("010101", 3, Some("0101"))];
        assert_eq!(check_tree(&good), Ok(()));
        let orphan = [row("01", 1, None), row("010101", 3, Some("0101"))];
        assert!(check_tree(&orphan).unwrap_err().contains("line 3 (010101)"));
        let skipped = [row("01", 1, None), row("010101", 3, Some("01"))];
        assert!(check_tree(&skipped).is_err(), "a level-3 category directly under level 1");
        let twice = [row("01", 1, None), row("01", 1, None)];
        assert!(check_tree(&twice).unwrap_err().contains("twice"));
        assert!(check_tree(&[row("01", 4, None)]).unwrap_err().contains("1, 2 or 3"));
        assert!(check_tree(&[]).is_err());
    }

    #[test]
    fn trees_are_numbered_by_first_appearance() {
        let rows = number_tree("level1,level2,level3\n城乡建设,安全生产,事故处理\n城乡建设,安全生产,安全隐患\n城乡建设,城乡规划,违章建筑\n交通运输,其他,其他\n").unwrap();
        let codes: Vec<(&str, &str)> = rows.iter().map(|r| (r.code.as_str(), r.name.as_str())).collect();
        assert_eq!(
            codes,
            [
                ("01", "城乡建设"),
                ("0101", "安全生产"),
                ("010101", "事故处理"),
                ("010102", "安全隐患"),
                ("0102", "城乡规划"),
                ("010201", "违章建筑"),
                ("02", "交通运输"),
                ("0201", "其他"),
                ("020101", "其他")
            ]
        );
        assert_eq!(code_of(&rows, "城乡建设/城乡规划/违章建筑").unwrap(), "010201");
        assert!(code_of(&rows, "城乡建设/违章建筑").is_err());
        assert_eq!(read_tree_csv(&tree_csv(&rows)).unwrap(), rows);
    }

    #[test]
    fn the_demo_set_up_names_only_known_categories() {
        let tree = read_tree_csv(DEMO_CATEGORIES).unwrap();
        assert_eq!(tree.iter().filter(|r| r.level == 1).count(), 15);
        let demo: Demo = serde_json::from_str(DEMO).unwrap();
        let paths = demo.dispatch.iter().map(|d| &d.category).chain(demo.patrol_items.iter().map(|p| &p.category));
        for path in paths.chain(demo.sensor_thresholds.iter().map(|t| &t.category)) {
            assert!(code_of(&tree, path).is_ok(), "{path}");
        }
    }
}
