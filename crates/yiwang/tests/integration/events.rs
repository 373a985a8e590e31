//! Events out: the outbox published to NATS JetStream, against the server named by
//! `YIWANG_TEST_NATS` (skipped when unset). Each test has its own stream and subject prefix, and
//! deletes the stream at the end, so runs in parallel do not mix.

use std::time::Duration;

use async_nats::jetstream;
use serde_json::{Value, json};
use yiwang::config::NatsConfig;
use yiwang::events::Publisher;
use yiwang::store::{Store, now_ms, outbox};

use crate::support::TestApp;

/// The NATS server to test against, if any.
fn nats_url() -> Option<String> {
    let url = std::env::var("YIWANG_TEST_NATS").ok().filter(|u| !u.is_empty());
    if url.is_none() {
        eprintln!("YIWANG_TEST_NATS is not set: skipping a NATS test");
    }
    url
}

/// Settings with a stream and a subject prefix of this test's own.
fn unique_settings(url: &str) -> NatsConfig {
    let suffix = hex::encode(rand::random::<[u8; 6]>());
    NatsConfig::for_tests(url, &format!("YIWANG_T_{suffix}"), &format!("yiwang_t_{suffix}."))
}

/// The test's view of the stream: its messages, read back in stream order.
struct TestStream {
    context: jetstream::Context,
    name: String,
}

/// A message as the stream holds it: subject, `Nats-Msg-Id` and payload.
#[derive(Debug, PartialEq)]
struct Stored {
    subject: String,
    msg_id: String,
    payload: Value,
}

impl TestStream {
    async fn connect(settings: &NatsConfig) -> TestStream {
        let client = async_nats::connect(&settings.url).await.expect("connect to YIWANG_TEST_NATS");
        TestStream { context: jetstream::new(client), name: settings.stream.clone() }
    }

    async fn messages(&self) -> Vec<Stored> {
        let stream = self.context.get_stream(&self.name).await.expect("the publisher created the stream");
        let count = stream.get_info().await.unwrap().state.messages;
        let mut messages = Vec::new();
        for sequence in 1..=count {
            let message = stream.get_raw_message(sequence).await.unwrap();
            messages.push(Stored {
                subject: message.subject.to_string(),
                msg_id: message.headers.get("Nats-Msg-Id").map(|v| v.as_str().to_owned()).unwrap_or_default(),
                payload: serde_json::from_slice(&message.payload).unwrap(),
            });
        }
        messages
    }

    async fn delete(self) {
        self.context.delete_stream(&self.name).await.expect("delete the test stream");
    }
}

/// Every outbox row as the stream should hold it, in outbox order.
async fn expected(store: &Store, settings: &NatsConfig) -> Vec<Stored> {
    let rows: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, topic, payload FROM outbox ORDER BY id").fetch_all(store.pool()).await.unwrap();
    rows.into_iter()
        .map(|(id, topic, payload)| Stored {
            subject: settings.subject(&topic),
            msg_id: id.to_string(),
            payload: serde_json::from_str(&payload).unwrap(),
        })
        .collect()
}

async fn backlog(store: &Store) -> i64 {
    outbox::backlog(&mut store.pool().acquire().await.unwrap()).await.unwrap()
}

async fn append_events(store: &Store, topic: &str, count: usize) {
    for n in 0..count {
        let mut tx = store.begin_write().await.unwrap();
        outbox::append(&mut tx, topic, &json!({"n": n})).unwrap();
        tx.commit().await.unwrap();
    }
}

