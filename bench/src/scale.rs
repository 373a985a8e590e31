//! Load at scale (issue 9): a PostgreSQL database filled with millions of synthetic work orders
//! and applications, then the latency of what supervisors and staff read most — the supervisor's
//! board, the statistics, the work-order lists and the applications' lists — over the real HTTP
//! API of a started app.
//!
//! The demo city is loaded through the app (regions, departments, categories, the dispatch
//! catalogue, grids, accounts, the catalogue); the bulk rows are written with server-side SQL
//! (`INSERT … SELECT FROM generate_series`, ids in time order) and bypass the app: no evidence-log
//! leaves, no timeline events and no outbox rows for the synthetic history (none of the measured
//! reads use them); the statistics' running totals are counted from them afterwards.
//! Distributions are described beside each draw below.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection;

use crate::{percentile, round};

const DAY_MS: i64 = 86_400_000;
/// Days of history.
const HISTORY_DAYS: i64 = 1095;
const CHUNK: i64 = 500_000;
const TARGET_MS: f64 = 100.0;

pub struct Options {
    pub database_url: String,
    pub workorders: i64,
    pub applications: i64,
    pub samples: usize,
    pub keep: bool,
    /// Skip the fill and measure an earlier run's database (kept with `--keep`).
    pub reuse: bool,
}

pub async fn run(o: Options) {
    let url = fresh_database(&o.database_url, "yiwang_scale", o.reuse).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = yiwang::config::Config::for_tests(dir.path(), Some(url.clone()));
    config.worker_idle_ms = 60_000;
    let started = Instant::now();
    let state = yiwang::open(config).await.expect("open");
    emit(json!({"scenario": "scale_open", "seconds": round(started.elapsed().as_secs_f64())}));
    if !o.reuse {
        yiwang::demo::load(&state).await.expect("demo");
        add_district_supervisor(&state.store).await;
        let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
        fill(&mut conn, o.workorders, o.applications).await;
        // The bulk rows bypassed the app, so the statistics' running totals are counted once,
        // as migration 0021 counts an existing database's orders.
        let started = Instant::now();
        let mut tx = state.store.begin_write().await.expect("begin");
        yiwang::workorders::tallies::recount(&mut tx).await.expect("count the tallies");
        tx.commit().await.expect("commit");
        exec(&mut conn, "VACUUM (ANALYZE) workorder_tallies").await;
        let rows = scalar(&mut conn, "SELECT COUNT(*) FROM workorder_tallies").await;
        emit(json!({"scenario": "scale_fill", "tallies": rows, "seconds": round(started.elapsed().as_secs_f64())}));
    }
    state.workorders.reload(&state.store).await.expect("routing");
    let running = yiwang::start(state).await.expect("start");
    let base = format!("http://{}", running.addr);
    measure(&base, &url, o.samples).await;
    running.stop().await.expect("stop");
    if !o.keep {
        drop_database(&o.database_url, "yiwang_scale").await;
    }
}

fn emit(line: Value) {
    println!("{line}");
}

/// An empty database `name` beside the one in `url` (unless reusing it).
async fn fresh_database(url: &str, name: &str, reuse: bool) -> String {
    let (server, _) = url.rsplit_once('/').expect("a database name in the URL");
    if !reuse {
        let mut admin = sqlx::PgConnection::connect(url).await.expect("connect to PostgreSQL");
        for statement in [format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"), format!("CREATE DATABASE {name}")] {
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&mut admin).await.expect("make the database");
        }
    }
    format!("{server}/{name}")
}

async fn drop_database(url: &str, name: &str) {
    let mut admin = sqlx::PgConnection::connect(url).await.expect("connect to PostgreSQL");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
        .execute(&mut admin)
        .await
        .expect("drop the database");
}

