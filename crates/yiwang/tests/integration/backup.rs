//! Backup and restore: a running installation backed up, restored into an empty one, and its
//! evidence log verified there.

use serde_json::json;
use yiwang::backup::{self, BackupError};
use yiwang::config::Config;

use crate::support::{TestApp, fresh_postgres};

async fn count(store: &yiwang::store::Store, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn a_backup_restores_into_an_empty_installation_whose_evidence_log_verifies() {
    let app = TestApp::demo().await;
    let operator = app.login("operator").await;
    let call = json!({"request_type": "help", "text": "迎宾南路路灯损坏多日不亮，晚上行人出行很不安全",
        "caller": {"kind": "resident", "phone": "13800138002"}});
    assert_eq!(operator.post("/api/workorders", &call).await.status(), 201);

    // Taken while the platform runs.
    let backups = tempfile::tempdir().unwrap();
    let folder = backups.path().join("backup");
    backup::backup(&app.state.config, &folder).await.unwrap();
    assert!(matches!(backup::backup(&app.state.config, &folder).await, Err(BackupError::TargetExists(_))));

    let place = tempfile::tempdir().unwrap();
    let target = Config::for_tests(&place.path().join("data"), fresh_postgres().await);
    backup::restore(&target, &folder).await.unwrap();
    let restored = yiwang::open(target.clone()).await.unwrap();
    for table in ["workorders", "applications", "certificates", "ledger_leaves", "exchange_resources"] {
        assert_eq!(count(&restored.store, table).await, count(&app.state.store, table).await, "{table}");
    }
    // The restored log verifies with the original key, and the restored keys are the originals.
    let key = app.state.signer.verifier_key();
    let report = yiwang::ledger::verify(&restored.store, &key).await.unwrap();
    assert_eq!(report.leaves as i64, count(&app.state.store, "ledger_leaves").await);
    assert_eq!(restored.signer.verifier_key().to_string(), key.to_string());
    let pseudonyms =
        [&restored, &app.state].map(|state| state.exchange.pseudonyms().of("subject", "440402198503120024"));
    assert_eq!(pseudonyms[0], pseudonyms[1], "the restored call log's pseudonyms are made with the original key");

    // Never over an installation that has data.
    let again = backup::restore(&target, &folder).await;
    assert!(matches!(again, Err(BackupError::NotEmpty(_))), "{again:?}");
    app.stop().await;
}
