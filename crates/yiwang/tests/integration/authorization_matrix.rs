//! The authorisation matrix: every operation of the OpenAPI document called as every kind of user,
//! and the records whose visibility follows the region tree called from inside and outside their
//! district. The outcome table is a reviewed snapshot (`snapshots/…authorization_matrix.snap`):
//! a new operation adds a row, and a check removed or loosened changes a cell, so either fails the
//! test until someone looks at the table and accepts it.
//!
//! Cells: `✓` let through (the answer is the operation's own: a result, or 404/409/422 for the
//! made-up record or empty body), `✗` 403, `-` 401 (no user), `·` 404 for a real record (not
//! visible to this user), `m` a real record shown with its personal fields masked.

use std::fmt::Write;

use reqwest::Method;
use serde_json::{Value, json};
use yiwang::demo::{DEMO_ENTERPRISES, DEMO_RESIDENTS};

use crate::support::{Session, TestApp};

/// One account per kind of user: each staff role in its demo department, a resident, an
/// enterprise, and nobody.
const USERS: &[(&str, &str)] = &[
    ("admin", "admin"),
    ("d.admin", "doumen_admin"),
    ("clerk", "clerk"),
    ("d.clerk", "doumen_clerk"),
    ("review", "reviewer"),
    ("oper", "operator"),
    ("disp", "dispatcher"),
    ("handl", "handler"),
    ("x.handl", "xiangzhou_handler"),
    ("superv", "supervisor"),
    ("grid", "grid"),
    ("stew", "steward"),
    ("audit", "auditor"),
    ("editor", "police_editor"),
    ("iot", "iot"),
    ("resid", DEMO_RESIDENTS[0].0),
    ("enterp", DEMO_ENTERPRISES[0].0),
];

/// Operations that end the caller's own session; called last would still change nothing worth a
/// cell, so they are left out (their own tests cover them).
const NOT_CALLED: &[&str] = &["POST /api/auth/logout"];

fn cell(status: u16, body: &str, clear: Option<&str>) -> &'static str {
    match (status, clear) {
        (401, _) => "-",
        (403, _) => "✗",
        (404, Some(_)) => "·",
        (200..=299, Some(clear)) if !body.contains(clear) => "m",
        _ => "✓",
    }
}

async fn call(session: &Session, method: &Method, path: &str, body: Option<&Value>) -> (u16, String) {
    let response = session.send(method.clone(), path, body).await;
    let status = response.status().as_u16();
    assert!(status < 500, "{method} {path}: {status}");
    (status, response.text().await.unwrap())
}

#[tokio::test]
async fn every_operation_as_every_kind_of_user() {
    let app = TestApp::demo().await;
    let mut sessions = Vec::new();
    for (_, login) in USERS {
        sessions.push(app.login(login).await);
    }
    sessions.push(app.anonymous());
    let mut header = format!("{:<58}", "operation");
    for (short, _) in USERS {
        write!(header, "{short:>8}").unwrap();
    }
    writeln!(header, "{:>8}", "anon").unwrap();

    let document: Value = app.anonymous().get("/api/openapi.json").await.json().await.unwrap();
    let mut table = header.clone();
    for (path, item) in document["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "delete", "patch"] {
            let Some(operation) = item.get(method) else { continue };
            let name = format!("{} {path}", method.to_uppercase());
            if NOT_CALLED.contains(&name.as_str()) {
                continue;
            }
            let concrete =
                path.split('/').map(|p| if p.starts_with('{') { "0" } else { p }).collect::<Vec<_>>().join("/");
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = operation.get("requestBody").map(|_| json!({}));
            write!(table, "{name:<58}").unwrap();
            for session in &sessions {
                let (status, text) = call(session, &method, &concrete, body.as_ref()).await;
                write!(table, "{:>8}", cell(status, &text, None)).unwrap();
            }
            table.push('\n');
        }
    }

    // Records whose visibility follows the region tree: a resident of 香洲区 (440402) and one of
    // 斗门区 (440403), with the ID number that must show in clear only to those entitled to it.
    let xiangzhou = app.resident_id(DEMO_RESIDENTS[0].0).await;
    let doumen = app.resident_id(DEMO_RESIDENTS[2].0).await;
    let records = [
        (
            "GET /api/residents/{id} (香洲 resident)".to_owned(),
            format!("/api/residents/{xiangzhou}"),
            DEMO_RESIDENTS[0].0,
        ),
        ("GET /api/residents/{id} (斗门 resident)".to_owned(), format!("/api/residents/{doumen}"), DEMO_RESIDENTS[2].0),
    ];
    table.push_str(&header);
    for (name, path, clear) in &records {
        write!(table, "{name:<58}").unwrap();
        for session in &sessions {
            let (status, text) = call(session, &Method::GET, path, None).await;
            write!(table, "{:>8}", cell(status, &text, Some(clear))).unwrap();
        }
        table.push('\n');
    }
    insta::assert_snapshot!("authorization_matrix", table);
    app.stop().await;
}