/// A supervisor of one district (斗门区), to measure the district-scoped board and statistics.
async fn add_district_supervisor(store: &yiwang::store::Store) {
    use yiwang::identity::{self, NewStaff, Role};
    let hash = identity::password::hash(yiwang::demo::DEMO_PASSWORD).await.expect("hash");
    let mut tx = store.begin_write().await.expect("begin");
    let department = identity::department_id(&mut tx, "440403-ZSJ").await.expect("department").expect("斗门区");
    let staff = NewStaff {
        login: "doumen_supervisor".into(),
        display_name: "斗门督办 韩雪".into(),
        roles: vec![(department, Role::Supervisor)],
    };
    identity::create_staff(&mut tx, None, staff, &hash).await.expect("district supervisor");
    tx.commit().await.expect("commit");
}

/// `n` rows `(i, values…)` where row values repeat by weight, so that a uniform draw of
/// `floor(random() * n)` picks each with its weight.
fn weighted(columns: &str, rows: &[(&str, u32)]) -> String {
    let mut values = Vec::new();
    for (row, weight) in rows {
        for _ in 0..*weight {
            values.push(format!("({}, {row})", values.len()));
        }
    }
    format!("(VALUES {}) AS t (i, {columns})", values.join(", "))
}

async fn exec(conn: &mut sqlx::PgConnection, sql: &str) -> u64 {
    sqlx::raw_sql(sqlx::AssertSqlSafe(sql.to_owned()))
        .execute(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
        .rows_affected()
}

async fn scalar(conn: &mut sqlx::PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
        .fetch_one(conn)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
}

/// The demo grids' bounding boxes (the grids are rectangles in the demo city).
fn grids() -> Vec<(String, String, [f64; 4])> {
    let demo: Value =
        serde_json::from_str(include_str!("../../crates/yiwang/demo/workorders.json")).expect("demo work orders");
    demo["grids"]
        .as_array()
        .expect("grids")
        .iter()
        .map(|g| {
            let b: Vec<f64> = g["box"].as_array().expect("box").iter().map(|v| v.as_f64().expect("number")).collect();
            (
                g["code"].as_str().expect("code").to_owned(),
                g["community"].as_str().expect("community").to_owned(),
                [b[0], b[1], b[2], b[3]],
            )
        })
        .collect()
}

async fn fill(conn: &mut sqlx::PgConnection, workorders: i64, applications: i64) {
    let now_ms = chrono::Utc::now().timestamp_millis();
    let today = (chrono::Utc::now() + chrono::TimeDelta::hours(8)).date_naive();
    let today_midnight =
        (today.and_time(chrono::NaiveTime::MIN) - chrono::TimeDelta::hours(8)).and_utc().timestamp_millis();
    exec(conn, "SET maintenance_work_mem = '1GB'; SET synchronous_commit = off; SET work_mem = '256MB'").await;

    // Lookup tables. Categories: level-3 codes in a fixed shuffled order, drawn Zipf-like
    // (index = n·u^2.5: the first few take most orders), each with its department from the
    // dispatch catalogue (inherited from the parent when it has no entry; territorial matters go
    // to the place's town or district government).
    exec(
        conn,
        "CREATE TEMP TABLE s_cat AS
         SELECT (row_number() OVER (ORDER BY md5(c.code)) - 1)::int AS i, c.code, c.name,
                dept.id AS department_id, COALESCE(dc.territorial, 0) AS territorial
         FROM workorder_categories c
         LEFT JOIN LATERAL (SELECT department_code, territorial FROM dispatch_catalogue
                            WHERE category_code IN (c.code, substr(c.code, 1, 4), substr(c.code, 1, 2))
                            ORDER BY length(category_code) DESC LIMIT 1) dc ON true
         LEFT JOIN departments dept ON dept.code = dc.department_code
         WHERE c.level = 3",
    )
    .await;
    let categories = scalar(conn, "SELECT COUNT(*) FROM s_cat").await;
    // Places: the demo grids (most orders, the dense district first) and, for orders without a
    // point inside a grid, a street or the city itself.
    let mut places = Vec::new();
    for (code, community, b) in grids() {
        let weight = if community.starts_with("440402") { 14 } else { 8 };
        places.push((
            format!(
                "'{code}', '{community}', {}, {}, {}, {}",
                (b[1] * 1e6) as i64,
                (b[3] * 1e6) as i64,
                (b[0] * 1e6) as i64,
                (b[2] * 1e6) as i64
            ),
            weight,
        ));
    }
    for (street, weight) in [("440402002", 4), ("440403101", 3), ("440404101", 3), ("440400", 6)] {
        places.push((format!("NULL, '{street}', NULL, NULL, NULL, NULL"), weight));
    }
    let place_rows: Vec<(&str, u32)> = places.iter().map(|(r, w)| (r.as_str(), *w)).collect();
    exec(
        conn,
        &format!(
            "CREATE TEMP TABLE s_place AS
             SELECT t.i, t.grid, t.region, t.lat0, t.lat1, t.lon0, t.lon1, r.name AS region_name,
                    COALESCE((SELECT id FROM departments WHERE region_code = substr(t.region, 1, 9) AND length(t.region) >= 9
                                ORDER BY code LIMIT 1),
                             (SELECT id FROM departments WHERE code = substr(t.region, 1, 6) || '-CGJ'),
                             (SELECT id FROM departments WHERE code = substr(t.region, 1, 6) || '-ZSJ')) AS local_department
             FROM {} JOIN regions r ON r.code = t.region",
            weighted("grid, region, lat0, lat1, lon0, lon1", &place_rows)
        ),
    )
    .await;
    let place_count = scalar(conn, "SELECT COUNT(*) FROM s_place").await;
    // Channels: the 12345 hotline takes most.
    let channel_rows =
        [("'hotline'", 68), ("'app'", 12), ("'grid'", 9), ("'web'", 8), ("'sensor'", 2), ("'open311'", 1)];
    exec(conn, &format!("CREATE TEMP TABLE s_channel AS SELECT * FROM {}", weighted("channel", &channel_rows))).await;
    // Request types with their time limits (working days ≈ ×1.4 calendar days).
    let type_rows = [
        ("'consult', 3", 35),
        ("'help', 10", 25),
        ("'complaint', 10", 25),
        ("'suggestion', 15", 8),
        ("'report', 15", 5),
        ("'praise', 5", 2),
    ];
    exec(conn, &format!("CREATE TEMP TABLE s_type AS SELECT * FROM {}", weighted("request_type, days", &type_rows)))
        .await;
    // Hours of the day (China time): the hotline's day peaks mid-morning and mid-afternoon.
    let hour_weights = [1, 1, 1, 1, 1, 1, 2, 4, 8, 11, 11, 9, 6, 7, 10, 10, 9, 7, 5, 4, 3, 3, 2, 1];
    let hours: Vec<(String, u32)> = hour_weights.iter().enumerate().map(|(h, w)| (h.to_string(), *w)).collect();
    let hour_rows: Vec<(&str, u32)> = hours.iter().map(|(h, w)| (h.as_str(), *w)).collect();
    exec(conn, &format!("CREATE TEMP TABLE s_hour AS SELECT * FROM {}", weighted("hour", &hour_rows))).await;
    let open_states = [("'pending'", 10), ("'dispatched'", 20), ("'signed'", 55), ("'replied'", 15)];
    exec(conn, &format!("CREATE TEMP TABLE s_open AS SELECT * FROM {}", weighted("state", &open_states))).await;
    let levels = [
        ("'very_satisfied'", 45),
        ("'satisfied'", 30),
        ("'basically_satisfied'", 15),
        ("'dissatisfied'", 7),
        ("'very_dissatisfied'", 3),
    ];
    exec(conn, &format!("CREATE TEMP TABLE s_level AS SELECT * FROM {}", weighted("level", &levels))).await;
    exec(conn, "ANALYZE s_cat; ANALYZE s_place; ANALYZE s_channel; ANALYZE s_type; ANALYZE s_hour; ANALYZE s_open; ANALYZE s_level").await;

    // Secondary indexes are dropped for the load and built again after it (how a bulk load is
    // done); the unique constraints stay.
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = 'public'
           AND tablename IN ('workorders', 'applications')
           AND indexname NOT IN (SELECT conname FROM pg_constraint)",
    )
    .fetch_all(&mut *conn)
    .await
    .expect("indexes");
    for (name, _) in &indexes {
        exec(conn, &format!("DROP INDEX {name}")).await;
    }

    let base = scalar(conn, "SELECT COALESCE(MAX(id), 0) FROM workorders").await;
    let started = Instant::now();
    let mut done = 0;
    while done < workorders {
        let (first, last) = (base + done + 1, base + (done + CHUNK).min(workorders));
        let sql =
            workorders_sql((first, last), (base, workorders), now_ms, today, today_midnight, categories, place_count);
        exec(conn, &sql).await;
        done = last - base;
        emit(json!({"scenario": "scale_fill", "table": "workorders", "rows": done,
                    "seconds": round(started.elapsed().as_secs_f64())}));
    }
    exec(conn, "SELECT setval(pg_get_serial_sequence('workorders', 'id'), (SELECT MAX(id) FROM workorders))").await;
    let workorder_seconds = started.elapsed().as_secs_f64();

    let started_apps = Instant::now();
    exec(
        conn,
        "CREATE TEMP TABLE s_item AS
         SELECT (row_number() OVER (ORDER BY md5(i.implementation_code)) - 1)::int AS i, i.implementation_code, i.name,
                i.published_version, i.department_id, r.code AS region_code,
                COALESCE((SELECT v.document::jsonb -> 'situations' -> 0 ->> 'code' FROM catalog_versions v
                          WHERE v.item_id = i.id AND v.version = i.published_version), '') AS situation
         FROM catalog_items i JOIN departments d ON d.id = i.department_id JOIN regions r ON r.code = d.region_code
         WHERE i.published_version > 0;
         CREATE TEMP TABLE s_applicant AS
         SELECT (row_number() OVER (ORDER BY id) - 1)::int AS i, id FROM accounts WHERE kind IN ('resident', 'enterprise');
         ANALYZE s_item; ANALYZE s_applicant",
    )
    .await;
    let items = scalar(conn, "SELECT COUNT(*) FROM s_item").await;
    let applicants = scalar(conn, "SELECT COUNT(*) FROM s_applicant").await;
    let app_base = scalar(conn, "SELECT COALESCE(MAX(id), 0) FROM applications").await;
    let mut done = 0;
    while done < applications {
        let (first, last) = (app_base + done + 1, app_base + (done + CHUNK).min(applications));
        let sql =
            applications_sql((first, last), (app_base, applications), now_ms, today, today_midnight, items, applicants);
        exec(conn, &sql).await;
        done = last - app_base;
    }
    exec(conn, "SELECT setval(pg_get_serial_sequence('applications', 'id'), (SELECT MAX(id) FROM applications))").await;
    let application_seconds = started_apps.elapsed().as_secs_f64();

    let started_indexes = Instant::now();
    for (_, definition) in &indexes {
        exec(conn, definition).await;
    }
    let index_seconds = started_indexes.elapsed().as_secs_f64();
    let started_analyze = Instant::now();
    exec(conn, "VACUUM (ANALYZE) workorders").await;
    exec(conn, "VACUUM (ANALYZE) applications").await;
    let shape: Value = sqlx::query_scalar(
        "SELECT json_build_object(
            'open', (SELECT COUNT(*) FROM workorders WHERE state IN ('pending', 'dispatched', 'signed', 'replied')),
            'overdue', (SELECT COUNT(*) FROM workorders WHERE alarm = 'red' AND state IN ('pending', 'dispatched', 'signed', 'replied')),
            'last_30_days', (SELECT COUNT(*) FROM workorders WHERE created_at >= $1),
            'open_applications', (SELECT COUNT(*) FROM applications WHERE state IN ('submitted', 'accepted', 'supplement_requested', 'approved')),
            'workorders_mb', pg_total_relation_size('workorders') / 1048576,
            'applications_mb', pg_total_relation_size('applications') / 1048576)",
    )
    .bind(now_ms - 30 * DAY_MS)
    .fetch_one(&mut *conn)
    .await
    .expect("shape");
    emit(json!({"scenario": "scale_fill", "workorders": workorders, "applications": applications,
                "workorders_seconds": round(workorder_seconds), "applications_seconds": round(application_seconds),
                "index_seconds": round(index_seconds), "analyze_seconds": round(started_analyze.elapsed().as_secs_f64()),
                "shape": shape}));
}

