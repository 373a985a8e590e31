//! The evidence log end to end: leaves written with their changes, proofs and checkpoints that an
//! independent implementation accepts, and tampering that `yiwang ledger verify` names.

use std::process::Command;

use serde_json::{Value, json};
use yiwang::ledger::{self, Entry};

use crate::support::{TestApp, expect_error};

const PYTHON_VERIFIER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/verify_receipt.py");

/// Whether (the independent Python verifier, `yiwang receipt verify`) accept the receipt file.
fn check_receipt(path: &std::path::Path, key: &str) -> (bool, bool) {
    let python =
        Command::new("python3").arg(PYTHON_VERIFIER).arg(path).arg("--key").arg(key).output().expect("python3");
    let ours = Command::new(env!("CARGO_BIN_EXE_yiwang"))
        .args(["receipt", "verify"])
        .arg(path)
        .arg("--key")
        .arg(key)
        .output()
        .unwrap();
    (python.status.success(), ours.status.success())
}

async fn verifier_key(app: &TestApp) -> String {
    let key: Value = app.anonymous().get("/api/ledger/key").await.json().await.unwrap();
    key["verifier_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn changes_write_leaves_without_personal_data() {
    let app = TestApp::demo().await;
    let size = ledger::size(&app.state.store).await.unwrap();
    let accounts =
        yiwang::demo::DEMO_STAFF.len() + yiwang::demo::DEMO_RESIDENTS.len() + yiwang::demo::DEMO_ENTERPRISES.len();
    let items: Vec<serde_json::Value> = serde_json::from_str(yiwang::catalog::DEMO_CATALOGUE).unwrap();
    // Every demo resident holds an ID card and every enterprise a business licence.
    let certificates = yiwang::demo::DEMO_RESIDENTS.len() + yiwang::demo::DEMO_ENTERPRISES.len();
    let rules = yiwang::applications::instant::DEMO_RULES.len();
    let exchange: serde_json::Value = serde_json::from_str(yiwang::exchange::demo::DEMO_EXCHANGE).unwrap();
    let exchange_leaves: usize =
        ["resources", "apps", "grants", "calls"].iter().map(|k| exchange[k].as_array().unwrap().len()).sum();
    // The demo's window visits and their ratings, counted by kind (the evaluation tests check
    // which leaves a rating writes).
    let ratings: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM ledger_leaves WHERE kind LIKE 'evaluation.%'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(
        size as usize,
        accounts + items.len() + certificates + rules + exchange_leaves + ratings as usize,
        "one leaf per account, published item, issued certificate, rule version, data resource, app, grant and call, \
         and the demo's ratings"
    );

    let resident = app.resident_id(yiwang::demo::DEMO_RESIDENTS[0].0).await;
    let indexes = ledger::leaves_about(&app.state.store, &format!("resident:{resident}")).await.unwrap();
    assert_eq!(indexes.len(), 1);
    let leaf: Value = app.anonymous().get(&format!("/api/ledger/leaves/{}", indexes[0])).await.json().await.unwrap();
    assert_eq!(leaf["kind"], "identity.resident_registered");
    let text = leaf.to_string();
    assert!(
        !text.contains(yiwang::demo::DEMO_RESIDENTS[0].0) && !text.contains("陈晓红"),
        "no personal data in the log: {text}"
    );

    // A calendar edit is logged with the admin as actor.
    let admin = app.login("admin").await;
    let set = admin
        .send(
            reqwest::Method::PUT,
            "/api/calendar/days/2027-10-01",
            Some(&json!({"kind": "holiday", "name": "国庆节"})),
        )
        .await;
    assert_eq!(set.status(), 200);
    let about = ledger::leaves_about(&app.state.store, "calendar:2027-10-01").await.unwrap();
    let leaf: Value = app.anonymous().get(&format!("/api/ledger/leaves/{}", about[0])).await.json().await.unwrap();
    assert_eq!(leaf["actor"], "account:1");

    // A rejected change leaves no leaf.
    let before = ledger::size(&app.state.store).await.unwrap();
    let duplicate = json!({"id_number": yiwang::demo::DEMO_RESIDENTS[0].0, "name": "x", "region_code": "440402", "password": "abcd1234"});
    assert_eq!(app.anonymous().post("/api/residents", &duplicate).await.status(), 422);
    assert_eq!(ledger::size(&app.state.store).await.unwrap(), before);
    app.stop().await;
}

#[tokio::test]
async fn proofs_and_checkpoints_verify_with_an_independent_implementation() {
    let app = TestApp::demo().await;
    let anon = app.anonymous();
    let checkpoint: Value = anon.get("/api/ledger/checkpoint").await.json().await.unwrap();
    let size = checkpoint["tree_size"].as_u64().unwrap();
    assert!(checkpoint["note"].as_str().unwrap().starts_with(&format!("yiwang.local/ledger\n{size}\n")));
    let key = verifier_key(&app).await;
    let dir = tempfile::tempdir().unwrap();

    for index in [0, size / 2, size - 1] {
        let receipt: Value = anon.get(&format!("/api/ledger/receipts/{index}")).await.json().await.unwrap();
        let path = dir.path().join(format!("receipt-{index}.json"));
        std::fs::write(&path, receipt.to_string()).unwrap();
        assert_eq!(check_receipt(&path, &key), (true, true), "both verifiers accept the receipt of leaf {index}");

        // Any altered byte of the proof is rejected by both.
        let mut forged = receipt.clone();
        let first = forged["inclusion_proof"][0].as_str().unwrap().to_owned();
        let flipped = format!("{}{}", if first.starts_with('0') { '1' } else { '0' }, &first[1..]);
        forged["inclusion_proof"][0] = Value::from(flipped);
        std::fs::write(&path, forged.to_string()).unwrap();
        assert_eq!(check_receipt(&path, &key), (false, false), "both verifiers reject a forged proof");
    }
    // The wrong key fails the checkpoint.
    let other = yiwang_ledger::SignerKey::generate("yiwang.local/ledger").unwrap().verifier_key().to_string();
    let receipt: Value = anon.get("/api/ledger/receipts/0").await.json().await.unwrap();
    let path = dir.path().join("receipt.json");
    std::fs::write(&path, receipt.to_string()).unwrap();
    assert_eq!(check_receipt(&path, &other), (false, false), "a checkpoint signed by another key is rejected");

    // Consistency between two checkpoints.
    let old_size = size;
    let admin = app.login("admin").await;
    admin
        .send(reqwest::Method::PUT, "/api/calendar/days/2027-01-01", Some(&json!({"kind": "holiday", "name": "元旦"})))
        .await;
    let newer: Value = anon.get("/api/ledger/checkpoint").await.json().await.unwrap();
    let new_size = newer["tree_size"].as_u64().unwrap();
    assert_eq!(new_size, old_size + 1);
    let proof: Value = anon
        .get(&format!("/api/ledger/proofs/consistency?old_size={old_size}&new_size={new_size}"))
        .await
        .json()
        .await
        .unwrap();
    let proof: Vec<yiwang_ledger::Hash> =
        proof["proof"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().parse().unwrap()).collect();
    let root = |c: &Value| c["root_hash"].as_str().unwrap().parse::<yiwang_ledger::Hash>().unwrap();
    yiwang_ledger::verify_consistency(old_size, new_size, root(&checkpoint), root(&newer), &proof).expect("consistent");

    expect_error(
        anon.get(&format!("/api/ledger/proofs/inclusion?index=0&tree_size={}", new_size + 1)).await,
        422,
        "out_of_range",
        Some("tree_size"),
    )
    .await;
    expect_error(
        anon.get("/api/ledger/proofs/inclusion?index=5&tree_size=5").await,
        422,
        "out_of_range",
        Some("index"),
    )
    .await;
    expect_error(
        anon.get("/api/ledger/proofs/consistency?old_size=9&new_size=3").await,
        422,
        "out_of_range",
        Some("old_size"),
    )
    .await;
    expect_error(anon.get("/api/ledger/leaves/999999").await, 404, "not_found", None).await;
    expect_error(
        anon.get("/api/ledger/proofs/inclusion?index=-1&tree_size=3").await,
        400,
        "invalid_query",
        Some("index"),
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn the_checkpoint_job_signs_when_the_log_grows() {
    let app = TestApp::demo().await;
    // The worker's recurring job signs within a few seconds of growth, without any request.
    let mut latest = None;
    for _ in 0..100 {
        latest = ledger::latest_checkpoint(&app.state.store).await.unwrap();
        if latest.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let latest = latest.expect("a checkpoint signed by the job");
    assert_eq!(latest.tree_size, ledger::size(&app.state.store).await.unwrap());
    app.stop().await;
}

#[tokio::test]
async fn concurrent_writes_share_commits_and_fail_alone() {
    let (store, _dir) = TestApp::store_only().await;
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..64u32 {
        let store = store.clone();
        tasks.spawn(async move {
            store
                .write(move |tx| {
                    Box::pin(async move {
                        ledger::append(
                            tx,
                            Entry {
                                kind: "test.write",
                                subject: format!("n:{n}"),
                                actor: "system".into(),
                                payload: b"x",
                            },
                        )?;
                        if n % 8 == 7 {
                            // This change fails after appending: its leaf must vanish with it.
                            return Err(ledger::LedgerError::NotFound);
                        }
                        Ok(n)
                    })
                })
                .await
        });
    }
    let mut ok = 0;
    while let Some(result) = tasks.join_next().await {
        match result.unwrap() {
            Ok(_) => ok += 1,
            Err(ledger::LedgerError::NotFound) => {}
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(ok, 56);
    assert_eq!(ledger::size(&store).await.unwrap(), 56);
    let key = yiwang_ledger::SignerKey::generate("test").unwrap().verifier_key();
    let report = ledger::verify(&store, &key).await.expect("a consistent log");
    assert_eq!(report.leaves, 56);
    for n in (7..64).step_by(8) {
        assert!(
            ledger::leaves_about(&store, &format!("n:{n}")).await.unwrap().is_empty(),
            "failed change {n} left a leaf"
        );
    }
}

#[tokio::test]
async fn tampering_is_found_and_named() {
    let app = TestApp::demo().await;
    let store = app.state.store.clone();
    let signer_key = verifier_key(&app).await;
    ledger::checkpoint_if_grown(&store, &app.state.signer).await.unwrap();
    let url = app.state.config.database_url().to_owned();

    let verify = || {
        Command::new(env!("CARGO_BIN_EXE_yiwang"))
            .args(["--database-url", &url, "ledger", "verify", "--key", &signer_key])
            .output()
            .unwrap()
    };
    let clean = verify();
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));

    // Alter one stored leaf: the subject of leaf 7 is rewritten in its encoded bytes.
    let (data,): (Vec<u8>,) =
        sqlx::query_as("SELECT data FROM ledger_leaves WHERE idx = 7").fetch_one(store.pool()).await.unwrap();
    let mut forged = data.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    sqlx::query("UPDATE ledger_leaves SET data = $1 WHERE idx = 7").bind(&forged).execute(store.pool()).await.unwrap();
    let tampered = verify();
    assert!(!tampered.status.success());
    let stderr = String::from_utf8_lossy(&tampered.stderr);
    assert!(stderr.contains("first bad index 7"), "{stderr}");

    // Alter the leaf and its stored hash together: the parent node no longer matches.
    let forged_hash = yiwang_ledger::leaf_hash(&forged);
    sqlx::query("UPDATE ledger_nodes SET hash = $1 WHERE level = 0 AND idx = 7")
        .bind(forged_hash.as_bytes().to_vec())
        .execute(store.pool())
        .await
        .unwrap();
    let deeper = verify();
    assert!(!deeper.status.success());
    assert!(
        String::from_utf8_lossy(&deeper.stderr).contains("first bad index 7"),
        "{}",
        String::from_utf8_lossy(&deeper.stderr)
    );

    // Restore, then delete a leaf.
    sqlx::query("UPDATE ledger_leaves SET data = $1 WHERE idx = 7").bind(&data).execute(store.pool()).await.unwrap();
    sqlx::query("UPDATE ledger_nodes SET hash = $1 WHERE level = 0 AND idx = 7")
        .bind(yiwang_ledger::leaf_hash(&data).as_bytes().to_vec())
        .execute(store.pool())
        .await
        .unwrap();
    assert!(verify().status.success(), "restored");
    sqlx::query("DELETE FROM ledger_leaves WHERE idx = 4").execute(store.pool()).await.unwrap();
    let deleted = verify();
    assert!(
        String::from_utf8_lossy(&deleted.stderr).contains("first bad index 4"),
        "{}",
        String::from_utf8_lossy(&deleted.stderr)
    );
    app.stop().await;
}

#[test]
fn the_independent_verifier_passes_its_own_vectors() {
    let out = Command::new("python3").arg(PYTHON_VERIFIER).arg("--self-test").output().expect("python3");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
