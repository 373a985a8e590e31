//! Guide search (智能导办): residents type what they want in their own words and get the items
//! that serve it. Each node holds the index in memory ([`index`]), rebuilt when the published
//! catalogue changes (checked every few seconds, and at once after a publication on this node),
//! and counts guide views, which rank popular items higher.
//!
//! Errors are [`CatalogError`] (the index's own fault becomes `CatalogError::Search`).

pub mod index;
pub mod lexicon;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use index::{Hit, SearchIndex};

use super::{CatalogError, parse_document, store as sql};
use crate::store::Store;

/// What the browse pages filter by; `None` takes all.
#[derive(Debug, Default)]
pub struct Browse {
    pub audience: Option<super::model::Audience>,
    pub theme: Option<String>,
    pub department: Option<String>,
}

/// The most results one search returns.
pub const MAX_LIMIT: usize = 50;

#[derive(Clone)]
pub struct GuideSearch(Arc<Inner>);

struct Inner {
    index: RwLock<Arc<SearchIndex>>,
    popularity: RwLock<Arc<HashMap<String, u64>>>,
    /// Published versions the index was built from; a change means a new publication.
    generation: AtomicI64,
    /// Guide views not yet written to the database.
    unsaved_views: Mutex<HashMap<String, u64>>,
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}

fn write<T>(lock: &RwLock<T>, value: T) {
    *lock.write().unwrap_or_else(std::sync::PoisonError::into_inner) = value;
}

/// Builds an index off the async threads: segmenting thousands of guides takes a while.
async fn build(items: Vec<(super::model::ItemDocument, String)>) -> Result<SearchIndex, CatalogError> {
    tokio::task::spawn_blocking(move || SearchIndex::build(&items))
        .await
        .map_err(|e| CatalogError::Search(e.to_string()))?
        .map_err(|e| CatalogError::Search(e.to_string()))
}

async fn published_items(store: &Store) -> Result<(i64, Vec<(super::model::ItemDocument, String)>), CatalogError> {
    let mut conn = store.pool().acquire().await?;
    let generation = sql::generation(&mut conn).await?;
    let items = sql::published_with_department(&mut conn)
        .await?
        .into_iter()
        .map(|(document, department)| Ok((parse_document(&document)?, department)))
        .collect::<Result<_, CatalogError>>()?;
    Ok((generation, items))
}

impl GuideSearch {
    /// Indexes the published catalogue.
    pub async fn load(store: &Store) -> Result<GuideSearch, CatalogError> {
        let (generation, items) = published_items(store).await?;
        let search = GuideSearch(Arc::new(Inner {
            index: RwLock::new(Arc::new(build(items).await?)),
            popularity: RwLock::new(Arc::new(HashMap::new())),
            generation: AtomicI64::new(generation),
            unsaved_views: Mutex::new(HashMap::new()),
        }));
        search.reload_popularity(store).await?;
        Ok(search)
    }

    /// An index over given items, for a catalogue that is not in a database (the command line
    /// on an empty data directory, benchmarks).
    pub async fn over(items: Vec<(super::model::ItemDocument, String)>) -> Result<GuideSearch, CatalogError> {
        Ok(GuideSearch(Arc::new(Inner {
            index: RwLock::new(Arc::new(build(items).await?)),
            popularity: RwLock::new(Arc::new(HashMap::new())),
            generation: AtomicI64::new(-1),
            unsaved_views: Mutex::new(HashMap::new()),
        })))
    }

    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>, CatalogError> {
        let index = read(&self.0.index);
        let popularity = read(&self.0.popularity);
        index.search(query, limit.clamp(1, MAX_LIMIT), &popularity).map_err(|e| CatalogError::Search(e.to_string()))
    }

    pub fn len(&self) -> usize {
        read(&self.0.index).len()
    }

    /// The published items that match every given filter, in catalogue order.
    pub fn browse(&self, filter: &Browse) -> Vec<index::Entry> {
        read(&self.0.index)
            .entries()
            .iter()
            .filter(|e| filter.audience.is_none_or(|a| e.audiences.contains(&a)))
            .filter(|e| filter.theme.as_ref().is_none_or(|t| e.themes.contains(t)))
            .filter(|e| filter.department.as_ref().is_none_or(|d| e.department_code == *d))
            .cloned()
            .collect()
    }

    /// The departments with published items: (code, name, item count), by code.
    pub fn departments(&self) -> Vec<(String, String, usize)> {
        let mut counts: std::collections::BTreeMap<String, (String, usize)> = Default::default();
        for entry in read(&self.0.index).entries() {
            counts.entry(entry.department_code.clone()).or_insert_with(|| (entry.department_name.clone(), 0)).1 += 1;
        }
        counts.into_iter().map(|(code, (name, n))| (code, name, n)).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Rebuilds the index if the published catalogue changed since it was built; returns whether
    /// it did.
    pub async fn refresh(&self, store: &Store) -> Result<bool, CatalogError> {
        let generation = sql::generation(&mut *store.pool().acquire().await?).await?;
        if generation == self.0.generation.load(Ordering::Acquire) {
            return Ok(false);
        }
        let (generation, items) = published_items(store).await?;
        write(&self.0.index, Arc::new(build(items).await?));
        self.0.generation.store(generation, Ordering::Release);
        Ok(true)
    }

    /// Re-indexes after a publication on this node. The publication is committed whatever
    /// happens here; if indexing fails, the periodic refresh tries again.
    pub async fn refresh_after_publication(&self, store: &Store) {
        if let Err(e) = self.refresh(store).await {
            tracing::warn!(error = %e, "could not re-index after a publication; the periodic refresh will");
        }
    }

    /// Counts a view of a guide; views are saved by [`GuideSearch::save_views`].
    pub fn record_view(&self, implementation_code: &str) {
        let mut views = self.0.unsaved_views.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *views.entry(implementation_code.to_owned()).or_default() += 1;
    }

    /// Adds the views counted on this node to the database and reloads every node's counts.
    pub async fn save_views(&self, store: &Store) -> Result<(), CatalogError> {
        let views =
            std::mem::take(&mut *self.0.unsaved_views.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        if !views.is_empty() {
            let mut tx = store.begin_write().await?;
            for (code, count) in &views {
                sql::add_views(&mut tx, code, *count as i64).await?;
            }
            tx.commit().await?;
        }
        self.reload_popularity(store).await
    }

    async fn reload_popularity(&self, store: &Store) -> Result<(), CatalogError> {
        let counts = sql::views(&mut *store.pool().acquire().await?).await?;
        write(&self.0.popularity, Arc::new(counts.into_iter().map(|(code, n)| (code, n.max(0) as u64)).collect()));
        Ok(())
    }
}
