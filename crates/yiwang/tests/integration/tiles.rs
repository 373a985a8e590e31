//! The evidence log through the C2SP tlog-tiles read API: tiles and entry bundles of the latest
//! checkpoint's tree, audited by an independent client, with their caching and their 4xx.

use std::process::Command;

use reqwest::Response;
use serde_json::Value;
use yiwang::ledger::{self, Entry};
use yiwang::store::Store;
use yiwang_ledger::tiles::Tile;

use crate::support::{TestApp, expect_error};

const PYTHON_CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/verify_tiles.py");

/// Appends test leaves until the log holds `size`.
async fn grow_to(store: &Store, size: u64) {
    let from = ledger::size(store).await.unwrap();
    assert!(from <= size, "the log already holds {from} leaves");
    store
        .write(move |tx| {
            Box::pin(async move {
                for n in from..size {
                    let entry =
                        Entry { kind: "test.tile", subject: format!("n:{n}"), actor: "system".into(), payload: b"x" };
                    ledger::append(tx, entry)?;
                }
                Ok::<_, ledger::LedgerError>(())
            })
        })
        .await
        .unwrap();
    assert_eq!(ledger::size(store).await.unwrap(), size);
}

/// Runs the Python client against the running app; true when its audit passes.
async fn python_audit(app: &TestApp, key: &str) -> (bool, String) {
    let (prefix, key) = (app.url("/ledger"), key.to_owned());
    // Off the runtime's thread: the client talks to the server this runtime drives.
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3").arg(PYTHON_CLIENT).arg(prefix).arg("--key").arg(key).output().expect("python3")
    })
    .await
    .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

async fn octets(response: Response, cache: &str) -> Vec<u8> {
    assert_eq!(response.status(), 200, "{}", response.url());
    assert_eq!(response.headers()["content-type"], "application/octet-stream");
    assert_eq!(response.headers()["cache-control"], cache, "{}", response.url());
    response.bytes().await.unwrap().to_vec()
}

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
const PARTIAL: &str = "public, max-age=60";

