//! Instant approval (秒批) with e-certificates instead of paper (免证办), end to end over HTTP.

use base64::Engine;
use serde_json::{Value, json};

use crate::support::{Session, TestApp, expect_error};

fn item_code(name: &str) -> String {
    let items: Vec<Value> = serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    items.iter().find(|i| i["name"] == name).unwrap()["implementation_code"].as_str().unwrap().to_owned()
}

async fn ok(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{status}: {body}");
    body
}

/// The applicant's ID-card e-certificate, from their wallet.
async fn id_card(session: &Session) -> String {
    let wallet = ok(session.get("/api/certificates").await).await;
    let card = wallet.as_array().unwrap().iter().find(|c| c["type_name"] == "居民身份证").expect("an ID card");
    card["id"].as_str().unwrap().to_owned()
}

async fn apply_rent_withdrawal(session: &Session, name: &str, id_number: &str) -> Value {
    let card = id_card(session).await;
    let application = json!({
        "item": item_code("租房提取住房公积金"),
        "situation": "S1",
        "form": {"applicant_name": name, "id_number": id_number, "phone": "13800138001",
                 "extract_mode": "按月自动提取", "bank_card": "6222020200112233445"},
        "materials": [
            {"material": "M1", "source": "certificate", "id": card},
            {"material": "M2", "source": "shared_data"},
            {"material": "M3", "source": "shared_data"},
            {"material": "M5", "source": "shared_data"}
        ]
    });
    let response = session.post("/api/applications", &application).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

/// The answer to a submission is built from what was written, not read back: it must be exactly
/// the application as a later read finds it.
async fn assert_as_stored(session: &Session, answered: &Value) {
    let number = answered["number"].as_str().unwrap();
    let stored = ok(session.get(&format!("/api/applications/{number}")).await).await;
    assert_eq!(&stored, answered);
}

#[tokio::test]
async fn rent_withdrawal_is_approved_at_once_with_a_certificate_instead_of_paper() {
    let app = TestApp::demo().await;
    let resident = app.login("440402198503120024").await;
    let decided = apply_rent_withdrawal(&resident, "陈晓红", "440402198503120024").await;
    assert_eq!(decided["state"], "completed", "{decided}");
    assert_eq!(decided["decision"]["outcome"], "approve");
    assert_eq!(decided["decision"]["rule_id"], "r08_approve", "the applicant sees which rule decided");
    assert!(decided["decision"]["reason"].as_str().unwrap().contains("准予"));
    assert_eq!(decided["decision"]["inputs_hash"].as_str().unwrap().len(), 64);
    let actions: Vec<&str> =
        decided["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["submit", "accept", "approve", "complete"]);
    assert_eq!(decided["events"][2]["actor"], Value::Null, "decided by the rule, not a person");
    assert_as_stored(&resident, &decided).await;

    // The facts the rule read came through the data-exchange gateway, as the instant-approval
    // engine's grants allow, and the resident sees those lookups with their reason.
    let lookups = ok(resident.get("/api/exchange/my-lookups").await).await;
    let resources: Vec<&str> = lookups
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["app_name"] == "政数局秒批引擎" && l["reason"].as_str().unwrap().contains("租房提取住房公积金"))
        .map(|l| l["resource_name"].as_str().unwrap())
        .collect();
    assert!(resources.contains(&"住房公积金缴存信息") && resources.contains(&"不动产登记信息"), "{lookups}");

    // Decided and delivered at once, it is a service she may rate (好差评).
    let number = decided["number"].as_str().unwrap();
    let rating = resident
        .post(&format!("/api/evaluations/application/{number}/ratings"), &json!({"level": "very_satisfied"}))
        .await;
    // Her application's page offers the rating (好差评) once it is completed.
    let page = resident.get(&format!("/applications/{number}")).await.text().await.unwrap();
    assert!(page.contains(&format!("href=\"/evaluations/application/{number}\"")), "{page}");
    assert_eq!(rating.status(), 201, "{}", rating.text().await.unwrap());

    // The signed result is in the wallet, and its QR verifies on the public page.
    let issued = decided["certificates"][0].as_str().expect("a certificate was issued").to_owned();
    let certificate = ok(resident.get(&format!("/api/certificates/{issued}")).await).await;
    assert_eq!(certificate["type_name"], "住房公积金提取核准通知书");
    assert_eq!(certificate["status"], "valid");
    let note = certificate["note"].as_str().unwrap();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(note);
    let anon = app.anonymous();
    let verified = ok(anon.post("/api/certificates/verify", &json!({"token": token})).await).await;
    assert_eq!(verified["valid"], true, "{verified}");
    assert_eq!(verified["certificate"]["holder_code"], "440402198503120024");
    let page = anon.get(&format!("/verify?token={token}")).await.text().await.unwrap();
    assert!(page.contains("data-valid=\"true\""));

    // The second, national-standard signature: SM2 with SM3 over the same body, checked here
    // with the published key alone.
    let sm2_key = ok(anon.get("/api/certificates/sm2-key").await).await;
    let public = hex::decode(sm2_key["public_key"].as_str().unwrap()).unwrap();
    let verifying = sm2::dsa::VerifyingKey::from_sec1_bytes(sm2_key["distid"].as_str().unwrap(), &public).unwrap();
    let body = note.split("\n\n").next().unwrap().to_owned() + "\n";
    let signature =
        sm2::dsa::Signature::from_slice(&hex::decode(certificate["sm2_signature"].as_str().unwrap()).unwrap()).unwrap();
    assert!(sm2::dsa::signature::Verifier::verify(&verifying, body.as_bytes(), &signature).is_ok());
    let altered = body.replacen("住房公积金", "住房公积全", 1);
    assert!(sm2::dsa::signature::Verifier::verify(&verifying, altered.as_bytes(), &signature).is_err());

    // One changed byte of the payload and the signature no longer holds.
    let tampered = note.replacen("住房公积金", "住房公积全", 1);
    let tampered = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tampered);
    let refused = ok(anon.post("/api/certificates/verify", &json!({"token": tampered})).await).await;
    assert_eq!(refused["valid"], false);
    assert_eq!(refused["problem"], "bad_signature");

    // The ID card's use is on record for its holder: who, for which application, why.
    let card = id_card(&resident).await;
    let uses = ok(resident.get(&format!("/api/certificates/{card}/uses")).await).await;
    assert_eq!(uses[0]["application_number"], decided["number"]);
    assert_eq!(uses[0]["department_name"], "珠海市住房和城乡建设局");
    assert!(uses[0]["reason"].as_str().unwrap().contains("租房提取住房公积金"));

    // The server checks the SM2 signature too: a record altered behind its back fails.
    let original = certificate["sm2_signature"].as_str().unwrap().to_owned();
    let forged = format!("{}{}", if original.starts_with('0') { "1" } else { "0" }, &original[1..]);
    let set = |value: String| {
        sqlx::query("UPDATE certificates SET sm2_signature = $1 WHERE id = $2")
            .bind(value)
            .bind(issued.clone())
            .execute(app.state.store.pool())
    };
    set(forged).await.unwrap();
    let refused = ok(anon.post("/api/certificates/verify", &json!({"token": token})).await).await;
    assert_eq!(refused["problem"], "bad_sm2_signature");
    set(original).await.unwrap();

    // Nobody else sees the certificate; the issuer revokes it and verification follows.
    let other = app.login("440402199207180043").await;
    expect_error(other.get(&format!("/api/certificates/{issued}")).await, 404, "not_found", None).await;
    expect_error(
        resident.post(&format!("/api/certificates/{issued}/revoke"), &json!({"reason": "x"})).await,
        403,
        "forbidden",
        None,
    )
    .await;
    let admin = app.login("admin").await;
    expect_error(
        admin.post(&format!("/api/certificates/{issued}/revoke"), &json!({"reason": ""})).await,
        422,
        "invalid_certificate",
        Some("reason"),
    )
    .await;
    ok(admin.post(&format!("/api/certificates/{issued}/revoke"), &json!({"reason": "提取申请被撤销"})).await).await;
    let after = ok(anon.post("/api/certificates/verify", &json!({"token": token})).await).await;
    assert_eq!(after["valid"], false);
    assert_eq!(after["problem"], "revoked");
    app.stop().await;
}