/// How many days before today row `g` of `total` rows numbered from `origin + 1` was made. Rows
/// are numbered in time order, as a table filled by real use is (oldest first): three years of
/// history, growing — half of the rows spread evenly, half leaning recent (density falling
/// linearly with age). With x = age / history that is the density 1.5 − x, whose distribution
/// F(x) = 1.5x − x²/2 is inverted at the row's place F = 1 − (g − origin) / total.
fn days_ago(origin: i64, total: i64) -> String {
    format!(
        "LEAST({last_day}, floor({HISTORY_DAYS} * (1.5 - sqrt(2.25 - 2 * (1 - (g - {origin} - random()) / {total}::float8)))))::int",
        last_day = HISTORY_DAYS - 1
    )
}

/// Work orders `first..=last` (their ids) of `total` numbered from `origin + 1`. Every draw is
/// described where it is made.
fn workorders_sql(
    (first, last): (i64, i64),
    (origin, total): (i64, i64),
    now_ms: i64,
    today: chrono::NaiveDate,
    today_midnight: i64,
    categories: i64,
    places: i64,
) -> String {
    let ago = days_ago(origin, total);
    format!(
        "INSERT INTO workorders (id, number, request_type, channel, requester_kind, requester_name, requester_phone,
            title, body, category_code, suggestions, attributes, address, lat_e6, lon_e6, grid_code, region_code,
            department_id, state, emergency, respond_by, signed_at, deadline_at, alarm, returned, reopened, supervised,
            escalated, extension_days, extension_reason, reply, satisfaction, rated_via, duplicate_of, created_at,
            updated_at, closed_at)
        SELECT g, 'GD' || substr(p.region, 1, 6) || '-' || to_char(day, 'YYYYMMDD') || '-' || (100000 + g)::text,
            ty.request_type, ch.channel, kind,
            CASE WHEN kind = 'anonymous' THEN NULL
                 ELSE (ARRAY['陈','李','黄','张','梁','刘','林','吴','何','郭'])[1 + (g % 10)]
                      || CASE WHEN g % 2 = 0 THEN '先生' ELSE '女士' END END,
            CASE WHEN kind = 'anonymous' OR ch.channel IN ('sensor', 'grid') THEN NULL
                 ELSE '13' || (g % 10)::text || lpad(((g * 7919) % 2000000)::text, 8, '0') END,
            c.name || (ARRAY['问题','反映','求助','投诉','咨询'])[1 + (g % 5)],
            (ARRAY['市民来电反映', '群众在网上反映', '网格员巡查发现', '企业来电反映'])[1 + (g % 4)] || p.region_name
              || '一带' || c.name || '方面的问题，' ||
            (ARRAY['持续多日未见改善，影响周边居民正常生活，请相关部门尽快核实处理。',
                   '希望有关部门给予解答并告知办理流程和所需材料。',
                   '已多次反映仍未解决，要求给予明确答复。',
                   '建议相关部门加强日常巡查和管理。'])[1 + (g % 4)],
            c.code,
            '[{{\"category_code\":\"' || c.code || '\",\"category_name\":\"' || c.name || '\",\"department_code\":null,\"confidence\":0.86}}]',
            '{{}}', p.region_name || (g % 300)::text || '号附近',
            CASE WHEN p.lat0 IS NOT NULL THEN p.lat0 + ((g * 48271) % (p.lat1 - p.lat0)) END,
            CASE WHEN p.lon0 IS NOT NULL THEN p.lon0 + ((g * 69621) % (p.lon1 - p.lon0)) END,
            p.grid, p.region,
            CASE WHEN state IN ('pending', 'redirected') THEN NULL
                 WHEN c.territorial = 1 THEN p.local_department ELSE c.department_id END,
            state, CASE WHEN state = 'redirected' THEN (ARRAY['110','119','120','122'])[1 + (g % 4)] END,
            CASE WHEN running THEN created + 2 * 3600000 END,
            CASE WHEN state IN ('signed', 'replied', 'closed') AND NOT answered THEN created + 600000 + (g % 7200000) END,
            CASE WHEN running THEN deadline END,
            -- The alarm job raises yellow at 80% of the limit and red past it; closing keeps it.
            CASE WHEN answered OR state IN ('redirected', 'merged') THEN 'none'
                 WHEN COALESCE(closed, {now_ms}) >= deadline THEN 'red'
                 WHEN COALESCE(closed, {now_ms}) >= created + (deadline - created) * 4 / 5 THEN 'yellow' ELSE 'none' END,
            CASE WHEN state = 'pending' AND u_flag < 0.3 THEN 1 ELSE 0 END,
            CASE WHEN u_flag > 0.99 AND state NOT IN ('redirected', 'merged') THEN 1 ELSE 0 END,
            CASE WHEN state IN ('dispatched', 'signed') AND {now_ms} >= deadline AND u_flag < 0.2 THEN 1 ELSE 0 END,
            0,
            CASE WHEN state = 'signed' AND u_flag BETWEEN 0.5 AND 0.53 THEN 5 + (g % 10) END,
            CASE WHEN state = 'signed' AND u_flag BETWEEN 0.5 AND 0.53 THEN '需协调多个部门现场核查，申请延期' END,
            CASE WHEN answered THEN '已在电话中解答：' || c.name || '相关政策和办理渠道。'
                 WHEN state IN ('replied', 'closed') THEN '经核查，已按规定处理并答复诉求人。' END,
            CASE WHEN state = 'closed' AND u_rate < 0.7 THEN lv.level END,
            CASE WHEN state = 'closed' AND u_rate < 0.7 THEN CASE WHEN u_rate < 0.6 THEN 'callback' ELSE 'page' END END,
            CASE WHEN state = 'merged' AND g > {first} THEN g - 1 END,
            created,
            CASE WHEN closed IS NOT NULL THEN closed ELSE LEAST({now_ms}, created + (g % 86400000)) END,
            closed
        FROM (
            SELECT x.*, running_state AS state,
                   running_state IN ('pending', 'dispatched', 'signed', 'replied') AS running,
                   CASE WHEN running_state IN ('closed', 'merged') THEN
                     CASE WHEN answered THEN created + 300000 + (g % 600000)
                          ELSE created + ((deadline - created) * (0.05 + power(u_close, 1.5) * 1.05))::bigint END
                     WHEN running_state = 'redirected' THEN created END AS closed
            FROM (
                SELECT w.*,
                    CASE WHEN u_state < 0.004 THEN 'redirected'
                         WHEN answered THEN 'closed'
                         WHEN u_state < 0.004 + p_open THEN so.state
                         WHEN u_state > 0.99 THEN 'merged'
                         ELSE 'closed' END AS running_state
                FROM (
                    SELECT v.*,
                        -- Open orders are recent: the share still open falls with age.
                        CASE WHEN age < 1 THEN 0.8 WHEN age < 7 THEN 0.4 WHEN age < 20 THEN 0.12
                             WHEN age < 60 THEN 0.015 ELSE 0.0002 END AS p_open,
                        -- Most consultations are answered on the call and closed at once.
                        tt.request_type = 'consult' AND u_answer < 0.6 AS answered,
                        created + (tt.days * 1.4 * {DAY_MS})::bigint AS deadline
                    FROM (
                        SELECT d.*, ({now_ms} - created) / {DAY_MS}::float8 AS age
                        FROM (
                            SELECT r.*, date '{today}' - ago AS day,
                                   LEAST({now_ms} - 60000,
                                         {today_midnight} - ago::bigint * {DAY_MS} + h.hour::bigint * 3600000
                                           + (r.u_minute * 3600000)::bigint) AS created
                            FROM (
                                SELECT g, random() AS u_state, random() AS u_answer, random() AS u_close,
                                       random() AS u_rate, random() AS u_flag, random() AS u_minute,
                                       floor(random() * 100)::int AS hi,
                                       floor(random() * 100)::int AS ti, floor(random() * 100)::int AS chi,
                                       floor(random() * {places})::int AS pi,
                                       floor({categories} * power(random(), 2.5))::int AS ci,
                                       floor(random() * 100)::int AS oi, floor(random() * 100)::int AS li,
                                       -- Three years of history in id order (days_ago); weekends get fewer
                                       -- orders (some move to the next Monday).
                                       (SELECT CASE WHEN extract(isodow FROM date '{today}' - a) IN (6, 7) AND random() < 0.45 AND a >= 2
                                                    THEN a - (8 - extract(isodow FROM date '{today}' - a))::int ELSE a END
                                        FROM (SELECT {ago} AS a) q)::int AS ago,
                                       CASE WHEN random() < 0.8 THEN 'resident' WHEN random() < 0.5 THEN 'enterprise'
                                            ELSE 'anonymous' END AS kind
                                FROM generate_series({first}::bigint, {last}::bigint) AS g
                            ) r JOIN s_hour h ON h.i = r.hi
                        ) d
                    ) v JOIN s_type tt ON tt.i = v.ti
                ) w JOIN s_open so ON so.i = w.oi
            ) x
        ) y
        JOIN s_type ty ON ty.i = y.ti JOIN s_channel ch ON ch.i = y.chi JOIN s_place p ON p.i = y.pi
        JOIN s_cat c ON c.i = y.ci JOIN s_level lv ON lv.i = y.li"
    )
}