#[tokio::test]
async fn changes_through_the_api_reach_the_stream_in_outbox_order() {
    let Some(url) = nats_url() else { return };
    let settings = unique_settings(&url);
    let app = TestApp::demo_with(|c| c.nats = Some(settings.clone())).await;
    let operator = app.login("operator").await;
    let call = json!({
        "request_type": "complaint",
        "text": "小区物业占用公共绿地改成停车位并收取停车费，请住建部门查处。",
        "caller": {"kind": "resident", "name": "陈晓红", "phone": "13800138001"},
        "address": "香洲区拱北迎宾南路某小区",
    });
    let response = operator.post("/api/workorders", &call).await;
    assert_eq!(response.status(), reqwest::StatusCode::CREATED);
    let order: Value = response.json().await.unwrap();

    // The node's own worker publishes every second.
    let store = &app.state.store;
    for _ in 0..100 {
        if backlog(store).await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(backlog(store).await, 0, "the worker published the outbox");

    let stream = TestStream::connect(&settings).await;
    let messages = stream.messages().await;
    let expected = expected(store, &settings).await;
    assert!(expected.len() > 1, "the demo city and the call wrote events");
    assert_eq!(messages, expected, "every outbox row once, in outbox order, on <prefix><topic>");
    let intake = messages.last().unwrap();
    assert_eq!(intake.subject, format!("{}workorder.intake", settings.subject_prefix));
    assert_eq!(intake.payload["number"], order["number"]);
    stream.delete().await;
    app.stop().await;
}

#[tokio::test]
async fn publishing_again_after_a_crash_does_not_duplicate_messages() {
    let Some(url) = nats_url() else { return };
    let settings = unique_settings(&url);
    // No `[nats]` section: the node's worker does not publish; this test runs the job itself.
    let (store, _dir) = TestApp::store_only().await;
    append_events(&store, "test.happened", 5).await;
    let publisher = Publisher::new(settings.clone());
    assert_eq!(publisher.publish_pending(&store).await.unwrap(), 5);
    assert_eq!(backlog(&store).await, 0);

    // A crash after the acknowledgements and before the stamp: the rows look unpublished again.
    sqlx::query("UPDATE outbox SET published_at = NULL").execute(store.pool()).await.unwrap();
    append_events(&store, "test.happened_later", 1).await;
    assert_eq!(publisher.publish_pending(&store).await.unwrap(), 6, "all six sent and acknowledged");
    assert_eq!(backlog(&store).await, 0);

    let stream = TestStream::connect(&settings).await;
    let config = stream.context.get_stream(&settings.stream).await.unwrap().get_info().await.unwrap().config;
    assert_eq!(config.subjects, [format!("{}>", settings.subject_prefix)]);
    assert_eq!(config.storage, jetstream::stream::StorageType::File);
    assert_eq!(config.duplicate_window, Duration::from_secs(120));
    let messages = stream.messages().await;
    assert_eq!(messages.len(), 6, "JetStream dropped the five it had by their Nats-Msg-Id");
    assert_eq!(messages, expected(&store, &settings).await);
    stream.delete().await;
}

#[tokio::test]
async fn with_nats_down_the_job_fails_and_rows_wait_until_it_is_back() {
    let Some(url) = nats_url() else { return };
    let settings = unique_settings(&url);
    // Nothing listens on port 1.
    let down = NatsConfig::for_tests("nats://127.0.0.1:1", &settings.stream, &settings.subject_prefix);
    let app = TestApp::empty_with(|c| c.nats = Some(down)).await;
    let store = &app.state.store;
    append_events(store, "test.waiting", 3).await;

    let mut error = None;
    for _ in 0..100 {
        error = sqlx::query_scalar(
            "SELECT last_error FROM jobs WHERE kind = 'outbox.publish' AND last_error IS NOT NULL LIMIT 1",
        )
        .fetch_optional(store.pool())
        .await
        .unwrap();
        if error.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let error: String = error.expect("the publish job failed");
    assert!(error.contains("cannot connect to NATS"), "{error}");
    assert_eq!(backlog(store).await, 3, "nothing is stamped published without an acknowledgement");

    // NATS is back (here: the right address).
    let publisher = Publisher::new(settings.clone());
    assert_eq!(publisher.publish_pending(store).await.unwrap(), 3);
    assert_eq!(backlog(store).await, 0);
    let stream = TestStream::connect(&settings).await;
    assert_eq!(stream.messages().await, expected(store, &settings).await);
    stream.delete().await;
    app.stop().await;
}

#[tokio::test]
async fn retention_deletes_only_published_events_past_it() {
    let (store, _dir) = TestApp::store_only().await;
    append_events(&store, "test.kept", 3).await;
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox ORDER BY id").fetch_all(store.pool()).await.unwrap();
    let day = 24 * 3600 * 1000;
    let now = now_ms();
    // The first waits unpublished since long ago, the second was published 8 days ago, the third
    // an hour ago.
    let rows = [
        (ids[0], now - 30 * day, None),
        (ids[1], now - 9 * day, Some(now - 8 * day)),
        (ids[2], now - day, Some(now - 3_600_000)),
    ];
    for (id, created, published) in rows {
        sqlx::query("UPDATE outbox SET created_at = $1, published_at = $2 WHERE id = $3")
            .bind(created)
            .bind(published)
            .bind(id)
            .execute(store.pool())
            .await
            .unwrap();
    }
    let mut conn = store.pool().acquire().await.unwrap();
    assert_eq!(outbox::purge_published(&mut conn, now - 7 * day).await.unwrap(), 1);
    let left: Vec<i64> = sqlx::query_scalar("SELECT id FROM outbox ORDER BY id").fetch_all(store.pool()).await.unwrap();
    assert_eq!(left, [ids[0], ids[2]], "the unpublished one and the recent one stay");
}