#[tokio::test]
async fn rules_reject_with_reasons_and_fall_back_to_people() {
    let app = TestApp::demo().await;
    // 李明 has paid in for two months only: a written rejection with its basis and his remedies.
    let li = app.login("440402199207180043").await;
    let rejected = apply_rent_withdrawal(&li, "李明", "440402199207180043").await;
    assert_eq!(rejected["state"], "rejected", "{rejected}");
    let reject = rejected["events"].as_array().unwrap().iter().find(|e| e["action"] == "reject").unwrap();
    assert!(reject["reason"].as_str().unwrap().contains("不满3个月"));
    assert!(reject["details"]["basis"].as_str().unwrap().contains("住房公积金管理条例"));
    assert!(reject["details"]["remedy"].as_str().unwrap().contains("行政复议"));
    assert_eq!(rejected["certificates"], json!([]));
    assert_as_stored(&li, &rejected).await;

    // Without the engine's grant on the housing-fund register the facts are unknown: the rule
    // sends the application to staff instead of deciding on missing data.
    sqlx::query("UPDATE exchange_grants SET expires_at = 0 WHERE resource_id = (SELECT id FROM exchange_resources WHERE code = 'ZJJ-GJJ-0001')")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    app.state.exchange.forget();
    let ungranted = apply_rent_withdrawal(&app.login("440402198503120024").await, "陈晓红", "440402198503120024").await;
    assert_eq!(ungranted["state"], "submitted", "{ungranted}");
    assert_eq!(ungranted["decision"]["outcome"], "manual");

    // 梁嘉欣 has no fund account on record: the rule sends it to staff.
    let liang = app.login("440404200102200018").await;
    let manual = apply_rent_withdrawal(&liang, "梁嘉欣", "440404200102200018").await;
    assert_eq!(manual["state"], "submitted");
    assert_eq!(manual["decision"]["outcome"], "manual");
    assert_eq!(manual["decision"]["rule_id"], "r01_no_account");
    assert_as_stored(&liang, &manual).await;

    // A graduate's report is approved from the graduate register.
    let graduate = json!({
        "item": item_code("高校毕业生接收报到"), "situation": "S2",
        "form": {"applicant_name": "李明", "id_number": "440402199207180043", "phone": "13800138002",
                 "school": "中山大学", "major": "计算机科学与技术", "education": "本科", "graduate_date": "2026-06-30"},
        "materials": [{"material": "M1", "source": "certificate", "id": id_card(&li).await},
                      {"material": "M3", "source": "upload", "sha256": upload_pdf(&li).await}]
    });
    let reported = ok(li.post("/api/applications", &graduate).await).await;
    assert_eq!(reported["state"], "completed", "{reported}");
    assert_eq!(reported["decision"]["rule_id"], "r03_approve");
    app.stop().await;
}

