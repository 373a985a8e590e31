//! Guide search: the evaluation query set, the JSON API and the command line.

use std::collections::HashMap;

use yiwang::catalog::search::GuideSearch;

const QUERIES: &str = include_str!("../data/search_queries.tsv");

struct Case<'a> {
    query: &'a str,
    expected: Vec<&'a str>,
    split: &'a str,
}

fn cases() -> Vec<Case<'static>> {
    QUERIES
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let mut columns = line.split('\t');
            let (query, expected, split) = (columns.next(), columns.next(), columns.next());
            Case {
                query: query.expect("query"),
                expected: expected.expect("expected").split(',').collect(),
                split: split.expect("split"),
            }
        })
        .collect()
}

/// (recall@1, recall@5) per split, and the queries whose expected item is not in the top 5.
fn evaluate(search: &GuideSearch) -> (HashMap<&'static str, (f64, f64, usize)>, Vec<String>) {
    let mut tallies: HashMap<&'static str, (usize, usize, usize)> = HashMap::new();
    let mut misses = Vec::new();
    for case in cases() {
        let hits = search.search(case.query, 5).expect("search");
        let rank = hits.iter().position(|h| case.expected.contains(&h.code.as_str()));
        let tally = tallies.entry(case.split).or_default();
        tally.0 += usize::from(rank == Some(0));
        tally.1 += usize::from(rank.is_some());
        tally.2 += 1;
        if rank.is_none_or(|r| r > 0) {
            let top: Vec<&str> = hits.iter().take(3).map(|h| h.name.as_str()).collect();
            misses.push(format!("{} [{}] rank {rank:?}: {top:?}", case.query, case.split));
        }
    }
    let recall = tallies
        .into_iter()
        .map(|(split, (at1, at5, n))| (split, (at1 as f64 / n as f64, at5 as f64 / n as f64, n)))
        .collect();
    (recall, misses)
}

#[tokio::test]
async fn query_set_meets_the_recall_targets() {
    let items = yiwang::demo::catalogue_with_departments().expect("demo catalogue");
    let search = GuideSearch::over(items).await.expect("index");
    let (recall, misses) = evaluate(&search);
    if std::env::var_os("YIWANG_SEARCH_MISSES").is_some() {
        for miss in &misses {
            eprintln!("{miss}");
        }
    }
    let total: usize = recall.values().map(|r| r.2).sum();
    assert!(total >= 300, "the query set has {total} queries");
    for (split, (at1, at5, n)) in &recall {
        // The figures the README quotes; `cargo test search -- --nocapture` shows them.
        println!("search recall on {split} ({n} queries): @1 {at1:.3}, @5 {at5:.3}");
    }
    let at1 = recall.values().map(|r| r.0 * r.2 as f64).sum::<f64>() / total as f64;
    let at5 = recall.values().map(|r| r.1 * r.2 as f64).sum::<f64>() / total as f64;
    println!("search recall on all {total} queries: @1 {at1:.3}, @5 {at5:.3}");
    assert!(at1 >= 0.75, "recall@1 {at1:.3} < 0.75");
    assert!(at5 >= 0.90, "recall@5 {at5:.3} < 0.90");
}
