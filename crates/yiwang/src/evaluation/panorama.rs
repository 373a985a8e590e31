//! The service panorama (政务服务全景图): the evaluation figures of a region, department, item and
//! period, computed with SQL aggregates from the stored ratings and rectifications on every
//! request, so they always agree with the rating list beside them.
//!
//! Definitions (also in the README):
//! - A *counted* rating is one given by a person (not the default), not ruled malicious or
//!   unfounded, and the latest such rating of its service event: a second rating after a
//!   rectification replaces the first in the figures (the first stays in the record).
//! - *Positive rate* (好评率) = counted ratings of 非常满意, 满意 or 基本满意 / all counted
//!   ratings. Default ratings and ruled-out ratings are counted apart.
//! - *On-time rate* (整改按时率) = rectifications replied by their deadline / rectifications due
//!   (replied, or past their deadline unreplied); those of ruled-out ratings are left out.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::model::{Level, RatingChannel, Tag};
use super::{EvaluationError, Result};
use crate::identity::Principal;
use crate::store::{Store, from_ms};

const DAY_MS: i64 = 86_400_000;
const CHINA_OFFSET_MS: i64 = 8 * 3_600_000;

/// What to look at: a region (code), a department (code), an item (code), a period (China days,
/// inclusive).
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
pub struct Filter {
    pub region: Option<String>,
    pub department: Option<String>,
    pub item: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

/// Ratings of one group.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Line {
    pub code: String,
    pub name: String,
    pub ratings: u64,
    pub positive: u64,
    pub bad: u64,
    pub positive_rate: Option<f64>,
}