/// 租房提取 with `card` offered as the ID card.
fn rent_withdrawal_with(card: &str) -> Value {
    json!({
        "item": item_code("租房提取住房公积金"), "situation": "S1",
        "form": {"applicant_name": "陈晓红", "id_number": "440402198503120024", "phone": "13800138001",
                 "extract_mode": "按月自动提取", "bank_card": "6222020200112233445"},
        "materials": [{"material": "M1", "source": "certificate", "id": card},
                      {"material": "M2", "source": "shared_data"}, {"material": "M3", "source": "shared_data"},
                      {"material": "M5", "source": "shared_data"}]
    })
}

#[tokio::test]
async fn only_the_holders_own_valid_certificate_of_the_right_type_stands_in_for_a_material() {
    let app = TestApp::demo().await;
    let resident = app.login("440402198503120024").await;
    let pool = app.state.store.pool();
    let count = || sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM applications").fetch_one(pool);
    let field = Some("materials[0].id");
    let apply = async |card: &str| resident.post("/api/applications", &rent_withdrawal_with(card)).await;

    // Someone else's ID card.
    let others = id_card(&app.login("440402199207180043").await).await;
    expect_error(apply(&others).await, 422, "invalid_application", field).await;
    // Her own certificate, but not an ID card.
    let approved = apply_rent_withdrawal(&resident, "陈晓红", "440402198503120024").await;
    let notice = approved["certificates"][0].as_str().unwrap().to_owned();
    let before = count().await.unwrap();
    let error = expect_error(apply(&notice).await, 422, "invalid_application", field).await;
    assert!(error["message"].as_str().unwrap().contains("居民身份证"), "{error}");
    // Her ID card, revoked by its issuer.
    let card = id_card(&resident).await;
    let admin = app.login("admin").await;
    ok(admin.post(&format!("/api/certificates/{card}/revoke"), &json!({"reason": "证件挂失"})).await).await;
    let error = expect_error(apply(&card).await, 422, "invalid_application", field).await;
    assert!(error["message"].as_str().unwrap().contains("吊销"), "{error}");
    assert_eq!(count().await.unwrap(), before, "a refused application leaves nothing behind");
    app.stop().await;
}

