//! TF-IDF: texts are segmented once into a [`Corpus`] of interned feature counts, and any subset
//! of it (all of it, or the training part of a cross-validation fold) yields a vocabulary with
//! smoothed IDF (as scikit-learn's `ln((1 + n) / (1 + df)) + 1`) and sparse l2-normalised vectors.

use jieba_rs::Jieba;

use crate::features::{FeatureOptions, block_of, for_each_feature};
use crate::hash::FxHashMap;

/// A sparse vector: (column, value), columns ascending.
pub(crate) type SparseVec = Vec<(u32, f64)>;

/// Texts as counts of interned feature names.
pub(crate) struct Corpus {
    /// Feature names; a term id indexes this.
    pub names: Vec<String>,
    /// Per text: (term id, count), term ids ascending.
    pub docs: Vec<Vec<(u32, u32)>>,
}

impl Corpus {
    pub fn build<'a>(jieba: &Jieba, options: &FeatureOptions, texts: impl IntoIterator<Item = &'a str>) -> Corpus {
        let mut ids: FxHashMap<String, u32> = FxHashMap::default();
        let mut names = Vec::new();
        let mut docs = Vec::new();
        for text in texts {
            let mut counts: FxHashMap<u32, u32> = FxHashMap::default();
            for_each_feature(jieba, options, text, |name| {
                let id = match ids.get(name) {
                    Some(&id) => id,
                    None => {
                        let id = u32::try_from(names.len()).expect("fewer than 2^32 features");
                        ids.insert(name.to_owned(), id);
                        names.push(name.to_owned());
                        id
                    }
                };
                *counts.entry(id).or_default() += 1;
            });
            let mut doc: Vec<(u32, u32)> = counts.into_iter().collect();
            doc.sort_unstable();
            docs.push(doc);
        }
        Corpus { names, docs }
    }
}

/// The columns of a fitted vocabulary: feature name, IDF and block, names ascending so that the
/// column order does not depend on the order of the texts.
pub(crate) struct Vocabulary {
    pub names: Vec<String>,
    pub idf: Vec<f64>,
    /// Column of each corpus term id, if kept.
    column_of_term: Vec<Option<u32>>,
}

impl Vocabulary {
    /// Fits on the texts `subset` of `corpus`, keeping features in at least `min_df` of them.
    pub fn fit(corpus: &Corpus, subset: &[usize], min_df: u32) -> Vocabulary {
        let mut df = vec![0u32; corpus.names.len()];
        for &doc in subset {
            for &(term, _) in &corpus.docs[doc] {
                df[term as usize] += 1;
            }
        }
        let mut kept: Vec<u32> = (0..corpus.names.len() as u32).filter(|&t| df[t as usize] >= min_df.max(1)).collect();
        kept.sort_unstable_by(|&a, &b| corpus.names[a as usize].cmp(&corpus.names[b as usize]));
        let n = subset.len() as f64;
        let mut column_of_term = vec![None; corpus.names.len()];
        let mut names = Vec::with_capacity(kept.len());
        let mut idf = Vec::with_capacity(kept.len());
        for (column, &term) in kept.iter().enumerate() {
            column_of_term[term as usize] = Some(column as u32);
            names.push(corpus.names[term as usize].clone());
            idf.push(smoothed_idf(n, f64::from(df[term as usize])));
        }
        Vocabulary { names, idf, column_of_term }
    }

    /// The vocabulary without the columns `keep` says no to.
    pub fn retain(self, keep: &[bool]) -> Vocabulary {
        let mut new_column = Vec::with_capacity(keep.len());
        let mut next = 0u32;
        for &kept in keep {
            new_column.push(kept.then_some(next));
            next += u32::from(kept);
        }
        let column_of_term =
            self.column_of_term.into_iter().map(|column| column.and_then(|c| new_column[c as usize])).collect();
        fn kept<T>(items: Vec<T>, keep: &[bool]) -> Vec<T> {
            items.into_iter().zip(keep).filter(|(_, k)| **k).map(|(item, _)| item).collect()
        }
        Vocabulary { names: kept(self.names, keep), idf: kept(self.idf, keep), column_of_term }
    }