impl Line {
    fn add(&mut self, level: Level, n: u64) {
        self.ratings += n;
        if level.is_positive() {
            self.positive += n;
        } else {
            self.bad += n;
        }
        self.positive_rate = rate(self.positive, self.ratings);
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LevelCount {
    pub level: Level,
    pub label: &'static str,
    pub count: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ChannelCount {
    pub code: u8,
    pub channel: RatingChannel,
    pub label: &'static str,
    pub count: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TagCount {
    pub tag: Tag,
    pub label: &'static str,
    pub count: u64,
}

/// An item among the worst rated, with what its bad ratings were about.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorstItem {
    #[serde(flatten)]
    pub line: Line,
    pub department: String,
    pub tags: Vec<TagCount>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rectifications {
    pub opened: u64,
    /// Replied, or past the deadline unreplied.
    pub due: u64,
    pub on_time: u64,
    pub on_time_rate: Option<f64>,
    /// Not replied yet.
    pub open: u64,
    /// Not replied and past the deadline.
    pub overdue: u64,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Figures {
    /// The region looked at (the city when none was named) and the narrower scope, if any.
    pub region_code: String,
    pub region_name: String,
    pub department: Option<String>,
    pub item: Option<String>,
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
    /// Counted ratings (see the definitions).
    pub ratings: u64,
    pub positive: u64,
    pub positive_rate: Option<f64>,
    pub by_level: Vec<LevelCount>,
    /// Default ratings given by the job, counted apart.
    pub default_ratings: u64,
    /// Ratings ruled malicious or unfounded, left out.
    pub ruled_out: u64,
    pub rectifications: Rectifications,
    /// The regions one level down (the region's own departments as «本级»).
    pub by_region: Vec<Line>,
    pub by_department: Vec<Line>,
    pub by_item: Vec<Line>,
    pub by_channel: Vec<ChannelCount>,
    /// Per China day: counted ratings and positive ones.
    pub by_day: Vec<Line>,
    pub by_month: Vec<Line>,
    /// Items with bad ratings, lowest positive rate first (at most 10).
    pub worst_items: Vec<WorstItem>,
}

fn rate(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// The SQL condition of the filter on `service_events e` and the column `at` of the period, with
/// its parameters from `$first`.
struct Where {
    sql: String,
    binds: Vec<Bind>,
}

enum Bind {
    Text(String),
    Int(i64),
}

fn where_clause(filter: &Filter, region_path: &str, at: &str, first: usize) -> Where {
    let mut sql = Vec::new();
    let mut binds = Vec::new();
    let mut push = |clause: &str, bind: Bind| {
        binds.push(bind);
        sql.push(clause.replace('?', &format!("${}", first + binds.len() - 1)));
    };
    push("e.region_path LIKE ?", Bind::Text(format!("{region_path}%")));
    if let Some(d) = &filter.department {
        push("e.department_code = ?", Bind::Text(d.clone()));
    }
    if let Some(i) = &filter.item {
        push("e.item_code = ?", Bind::Text(i.clone()));
    }
    if let Some(from) = filter.from {
        push(&format!("{at} >= ?"), Bind::Int(day_start(from)));
    }
    if let Some(to) = filter.to {
        push(&format!("{at} < ?"), Bind::Int(day_start(to) + DAY_MS));
    }
    Where { sql: sql.join(" AND "), binds }
}

fn day_start(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0).map(|d| d.and_utc().timestamp_millis()).unwrap_or_default() - CHINA_OFFSET_MS
}

macro_rules! bound {
    ($query:expr, $binds:expr) => {{
        let mut q = $query;
        for b in $binds {
            q = match b {
                Bind::Text(t) => q.bind(t.clone()),
                Bind::Int(i) => q.bind(*i),
            };
        }
        q
    }};
}

/// Ratings that count: by a person, not ruled out, the latest such of their event.
const COUNTED: &str = "r.ruling IS NULL AND r.is_default = 0 AND NOT EXISTS (
    SELECT 1 FROM ratings l WHERE l.event_id = r.event_id AND l.round > r.round AND l.ruling IS NULL AND l.is_default = 0)";

type Group = (String, String, String, String, String, String, i64, i64, i64);

/// The region looked at: its code, name and path; the city when none is named.
async fn region_of(store: &Store, filter: &Filter) -> Result<(String, String, String, Vec<crate::identity::Region>)> {
    let regions = crate::identity::regions(store).await?;
    let chosen = match filter.region.as_deref().filter(|r| !r.is_empty()) {
        Some(code) => regions
            .iter()
            .find(|r| r.code == code)
            .ok_or_else(|| super::invalid("region", "没有此区域 / no such region"))?,
        None => regions.iter().find(|r| r.parent_code.is_none()).ok_or(EvaluationError::NotFound)?,
    };
    let path = path_of(&regions, &chosen.code);
    Ok((chosen.code.clone(), chosen.name.clone(), path, regions))
}

fn path_of(regions: &[crate::identity::Region], code: &str) -> String {
    let mut parts = vec![code.to_owned()];
    let mut at = code.to_owned();
    while let Some(parent) = regions.iter().find(|r| r.code == at).and_then(|r| r.parent_code.clone()) {
        parts.push(parent.clone());
        at = parent;
    }
    parts.reverse();
    format!("/{}/", parts.join("/"))
}

fn check(filter: &Filter) -> Result<()> {
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(super::invalid("to", "结束日期早于开始日期 / ends before it starts"));
    }
    Ok(())
}

/// The panorama's figures for the filter, at `now` (for what is overdue).
pub async fn figures(store: &Store, filter: &Filter, now: DateTime<Utc>) -> Result<Figures> {
    check(filter)?;
    let (region_code, region_name, path, regions) = region_of(store, filter).await?;
    let mut conn = store.pool().acquire().await?;
    let w = where_clause(filter, &path, "r.rated_at", 1);
    let sql = format!(
        "SELECT e.region_path, e.department_code, e.department_name, e.item_code, e.item_name, r.level,
                r.channel, (r.rated_at + {CHINA_OFFSET_MS}) / {DAY_MS} AS day, COUNT(*) AS n
         FROM ratings r JOIN service_events e ON e.id = r.event_id
         WHERE {COUNTED} AND {}
         GROUP BY e.region_path, e.department_code, e.department_name, e.item_code, e.item_name, r.level, r.channel,
                  (r.rated_at + {CHINA_OFFSET_MS}) / {DAY_MS}",
        w.sql
    );
    let groups: Vec<Group> = bound!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &w.binds).fetch_all(&mut *conn).await?;

    let sql = format!(
        "SELECT COALESCE(SUM(CASE WHEN r.is_default = 1 AND r.ruling IS NULL THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN r.ruling IS NOT NULL THEN 1 ELSE 0 END), 0)
         FROM ratings r JOIN service_events e ON e.id = r.event_id WHERE {}",
        w.sql
    );
    let (defaults, ruled): (i64, i64) =
        bound!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &w.binds).fetch_one(&mut *conn).await?;

    let wx = where_clause(filter, &path, "x.opened_at", 2);
    let sql = format!(
        "SELECT COUNT(*),
                COALESCE(SUM(CASE WHEN x.replied_at IS NOT NULL OR x.deadline_at < $1 THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN x.replied_at IS NOT NULL AND x.replied_at <= x.deadline_at THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN x.replied_at IS NULL THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN x.replied_at IS NULL AND x.deadline_at < $1 THEN 1 ELSE 0 END), 0)
         FROM rectifications x JOIN ratings r ON r.id = x.rating_id JOIN service_events e ON e.id = x.event_id
         WHERE r.ruling IS NULL AND {}",
        wx.sql
    );
    let (opened, due, on_time, open, overdue): (i64, i64, i64, i64, i64) =
        bound!(sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(now.timestamp_millis()), &wx.binds)
            .fetch_one(&mut *conn)
            .await?;

    let sql = format!(
        "SELECT e.item_code, t.tag, COUNT(*) FROM rating_tags t JOIN ratings r ON r.id = t.rating_id
         JOIN service_events e ON e.id = r.event_id
         WHERE {COUNTED} AND r.level IN ('dissatisfied', 'very_dissatisfied') AND {}
         GROUP BY e.item_code, t.tag",
        w.sql
    );
    let tags: Vec<(String, String, i64)> =
        bound!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &w.binds).fetch_all(&mut *conn).await?;
    drop(conn);

    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let mut total = Line::default();
    let mut levels: BTreeMap<u8, u64> = BTreeMap::new();
    let mut channels: BTreeMap<u8, u64> = BTreeMap::new();
    let mut by_region: BTreeMap<String, Line> = BTreeMap::new();
    let mut by_department: BTreeMap<String, Line> = BTreeMap::new();
    let mut by_item: BTreeMap<String, Line> = BTreeMap::new();
    let mut item_department: HashMap<String, String> = HashMap::new();
    let mut by_day: BTreeMap<i64, Line> = BTreeMap::new();
    let names: HashMap<&str, &str> = regions.iter().map(|r| (r.code.as_str(), r.name.as_str())).collect();
    for (region_path, dep_code, dep_name, item_code, item_name, level, channel, day, count) in groups {
        let Some(level) = Level::parse(&level) else { continue };
        let count = n(count);
        total.add(level, count);
        *levels.entry(level.gbt_code()).or_default() += count;
        *channels.entry(u8::try_from(channel).unwrap_or(0)).or_default() += count;
        // The child region one level below the one looked at, or the region itself.
        let below = region_path.strip_prefix(path.as_str()).unwrap_or("");
        let (child, own) = match below.split('/').next().filter(|c| !c.is_empty()) {
            Some(child) => (child.to_owned(), false),
            None => (region_code.clone(), true),
        };
        let region_line = by_region.entry(child.clone()).or_insert_with(|| Line {
            name: match (names.get(child.as_str()), own) {
                (Some(name), true) => format!("{name}（本级）"),
                (Some(name), false) => (*name).to_owned(),
                (None, _) => child.clone(),
            },
            code: child.clone(),
            ..Line::default()
        });
        region_line.add(level, count);
        let dep = by_department.entry(dep_code.clone()).or_insert_with(|| Line {
            code: dep_code.clone(),
            name: dep_name.clone(),
            ..Line::default()
        });
        dep.add(level, count);
        item_department.entry(item_code.clone()).or_insert(dep_name);
        by_item
            .entry(item_code.clone())
            .or_insert_with(|| Line { code: item_code, name: item_name, ..Line::default() })
            .add(level, count);
        let date = chrono::DateTime::from_timestamp(day * 86_400, 0).map(|d| d.date_naive()).unwrap_or_default();
        by_day
            .entry(day)
            .or_insert_with(|| Line { code: date.to_string(), name: date.to_string(), ..Line::default() })
            .add(level, count);
    }
    let mut by_month: BTreeMap<String, Line> = BTreeMap::new();
    for line in by_day.values() {
        let month = line.code.get(..7).unwrap_or_default().to_owned();
        let m = by_month.entry(month.clone()).or_insert_with(|| Line {
            code: month.clone(),
            name: month,
            ..Line::default()
        });
        m.ratings += line.ratings;
        m.positive += line.positive;
        m.bad += line.bad;
        m.positive_rate = rate(m.positive, m.ratings);
    }
    let mut tag_map: HashMap<String, Vec<TagCount>> = HashMap::new();
    for (item, tag, count) in tags {
        if let Some(tag) = Tag::parse(&tag) {
            tag_map.entry(item).or_default().push(TagCount { tag, label: tag.label_zh(), count: n(count) });
        }
    }
    let by_rate = |a: &Line, b: &Line| b.ratings.cmp(&a.ratings).then_with(|| a.code.cmp(&b.code));
    let mut by_department: Vec<Line> = by_department.into_values().collect();
    by_department.sort_by(by_rate);
    let mut by_item: Vec<Line> = by_item.into_values().collect();
    by_item.sort_by(by_rate);
    let mut worst: Vec<&Line> = by_item.iter().filter(|l| l.bad > 0).collect();
    worst.sort_by(|a, b| {
        a.positive_rate
            .partial_cmp(&b.positive_rate)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| b.bad.cmp(&a.bad))
    });
    let worst_items = worst
        .into_iter()
        .take(10)
        .map(|l| {
            let mut tags = tag_map.remove(&l.code).unwrap_or_default();
            tags.sort_by_key(|t| std::cmp::Reverse(t.count));
            WorstItem { line: l.clone(), department: item_department.get(&l.code).cloned().unwrap_or_default(), tags }
        })
        .collect();
    Ok(Figures {
        region_code,
        region_name,
        department: filter.department.clone(),
        item: filter.item.clone(),
        from: filter.from,
        to: filter.to,
        ratings: total.ratings,
        positive: total.positive,
        positive_rate: total.positive_rate,
        by_level: Level::ALL
            .iter()
            .map(|l| LevelCount {
                level: *l,
                label: l.label_zh(),
                count: levels.get(&l.gbt_code()).copied().unwrap_or(0),
            })
            .collect(),
        default_ratings: n(defaults),
        ruled_out: n(ruled),
        rectifications: Rectifications {
            opened: n(opened),
            due: n(due),
            on_time: n(on_time),
            on_time_rate: rate(n(on_time), n(due)),
            open: n(open),
            overdue: n(overdue),
        },
        by_region: by_region.into_values().collect(),
        by_department,
        by_item,
        by_channel: RatingChannel::ALL
            .iter()
            .map(|c| ChannelCount {
                code: c.code(),
                channel: *c,
                label: c.label_zh(),
                count: channels.get(&c.code()).copied().unwrap_or(0),
            })
            .collect(),
        by_day: by_day.into_values().collect(),
        by_month: by_month.into_values().collect(),
        worst_items,
    })
}