/// Applications `first..=last` of `total` numbered from `origin + 1`: across the demo catalogue's
/// items (a few items take most), submitted over three years in id order; most completed, a recent
/// share still running.
fn applications_sql(
    (first, last): (i64, i64),
    (origin, total): (i64, i64),
    now_ms: i64,
    today: chrono::NaiveDate,
    today_midnight: i64,
    items: i64,
    applicants: i64,
) -> String {
    let ago = days_ago(origin, total);
    format!(
        "INSERT INTO applications (id, number, item_code, item_version, item_name, situation_code, department_id,
            applicant_id, state, resume_state, form, clock, deadline_at, alarm, submitted_at, updated_at)
        SELECT g, substr(it.region_code, 1, 6) || '-' || to_char(day, 'YYYYMMDD') || '-' || (1000000 + g)::text,
            it.implementation_code, it.published_version, it.name, it.situation, it.department_id, ap.id, state,
            CASE WHEN state = 'supplement_requested' THEN 'accepted' END,
            '{{}}', NULL,
            CASE WHEN state = 'accepted' THEN submitted + 20 * {DAY_MS} END,
            CASE WHEN state = 'accepted' AND {now_ms} >= submitted + 20 * {DAY_MS} THEN 'red'
                 WHEN state = 'accepted' AND {now_ms} >= submitted + 16 * {DAY_MS} THEN 'yellow' ELSE 'none' END,
            submitted,
            CASE WHEN state = 'submitted' THEN submitted ELSE LEAST({now_ms}, submitted + (g % (5 * {DAY_MS}))) END
        FROM (
            SELECT s.*,
                CASE WHEN age < 20 AND u_state < (20 - age) / 25.0 THEN
                       (ARRAY['submitted', 'accepted', 'accepted', 'accepted', 'supplement_requested', 'approved'])[1 + (g % 6)]
                     WHEN u_state > 0.97 THEN 'refused' WHEN u_state > 0.95 THEN 'rejected'
                     WHEN u_state > 0.935 THEN 'withdrawn' ELSE 'completed' END AS state
            FROM (
                SELECT r.*, date '{today}' - ago AS day,
                       LEAST({now_ms} - 60000, {today_midnight} - ago::bigint * {DAY_MS} + 32400000 + (u_time * 28800000)::bigint) AS submitted,
                       ({now_ms} - ({today_midnight} - ago::bigint * {DAY_MS})) / {DAY_MS}::float8 AS age
                FROM (
                    SELECT g, random() AS u_state, random() AS u_time,
                           floor({items} * power(random(), 2))::int AS ii, floor(random() * {applicants})::int AS ai,
                           {ago} AS ago
                    FROM generate_series({first}::bigint, {last}::bigint) AS g
                ) r
            ) s
        ) a
        JOIN s_item it ON it.i = a.ii JOIN s_applicant ap ON ap.i = a.ai"
    )
}