    /// The TF-IDF vector of corpus text `doc`.
    pub fn transform(&self, corpus: &Corpus, doc: usize, options: &FeatureOptions) -> SparseVec {
        let counts = corpus.docs[doc].iter().filter_map(|&(term, count)| {
            self.column_of_term[term as usize].map(|column| (column, count, block_of(&corpus.names[term as usize])))
        });
        let mut vector = weigh(counts, |column| self.idf[column as usize], options);
        vector.sort_unstable_by_key(|&(column, _)| column);
        vector
    }
}

/// IDF smoothed as if one extra text held every feature.
pub(crate) fn smoothed_idf(texts: f64, df: f64) -> f64 {
    ((1.0 + texts) / (1.0 + df)).ln() + 1.0
}

/// TF-IDF values of (column, count, block) triples: tf (sublinear if asked) times IDF, each block
/// l2-normalised and scaled by its weight. Keeps the input order.
pub(crate) fn weigh(
    counts: impl IntoIterator<Item = (u32, u32, usize)>,
    idf: impl Fn(u32) -> f64,
    options: &FeatureOptions,
) -> SparseVec {
    let counts = counts.into_iter();
    let mut values = Vec::with_capacity(counts.size_hint().0);
    let mut blocks = Vec::with_capacity(counts.size_hint().0);
    let mut squares = [0.0f64; 2];
    for (column, count, block) in counts {
        let tf = match (count, options.sublinear_tf) {
            (1, _) => 1.0,
            (_, true) => 1.0 + f64::from(count).ln(),
            (_, false) => f64::from(count),
        };
        let value = tf * idf(column);
        squares[block] += value * value;
        values.push((column, value));
        blocks.push(block);
    }
    let block_weights = [options.word_weight, options.char_weight];
    let scale: [f64; 2] =
        std::array::from_fn(|b| if squares[b] > 0.0 { block_weights[b] / squares[b].sqrt() } else { 0.0 });
    for ((_, value), block) in values.iter_mut().zip(blocks) {
        *value *= scale[block];
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::features::shared_jieba;

    fn chars_only() -> FeatureOptions {
        FeatureOptions { words: false, char_min: 1, char_max: 1, min_df: 1, ..FeatureOptions::default() }
    }

    #[test]
    fn idf_matches_scikit_learn_smoothing() {
        assert!((smoothed_idf(3.0, 3.0) - 1.0).abs() < 1e-12);
        assert!((smoothed_idf(3.0, 1.0) - (2.0f64.ln() + 1.0)).abs() < 1e-12);
    }

    #[test]
    fn vectors_are_unit_length_and_rare_features_weigh_more() {
        let options = chars_only();
        let corpus = Corpus::build(&shared_jieba(), &options, ["甲乙", "甲丙", "甲丁"]);
        let vocabulary = Vocabulary::fit(&corpus, &[0, 1, 2], 1);
        assert_eq!(vocabulary.names, ["c丁", "c丙", "c乙", "c甲"]);
        let vector = vocabulary.transform(&corpus, 0, &options);
        let norm: f64 = vector.iter().map(|(_, v)| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-12);
        let value = |name: &str| {
            let column = vocabulary.names.iter().position(|n| n == name).unwrap() as u32;
            vector.iter().find(|(c, _)| *c == column).unwrap().1
        };
        assert!(value("c乙") > value("c甲"));
    }

    #[test]
    fn retain_drops_columns_and_their_terms() {
        let options = chars_only();
        let corpus = Corpus::build(&shared_jieba(), &options, ["甲乙", "甲丙"]);
        let vocabulary = Vocabulary::fit(&corpus, &[0, 1], 1).retain(&[true, false, true]);
        assert_eq!(vocabulary.names, ["c丙", "c甲"]);
        assert_eq!(vocabulary.idf.len(), 2);
        // Text 0 ("甲乙") keeps only 甲, now column 1, at full length.
        assert_eq!(vocabulary.transform(&corpus, 0, &options), vec![(1, 1.0)]);
    }

    #[test]
    fn min_df_drops_rare_features() {
        let options = chars_only();
        let corpus = Corpus::build(&shared_jieba(), &options, ["甲乙", "甲丙", "甲丁"]);
        assert_eq!(Vocabulary::fit(&corpus, &[0, 1, 2], 2).names, ["c甲"]);
        // Fitted on a subset, only that subset's counts matter.
        assert_eq!(Vocabulary::fit(&corpus, &[0], 1).names, ["c乙", "c甲"]);
    }
}