async fn upload_pdf(session: &Session) -> String {
    let response = session
        .client
        .post(format!("{}/api/files", session.base))
        .header("x-csrf-token", &session.csrf)
        .body(b"%PDF-1.7 diploma".to_vec())
        .send()
        .await
        .unwrap();
    ok(response).await["sha256"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_rule_version_whose_tests_fail_is_not_published() {
    let app = TestApp::demo().await;
    let rule: Value = serde_json::from_str(include_str!("../../demo/rules/vehicle_licence.json")).unwrap();
    let item = rule["item"].as_str().unwrap().to_owned();
    let editor = app.login("police_editor").await;

    let mut failing = rule.clone();
    failing["tests"][0]["expect"]["decision"] = json!("reject");
    let refused = editor
        .post(
            &format!("/api/rules/{item}"),
            &json!({"situation": "S1", "table": failing["table"], "tests": failing["tests"]}),
        )
        .await;
    let error = expect_error(refused, 422, "invalid_application", Some("tests[0]")).await;
    assert!(error["message"].as_str().unwrap().contains("一致秒批"), "{error}");

    let mut bad_table = rule.clone();
    bad_table["table"]["hitPolicy"] = json!("collect");
    let refused =
        editor.post(&format!("/api/rules/{item}"), &json!({"table": bad_table["table"], "tests": rule["tests"]})).await;
    expect_error(refused, 422, "invalid_application", Some("table")).await;
    let no_tests = editor.post(&format!("/api/rules/{item}"), &json!({"table": rule["table"], "tests": []})).await;
    expect_error(no_tests, 422, "invalid_application", Some("tests")).await;
    let hrss = app.login("hrss_editor").await;
    let foreign = hrss
        .post(
            &format!("/api/rules/{item}"),
            &json!({"situation": "S1", "table": rule["table"], "tests": rule["tests"]}),
        )
        .await;
    expect_error(foreign, 403, "forbidden", None).await;

    let published = editor
        .post(
            &format!("/api/rules/{item}"),
            &json!({"situation": "S1", "table": rule["table"], "tests": rule["tests"]}),
        )
        .await;
    assert_eq!(published.status(), 201);
    assert_eq!(ok(published).await["version"], 2);
    let versions = ok(editor.get(&format!("/api/rules/{item}")).await).await;
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(versions[0]["published_by"], "police_editor");
    assert_eq!(versions[1]["published_by"], Value::Null, "version 1 came with the demo");
    app.stop().await;
}

#[tokio::test]
async fn staff_publish_rules_from_the_rules_page() {
    let app = TestApp::demo().await;
    let rule: Value = serde_json::from_str(include_str!("../../demo/rules/vehicle_licence.json")).unwrap();
    let item = rule["item"].as_str().unwrap();
    let editor = app.login("police_editor").await;
    let page = editor.get(&format!("/catalog/rules/{item}")).await.text().await.unwrap();
    assert!(
        page.contains("r04_approve") && page.contains("id=\"rule-form\""),
        "the form starts from the version in force"
    );

    let mut failing = rule["tests"].clone();
    failing[1]["expect"]["decision"] = json!("approve");
    let form = |tests: &Value| {
        vec![
            ("csrf_token".to_owned(), editor.csrf.clone()),
            ("situation".to_owned(), "S1".to_owned()),
            ("table".to_owned(), rule["table"].to_string()),
            ("tests".to_owned(), tests.to_string()),
        ]
    };
    let url = app.url(&format!("/catalog/rules/{item}"));
    let refused = editor.client.post(&url).form(&form(&failing)).send().await.unwrap();
    assert_eq!(refused.status(), 422);
    let text = refused.text().await.unwrap();
    assert!(text.contains("tests[1]") && text.contains("查封不予补领"), "the failing case is named");
    let published = editor.client.post(&url).form(&form(&rule["tests"])).send().await.unwrap().text().await.unwrap();
    assert!(published.contains("id=\"rule-published\"") && published.contains("v2"));
    app.stop().await;
}