/// One rating in the drill-down list.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListedRating {
    pub id: i64,
    /// The application's or work order's number, for staff of the region only.
    pub reference: Option<String>,
    pub kind: super::model::EventKind,
    pub item_code: String,
    pub item_name: String,
    pub department: String,
    pub round: i64,
    pub level: Level,
    pub level_zh: &'static str,
    pub channel_code: u8,
    pub tags: Vec<Tag>,
    /// For staff of the region only.
    pub text: Option<String>,
    pub is_default: bool,
    /// Whether the figures count it (see the definitions).
    pub counted: bool,
    pub ruling: Option<super::model::Ruling>,
    pub ruling_reason: Option<String>,
    pub rated_at: DateTime<Utc>,
}

type ListRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    i64,
    String,
    i64,
    Option<String>,
    Option<String>,
    i64,
    i64,
);

/// The ratings behind the figures, newest first; staff who reach the region see texts and
/// references.
pub async fn ratings(
    store: &Store,
    viewer: Option<&Principal>,
    filter: &Filter,
    limit: i64,
) -> Result<Vec<ListedRating>> {
    check(filter)?;
    let (_, _, path, _) = region_of(store, filter).await?;
    let w = where_clause(filter, &path, "r.rated_at", 1);
    let sql = format!(
        "SELECT r.id, e.kind, e.reference, e.item_code, e.item_name, e.department_name, e.region_path, r.round, r.level,
                r.channel, r.body, r.is_default, r.ruling, r.ruling_reason, r.rated_at,
                CASE WHEN {COUNTED} THEN 1 ELSE 0 END
         FROM ratings r JOIN service_events e ON e.id = r.event_id
         WHERE {} ORDER BY r.rated_at DESC, r.id DESC LIMIT {}",
        w.sql,
        limit.clamp(1, 500)
    );
    let mut conn = store.pool().acquire().await?;
    let rows: Vec<ListRow> = bound!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), &w.binds).fetch_all(&mut *conn).await?;
    let mut out = Vec::with_capacity(rows.len());
    for (
        id,
        kind,
        reference,
        item_code,
        item_name,
        department,
        region_path,
        round,
        level,
        channel,
        body,
        is_default,
        ruling,
        reason,
        at,
        counted,
    ) in rows
    {
        let staff = viewer.is_some_and(|v| v.reaches(&region_path));
        let level = Level::parse(&level).unwrap_or(super::DEFAULT_LEVEL);
        let tags = super::store::tags_of(&mut conn, id).await?.iter().filter_map(|t| Tag::parse(t)).collect();
        out.push(ListedRating {
            id,
            reference: staff.then_some(reference),
            kind: super::model::EventKind::parse(&kind).unwrap_or(super::model::EventKind::Window),
            item_code,
            item_name,
            department,
            round,
            level,
            level_zh: level.label_zh(),
            channel_code: u8::try_from(channel).unwrap_or(0),
            tags,
            text: staff.then_some(body),
            is_default: is_default == 1,
            counted: counted == 1,
            ruling: ruling.as_deref().and_then(super::model::Ruling::parse),
            ruling_reason: reason,
            rated_at: from_ms(at),
        });
    }
    Ok(out)
}