#[tokio::test]
async fn tiles_serve_the_checkpointed_tree_to_an_independent_client() {
    let app = TestApp::empty().await;
    let store = app.state.store.clone();
    let anon = app.anonymous();
    let key: Value = anon.get("/api/ledger/key").await.json().await.unwrap();
    let key = key["verifier_key"].as_str().unwrap().to_owned();

    // An older checkpoint at 300 (level-0 tile 1 of width 44), then the latest at 600: two
    // full level-0 tiles, one of width 88, a level-1 tile of width 2. Nothing grows the log
    // afterwards, so the job signs nothing newer.
    grow_to(&store, 300).await;
    ledger::checkpoint_if_grown(&store, &app.state.signer).await.unwrap();
    grow_to(&store, 600).await;
    ledger::checkpoint_if_grown(&store, &app.state.signer).await.unwrap();
    let latest = ledger::latest_checkpoint(&store).await.unwrap().unwrap();
    assert_eq!(latest.tree_size, 600);

    let checkpoint = anon.get("/ledger/checkpoint").await;
    assert_eq!(checkpoint.status(), 200);
    assert_eq!(checkpoint.headers()["content-type"], "text/plain; charset=utf-8");
    assert_eq!(checkpoint.headers()["cache-control"], "public, max-age=5");
    assert_eq!(checkpoint.text().await.unwrap(), latest.note, "exactly the signed note");

    let (ok, out) = python_audit(&app, &key).await;
    assert!(ok, "the independent client recomputes the root from the tiles: {out}");
    assert!(out.contains("\"tree_size\": 600") && out.contains("\"tiles\": 4"), "{out}");

    // Level 0: full tiles are immutable, the partial one is as wide as the checkpoint says.
    let full = octets(anon.get("/ledger/tile/0/001").await, IMMUTABLE).await;
    assert_eq!(full.len(), 256 * 32);
    let partial = octets(anon.get("/ledger/tile/0/002.p/88").await, PARTIAL).await;
    assert_eq!(partial.len(), 88 * 32);
    // The stored leaf hashes, in order.
    for index in [256u64, 300, 511] {
        let leaf: Value = anon.get(&format!("/api/ledger/leaves/{index}")).await.json().await.unwrap();
        let at = (index as usize - 256) * 32;
        assert_eq!(hex::encode(&full[at..at + 32]), leaf["leaf_hash"].as_str().unwrap());
    }
    // The older checkpoint's partial tile is still served: a prefix of the full tile.
    let older = octets(anon.get("/ledger/tile/0/001.p/44").await, PARTIAL).await;
    assert_eq!(older, full[..44 * 32]);
    // Level 1: one hash per full level-0 tile.
    let level1 = octets(anon.get("/ledger/tile/1/000.p/2").await, PARTIAL).await;
    assert_eq!(level1.len(), 64);

    // Entry bundles: each entry hashes to its tile hash.
    let bundle = octets(anon.get("/ledger/tile/entries/002.p/88").await, PARTIAL).await;
    let mut rest = bundle.as_slice();
    let mut count = 0;
    while !rest.is_empty() {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let entry = &rest[2..2 + len];
        assert_eq!(yiwang_ledger::leaf_hash(entry).as_bytes(), &partial[count * 32..(count + 1) * 32]);
        yiwang_ledger::LeafV1::decode(entry).expect("a LeafV1");
        rest = &rest[2 + len..];
        count += 1;
    }
    assert_eq!(count, 88);
    let bundle = octets(anon.get("/ledger/tile/entries/000").await, IMMUTABLE).await;
    assert!(bundle.len() > 256 * 2);

    // Beyond the checkpoint's tree: 404 in the JSON error format.
    for path in [
        "/ledger/tile/0/002",
        "/ledger/tile/0/002.p/89",
        "/ledger/tile/0/003.p/1",
        "/ledger/tile/1/000",
        "/ledger/tile/1/000.p/3",
        "/ledger/tile/2/000.p/1",
        "/ledger/tile/63/x018/x446/x744/x073/x709/x551/615",
        "/ledger/tile/entries/002",
        "/ledger/tile/entries/x001/000.p/1",
    ] {
        expect_error(anon.get(path).await, 404, "not_found", None).await;
    }
    // Paths that are not canonical tile paths: 400 naming the path.
    for path in [
        "/ledger/tile/00/000",
        "/ledger/tile/64/000",
        "/ledger/tile/x/000",
        "/ledger/tile/0/0",
        "/ledger/tile/0/0000",
        "/ledger/tile/0/x000/001",
        "/ledger/tile/0/001/002",
        "/ledger/tile/0/000.p/0",
        "/ledger/tile/0/000.p/256",
        "/ledger/tile/0/000.p/088",
        "/ledger/tile/entries/1",
        "/ledger/tile/entries/x001",
    ] {
        expect_error(anon.get(path).await, 400, "invalid_path", Some("path")).await;
    }
    for path in ["/ledger/tile/0", "/ledger/tile/entries", "/ledger/nothing"] {
        expect_error(anon.get(path).await, 404, "not_found", None).await;
    }

    // The client notices a stored leaf hash that does not match its entry.
    let (hash,): (Vec<u8>,) = sqlx::query_as("SELECT hash FROM ledger_nodes WHERE level = 0 AND idx = 5")
        .fetch_one(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE ledger_nodes SET hash = $1 WHERE level = 0 AND idx = 5")
        .bind(vec![0u8; 32])
        .execute(store.pool())
        .await
        .unwrap();
    let (ok, out) = python_audit(&app, &key).await;
    assert!(!ok && out.contains("entry 5 does not hash to its tile hash"), "{out}");
    sqlx::query("UPDATE ledger_nodes SET hash = $1 WHERE level = 0 AND idx = 5")
        .bind(hash)
        .execute(store.pool())
        .await
        .unwrap();
    assert!(python_audit(&app, &key).await.0, "restored");
    // And a checkpoint signed by another key.
    let other = yiwang_ledger::SignerKey::generate("yiwang.local/ledger").unwrap().verifier_key().to_string();
    let (ok, out) = python_audit(&app, &other).await;
    assert!(!ok && out.contains("no signature from the verifier key"), "{out}");
    app.stop().await;
}

#[tokio::test]
async fn tiles_follow_the_checkpoint_not_the_log() {
    // No server and no job: the checkpoint stays where the test signs it.
    let (store, dir) = TestApp::store_only().await;
    let signer = ledger::Signer::load_or_create(dir.path(), "yiwang.local/ledger").unwrap();
    let tile = |level, index, width| Tile::new(level, index, width).unwrap();
    grow_to(&store, 10).await;
    assert!(
        matches!(ledger::hash_tile(&store, tile(0, 0, 1)).await, Err(ledger::LedgerError::NotFound)),
        "no checkpoint, no tiles"
    );
    ledger::checkpoint_if_grown(&store, &signer).await.unwrap();
    grow_to(&store, 300).await;
    // The log holds a full tile 0 now, but the checkpoint covers 10 leaves.
    assert!(matches!(ledger::hash_tile(&store, tile(0, 0, 256)).await, Err(ledger::LedgerError::NotFound)));
    assert!(matches!(ledger::hash_tile(&store, tile(0, 0, 11)).await, Err(ledger::LedgerError::NotFound)));
    assert!(matches!(ledger::entry_bundle(&store, tile(0, 0, 11)).await, Err(ledger::LedgerError::NotFound)));
    assert_eq!(ledger::hash_tile(&store, tile(0, 0, 10)).await.unwrap().len(), 320);
    ledger::checkpoint_if_grown(&store, &signer).await.unwrap();
    assert_eq!(ledger::hash_tile(&store, tile(0, 0, 256)).await.unwrap().len(), 256 * 32);
    assert_eq!(ledger::hash_tile(&store, tile(1, 0, 1)).await.unwrap().len(), 32);
    // A level-1 hash is the root of the full level-0 tile under it.
    let root = ledger::hash_tile(&store, tile(1, 0, 1)).await.unwrap();
    let path = ledger::inclusion_proof(&store, 256, 300).await.unwrap();
    assert_eq!(hex::encode(root), path[path.len() - 1], "leaf 256's audit path ends with the root of the first 256");
    assert!(matches!(ledger::entry_bundle(&store, tile(1, 0, 1)).await, Err(ledger::LedgerError::NotFound)));
}

#[test]
fn the_independent_tiles_client_passes_its_own_vectors() {
    let out = Command::new("python3").arg(PYTHON_CLIENT).arg("--self-test").output().expect("python3");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
}