struct Session {
    client: reqwest::Client,
    who: &'static str,
}

async fn sign_in(base: &str, login: &'static str) -> Session {
    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let response = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"login": login, "password": yiwang::demo::DEMO_PASSWORD}))
        .send()
        .await
        .expect("login");
    assert!(response.status().is_success(), "{login} signs in");
    Session { client, who: login }
}

/// `samples` timed GETs of `path` after a warm-up; one JSON line.
async fn time(session: &Session, base: &str, what: &str, path: &str, samples: usize) {
    let url = format!("{base}{path}");
    let get = || async {
        let sent = Instant::now();
        let response = session.client.get(&url).timeout(Duration::from_secs(120)).send().await.expect("request");
        let status = response.status();
        let bytes = response.bytes().await.expect("body").len();
        (sent.elapsed().as_secs_f64() * 1000.0, status, bytes)
    };
    let (first, status, bytes) = get().await;
    if !status.is_success() {
        emit(json!({"scenario": "scale", "what": what, "as": session.who, "path": path, "error": status.as_u16()}));
        return;
    }
    // Fewer samples for what takes seconds, so a slow endpoint does not take the whole run.
    let samples = if first > 1000.0 { (samples / 20).max(5) } else { samples };
    for _ in 0..(samples / 10).max(3) {
        get().await;
    }
    let mut ms = Vec::with_capacity(samples);
    for _ in 0..samples {
        ms.push(get().await.0);
    }
    ms.sort_by(f64::total_cmp);
    let p99 = percentile(&ms, 0.99);
    emit(json!({"scenario": "scale", "what": what, "as": session.who, "path": path, "samples": samples,
                "bytes": bytes, "p50_ms": round(percentile(&ms, 0.5)), "p95_ms": round(percentile(&ms, 0.95)),
                "p99_ms": round(p99), "max_ms": round(ms[ms.len() - 1]), "target_p99_ms": TARGET_MS,
                "met": p99 < TARGET_MS}));
}

