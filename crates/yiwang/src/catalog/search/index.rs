//! The in-memory search index over published guides, and how a query is ranked: the words typed
//! and their official synonyms matched across the item's fields (the name counts most), character
//! pairs of the name for typos and half-typed words, syllable pairs of the name and the residents'
//! phrasings for homophone typos, an exact name above all, and — among
//! similar matches — the items residents open most.

use std::collections::HashMap;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, BoostQuery, DisjunctionMaxQuery, Occur, Query, TermQuery};
use tantivy::schema::{FAST, Field, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{LowerCaser, NgramTokenizer, TextAnalyzer};
use tantivy::{Index, IndexReader, TantivyDocument, Term};

use super::lexicon::{JiebaTokenizer, Lexicon, normalize, sound_pairs};
use crate::catalog::model::{Audience, ItemDocument, THEMES};

const WORDS: &str = "zh_words";
const PAIRS: &str = "zh_pairs";
/// How much a word found in each field counts; a word counts once, by its best field.
const FIELD_WEIGHTS: [(&str, f32); 6] =
    [("name", 4.0), ("keywords", 3.0), ("situations", 1.2), ("summary", 1.0), ("faq", 1.0), ("context", 0.4)];
const SYNONYM_WEIGHT: f32 = 0.8;
const PAIR_WEIGHT: f32 = 0.6;
const SOUND_WEIGHT: f32 = 0.5;
const EXACT_NAME_WEIGHT: f32 = 8.0;
/// Candidates re-ranked by popularity, per result asked for.
const RERANK_FACTOR: usize = 4;
const POPULARITY_WEIGHT: f32 = 0.08;

/// What the index knows of one item besides its words; also what the browse pages list.
#[derive(Debug, Clone)]
pub struct Entry {
    pub code: String,
    pub name: String,
    pub department_code: String,
    pub department_name: String,
    pub summary: String,
    pub audiences: Vec<Audience>,
    pub themes: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Hit {
    /// Implementation code.
    pub code: String,
    pub name: String,
    pub department_name: String,
    pub summary: String,
    pub score: f32,
}

#[derive(Debug, thiserror::Error)]
#[error("search index: {0}")]
pub struct IndexError(#[from] tantivy::TantivyError);

pub struct SearchIndex {
    reader: IndexReader,
    weighted_fields: Vec<(Field, f32)>,
    name_pairs: Field,
    sounds: Field,
    name_exact: Field,
    entries: Vec<Entry>,
}

fn text_field(tokenizer: &str) -> TextOptions {
    TextOptions::default().set_indexing_options(
        TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(IndexRecordOption::WithFreqs),
    )
}

fn exact_name(name: &str) -> String {
    normalize(name).chars().filter(|c| c.is_alphanumeric()).collect()
}

fn audience_words(audience: Audience) -> &'static str {
    match audience {
        Audience::Person => "个人 居民",
        Audience::LegalPerson => "法人 企业 单位",
    }
}

impl SearchIndex {
    /// Indexes items, each with its department's name.
    pub fn build(items: &[(ItemDocument, String)]) -> Result<SearchIndex, IndexError> {
        let mut schema = Schema::builder();
        let weighted: Vec<(Field, f32)> = FIELD_WEIGHTS
            .iter()
            .map(|(name, weight)| (schema.add_text_field(name, text_field(WORDS)), *weight))
            .collect();
        let name_pairs = schema.add_text_field("name_pairs", text_field(PAIRS));
        let sounds = schema.add_text_field("sounds", text_field("whitespace"));
        let name_exact = schema.add_text_field("name_exact", STRING);
        let ordinal = schema.add_u64_field("ordinal", FAST);
        let index = Index::create_in_ram(schema.build());
        index.tokenizers().register(WORDS, TextAnalyzer::builder(JiebaTokenizer).filter(LowerCaser).build());
        let pairs = NgramTokenizer::new(2, 2, false)?;
        index.tokenizers().register(PAIRS, TextAnalyzer::builder(pairs).filter(LowerCaser).build());

        let mut writer = index.writer_with_num_threads(1, 64 * 1024 * 1024)?;
        let mut entries = Vec::with_capacity(items.len());
        for (n, (item, department_name)) in items.iter().enumerate() {
            let themes = item.themes.iter().filter_map(|t| THEMES.iter().find(|(c, _)| c == t)).map(|(_, name)| *name);
            let audiences = item.audiences.iter().map(|a| audience_words(*a));
            let materials = item.materials.iter().map(|m| m.name.as_str());
            let context: Vec<&str> =
                std::iter::once(department_name.as_str()).chain(themes).chain(audiences).chain(materials).collect();
            let situations: Vec<&str> = item
                .situations
                .iter()
                .flat_map(|s| std::iter::once(s.name.as_str()).chain(s.conditions.iter().map(String::as_str)))
                .collect();
            let faq: Vec<&str> = item.faq.iter().map(|f| f.question.as_str()).collect();
            let texts = [
                item.name.clone(),
                item.keywords.join("。"),
                situations.join("。"),
                item.summary.clone(),
                faq.join("。"),
                context.join("。"),
            ];
            let mut document = TantivyDocument::new();
            for ((field, _), text) in weighted.iter().zip(texts) {
                document.add_text(*field, text);
            }
            document.add_text(name_pairs, &item.name);
            let phrasings = std::iter::once(&item.name).chain(&item.keywords);
            document.add_text(sounds, phrasings.flat_map(|p| sound_pairs(p)).collect::<Vec<_>>().join(" "));
            document.add_text(name_exact, exact_name(&item.name));
            document.add_u64(ordinal, n as u64);
            writer.add_document(document)?;
            entries.push(Entry {
                code: item.implementation_code.clone(),
                name: item.name.clone(),
                department_code: item.department_code.clone(),
                department_name: department_name.clone(),
                summary: item.summary.clone(),
                audiences: item.audiences.clone(),
                themes: item.themes.clone(),
            });
        }
        writer.commit()?;
        let reader = index.reader_builder().reload_policy(tantivy::ReloadPolicy::Manual).try_into()?;
        Ok(SearchIndex { reader, weighted_fields: weighted, name_pairs, sounds, name_exact, entries })
    }

    /// Every indexed item, in catalogue order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn word_query(&self, word: &str, weight: f32) -> Box<dyn Query> {
        let per_field = self
            .weighted_fields
            .iter()
            .map(|(field, field_weight)| {
                let term = TermQuery::new(Term::from_field_text(*field, word), IndexRecordOption::WithFreqs);
                Box::new(BoostQuery::new(Box::new(term), field_weight * weight)) as Box<dyn Query>
            })
            .collect();
        Box::new(DisjunctionMaxQuery::with_tie_breaker(per_field, 0.2))
    }

    fn query(&self, text: &str) -> Option<BooleanQuery> {
        let lexicon = Lexicon::get();
        let words = lexicon.query_words(text);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            words.iter().map(|w| (Occur::Should, self.word_query(w, 1.0))).collect();
        for synonym in lexicon.expansions(text).iter().filter(|s| !words.contains(s)) {
            clauses.push((Occur::Should, self.word_query(synonym, SYNONYM_WEIGHT)));
        }
        for run in lexicon.meaningful_runs(text) {
            let chars: Vec<char> = run.chars().collect();
            for pair in chars.windows(2) {
                let term = TermQuery::new(
                    Term::from_field_text(self.name_pairs, &pair.iter().collect::<String>()),
                    IndexRecordOption::WithFreqs,
                );
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(term), PAIR_WEIGHT))));
            }
            for pair in sound_pairs(&run) {
                let term = TermQuery::new(Term::from_field_text(self.sounds, &pair), IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(term), SOUND_WEIGHT))));
            }
        }
        if clauses.is_empty() {
            return None;
        }
        let exact = TermQuery::new(Term::from_field_text(self.name_exact, &exact_name(text)), IndexRecordOption::Basic);
        clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(exact), EXACT_NAME_WEIGHT))));
        Some(BooleanQuery::new(clauses))
    }

    /// The best items for a query, best first. `popularity` (guide views by implementation code)
    /// lifts the items residents open most among similar matches.
    pub fn search(&self, text: &str, limit: usize, popularity: &HashMap<String, u64>) -> Result<Vec<Hit>, IndexError> {
        let Some(query) = self.query(text) else {
            return Ok(Vec::new());
        };
        let searcher = self.reader.searcher();
        let candidates = searcher.search(&query, &TopDocs::with_limit(limit * RERANK_FACTOR).order_by_score())?;
        let mut hits = Vec::with_capacity(candidates.len());
        // Each segment's ordinal column, opened once per search rather than once per hit.
        let ordinals = searcher
            .segment_readers()
            .iter()
            .map(|segment| segment.fast_fields().u64("ordinal"))
            .collect::<Result<Vec<_>, _>>()?;
        for (score, address) in candidates {
            let ordinal = ordinals.get(address.segment_ord as usize).and_then(|column| column.first(address.doc_id));
            let Some(entry) = ordinal.and_then(|n| self.entries.get(n as usize)) else {
                continue;
            };
            let views = popularity.get(&entry.code).copied().unwrap_or(0) as f32;
            hits.push(Hit {
                code: entry.code.clone(),
                name: entry.name.clone(),
                department_name: entry.department_name.clone(),
                summary: entry.summary.clone(),
                score: score * (1.0 + POPULARITY_WEIGHT * views.ln_1p()),
            });
        }
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(limit);
        Ok(hits)
    }
}