/// The figures as CSV: the totals, then a line per region, department, item, channel and month.
pub fn csv(f: &Figures) -> String {
    let mut out = String::from("\u{feff}section,code,name,ratings,positive,bad,positive_rate\n");
    let cell =
        |s: &str| if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_owned() };
    let rate = |r: Option<f64>| r.map(|r| format!("{r:.4}")).unwrap_or_default();
    out.push_str(&format!(
        "total,{},{},{},{},{},{}\n",
        cell(&f.region_code),
        cell(&f.region_name),
        f.ratings,
        f.positive,
        f.ratings - f.positive,
        rate(f.positive_rate)
    ));
    out.push_str(&format!(
        "rectification_on_time,,,{},{},,{}\n",
        f.rectifications.due,
        f.rectifications.on_time,
        rate(f.rectifications.on_time_rate)
    ));
    out.push_str(&format!("default_ratings,,,{},,,\n", f.default_ratings));
    for (section, lines) in
        [("region", &f.by_region), ("department", &f.by_department), ("item", &f.by_item), ("month", &f.by_month)]
    {
        for l in lines {
            out.push_str(&format!(
                "{section},{},{},{},{},{},{}\n",
                cell(&l.code),
                cell(&l.name),
                l.ratings,
                l.positive,
                l.bad,
                rate(l.positive_rate)
            ));
        }
    }
    for c in &f.by_channel {
        out.push_str(&format!("channel,{},{},{},,,\n", c.code, c.label, c.count));
    }
    out
}