async fn measure(base: &str, url: &str, samples: usize) {
    let today = (chrono::Utc::now() + chrono::TimeDelta::hours(8)).date_naive();
    let year_ago = today - chrono::TimeDelta::days(364);
    // A caller with history, for the operator's lookup by phone.
    let phone: String = {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(
            "SELECT requester_phone FROM workorders WHERE requester_phone IS NOT NULL ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&mut conn)
        .await
        .expect("phone")
        .unwrap_or_else(|| "13800138000".into())
    };
    let supervisor = sign_in(base, "supervisor").await;
    let district = sign_in(base, "doumen_supervisor").await;
    let operator = sign_in(base, "operator").await;
    let clerk = sign_in(base, "city_clerk").await;
    let reviewer = sign_in(base, "police_reviewer").await;
    let year = format!("?from={year_ago}&to={today}");
    let cases: Vec<(&Session, &str, String)> = vec![
        (&supervisor, "board", "/api/workorders/board".into()),
        (&district, "board", "/api/workorders/board".into()),
        (&supervisor, "stats_30_days", "/api/workorders/stats".into()),
        (&district, "stats_30_days", "/api/workorders/stats".into()),
        (&supervisor, "stats_year", format!("/api/workorders/stats{year}")),
        (&district, "stats_year", format!("/api/workorders/stats{year}")),
        (&supervisor, "stats_page_30_days", "/workorders/stats".into()),
        (&supervisor, "list", "/api/workorders".into()),
        (&district, "list", "/api/workorders".into()),
        (&supervisor, "list_pending", "/api/workorders?state=pending".into()),
        (&supervisor, "list_overdue", "/api/workorders?alarm=red".into()),
        (&district, "list_signed_page_5", "/api/workorders?state=signed&offset=200".into()),
        (&operator, "list_by_phone", format!("/api/workorders?phone={phone}")),
        (&clerk, "applications_list", "/api/applications?department=440400-GAJ".into()),
        (&reviewer, "applications_list", "/api/applications?department=440400-GAJ".into()),
        (&clerk, "applications_workbench_page", "/applications".into()),
        (&reviewer, "applications_workbench_page", "/applications".into()),
    ];
    for (session, what, path) in cases {
        time(session, base, what, &path, samples).await;
    }
}
