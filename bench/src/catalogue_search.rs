//! Guide-search latency with a large catalogue.

use std::path::Path;
use std::time::Instant;

use serde_json::json;
use yiwang::catalog::model::ItemDocument;
use yiwang::catalog::search::GuideSearch;

const QUERIES: &str = include_str!("../../crates/yiwang/tests/data/search_queries.tsv");

/// Real item names of another district, to make the extra items read like a real catalogue.
fn district_names(shared_data: &Path) -> Vec<String> {
    let path = shared_data.join("items/guangan_district_items.csv");
    let Ok(mut reader) = csv::Reader::from_path(&path) else {
        eprintln!("bench: {} not found; extra items reuse demo names", path.display());
        return Vec::new();
    };
    reader.records().filter_map(Result::ok).filter_map(|r| r.get(2).map(str::to_owned)).collect()
}

/// The demo catalogue, then copies of its items under other codes (and, when the shared data is
/// there, renamed after real items of another district) until there are `count` items.
fn catalogue(count: usize, shared_data: &Path) -> Vec<(ItemDocument, String)> {
    let demo = yiwang::demo::catalogue_with_departments().expect("demo catalogue");
    let names = district_names(shared_data);
    let mut items = demo.clone();
    for n in 0..count.saturating_sub(demo.len()) {
        let (mut item, department) = demo[n % demo.len()].clone();
        item.implementation_code = format!("{}-X{n:05}", item.implementation_code);
        if !names.is_empty() {
            // Only the name and the materials stay: a copied summary or FAQ would make the
            // copy a true duplicate of a demo item rather than another item.
            item.name = names[n % names.len()].clone();
            item.summary = item.name.clone();
            item.keywords.clear();
            item.situations.clear();
            item.faq.clear();
        }
        items.push((item, department));
    }
    items
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

pub async fn run(count: usize, samples: usize, shared_data: &Path) {
    let items = catalogue(count, shared_data);
    let started = Instant::now();
    let search = GuideSearch::over(items).await.expect("index");
    let build_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Recall is the evaluation test's business (the demo catalogue); here the queries are load.
    let queries: Vec<&str> = QUERIES.lines().skip(1).filter_map(|l| l.split('\t').next()).collect();

    let mut micros = Vec::with_capacity(samples);
    for n in 0..samples {
        let query = queries[n % queries.len()];
        let started = Instant::now();
        let hits = search.search(query, 10).expect("search");
        micros.push(started.elapsed().as_secs_f64() * 1e6);
        std::hint::black_box(hits);
    }
    micros.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "scenario": "catalogue_search",
            "items": search.len(),
            "index_build_ms": build_ms.round(),
            "queries": samples,
            "p50_us": percentile(&micros, 0.50).round(),
            "p95_us": percentile(&micros, 0.95).round(),
            "p99_us": percentile(&micros, 0.99).round(),
            "max_us": micros.last().copied().unwrap_or(0.0).round(),
            "target_p99_us": 5000,
        })
    );
}
