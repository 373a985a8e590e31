//! From a message to its features: jieba words (and optionally word pairs) in one block,
//! character n-grams in another. A feature is named by a one-letter kind and its text
//! ("w物业", "b物业 收费", "c停车费"), so a one-character word and a character unigram differ.

use std::sync::{Arc, OnceLock};

use jieba_rs::Jieba;
use serde::{Deserialize, Serialize};

use crate::normalize::{Normalization, normalize};

/// Jieba's default dictionary takes a noticeable moment to load: one per process, shared by all
/// models.
pub(crate) fn shared_jieba() -> Arc<Jieba> {
    static JIEBA: OnceLock<Arc<Jieba>> = OnceLock::new();
    JIEBA.get_or_init(|| Arc::new(Jieba::new())).clone()
}

/// Which features a model extracts from a text and how they are weighted. Stored in the model,
/// so prediction extracts exactly what training did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureOptions {
    /// Replace anonymised place codes ("A市", "A1区", "K4县") by one placeholder ("某市").
    pub normalize_places: bool,
    /// Fold every run of digits into "0".
    pub collapse_digits: bool,
    /// Jieba words (HMM on for unknown words).
    pub words: bool,
    /// Pairs of adjacent jieba words.
    pub word_bigrams: bool,
    /// Smallest character n-gram; 0 with `char_max` 0 turns character n-grams off.
    pub char_min: u8,
    /// Largest character n-gram.
    pub char_max: u8,
    /// Term frequency as 1 + ln(tf) rather than tf.
    pub sublinear_tf: bool,
    /// Each block (words, characters) is l2-normalised on its own, then scaled by its weight.
    pub word_weight: f64,
    pub char_weight: f64,
    /// A feature must occur in this many training texts to be kept.
    pub min_df: u32,
}

impl Default for FeatureOptions {
    fn default() -> Self {
        FeatureOptions {
            normalize_places: true,
            collapse_digits: true,
            words: true,
            word_bigrams: false,
            char_min: 1,
            char_max: 2,
            sublinear_tf: true,
            word_weight: 0.5,
            char_weight: 1.0,
            min_df: 2,
        }
    }
}

/// Index of the word block (words and word pairs).
pub(crate) const WORD_BLOCK: usize = 0;
/// Index of the character n-gram block.
pub(crate) const CHAR_BLOCK: usize = 1;

/// The block a feature name belongs to.
pub(crate) fn block_of(name: &str) -> usize {
    if name.starts_with('c') { CHAR_BLOCK } else { WORD_BLOCK }
}

/// A letter, digit or ideograph (not punctuation or space); common ideographs first, as
/// Unicode's tables are slow to consult.
fn is_meaningful_char(c: char) -> bool {
    ('\u{4E00}'..='\u{9FFF}').contains(&c) || c.is_alphanumeric()
}

/// A token carries meaning if it has a letter, digit or ideograph.
fn is_meaningful(token: &str) -> bool {
    token.chars().any(is_meaningful_char)
}

/// Calls `emit` with the name of each feature occurrence in `text` (repeats included). The name
/// is built in one reused buffer, so prediction allocates little.
pub(crate) fn for_each_feature(jieba: &Jieba, options: &FeatureOptions, text: &str, mut emit: impl FnMut(&str)) {
    let text = normalize(text, Normalization { places: options.normalize_places, digits: options.collapse_digits });
    let mut name = String::with_capacity(32);
    if options.words || options.word_bigrams {
        let mut previous: Option<&str> = None;
        for token in jieba.cut(&text, true) {
            let word = token.word.trim();
            if !is_meaningful(word) {
                previous = None;
                continue;
            }
            if options.words {
                name.clear();
                name.push('w');
                name.push_str(word);
                emit(&name);
            }
            if options.word_bigrams
                && let Some(first) = previous
            {
                name.clear();
                name.push('b');
                name.push_str(first);
                name.push(' ');
                name.push_str(word);
                emit(&name);
            }
            previous = Some(word);
        }
    }
    if options.char_max == 0 {
        return;
    }
    let (min, max) = (usize::from(options.char_min.max(1)), usize::from(options.char_max));
    // Byte offsets of the characters of the current run of meaningful characters, plus its end.
    let mut bounds: Vec<usize> = Vec::with_capacity(64);
    let mut flush = |bounds: &mut Vec<usize>, end: usize| {
        if bounds.is_empty() {
            return;
        }
        bounds.push(end);
        let chars = bounds.len() - 1;
        for n in min..=max.min(chars) {
            for start in 0..=chars - n {
                name.clear();
                name.push('c');
                name.push_str(&text[bounds[start]..bounds[start + n]]);
                emit(&name);
            }
        }
        bounds.clear();
    };
    for (at, c) in text.char_indices() {
        if is_meaningful_char(c) {
            bounds.push(at);
        } else {
            flush(&mut bounds, at);
        }
    }
    flush(&mut bounds, text.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(options: &FeatureOptions, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for_each_feature(&shared_jieba(), options, text, |name| out.push(name.to_owned()));
        out
    }

    #[test]
    fn words_are_segmented_and_punctuation_dropped() {
        let options = FeatureOptions { char_min: 0, char_max: 0, ..FeatureOptions::default() };
        let words = features(&options, "小区物业乱收停车费！");
        assert!(words.contains(&"w物业".to_owned()), "{words:?}");
        assert!(words.contains(&"w停车费".to_owned()), "{words:?}");
        assert!(words.iter().all(|w| w.starts_with('w') && !w.contains('！') && !w.contains('!')), "{words:?}");
    }

    #[test]
    fn place_codes_do_not_become_features() {
        let words = features(&FeatureOptions::default(), "A1区投诉");
        assert!(words.iter().all(|w| !w.contains('a') && !w.contains('1')), "{words:?}");
        assert!(words.contains(&"c某区".to_owned()), "{words:?}");
    }

    #[test]
    fn char_ngrams_stay_within_runs() {
        let options = FeatureOptions { words: false, char_min: 1, char_max: 3, ..FeatureOptions::default() };
        let grams = features(&options, "社保卡，补办");
        let expected = ["c社", "c保", "c卡", "c社保", "c保卡", "c社保卡", "c补", "c办", "c补办"];
        assert_eq!(grams, expected);
    }

    #[test]
    fn word_pairs_join_neighbours() {
        let options =
            FeatureOptions { words: false, word_bigrams: true, char_min: 0, char_max: 0, ..FeatureOptions::default() };
        let pairs = features(&options, "物业收费");
        assert_eq!(pairs, ["b物业 收费"]);
    }

    #[test]
    fn blocks_follow_the_kind_letter() {
        assert_eq!(block_of("w物业"), WORD_BLOCK);
        assert_eq!(block_of("b物业 收费"), WORD_BLOCK);
        assert_eq!(block_of("c物"), CHAR_BLOCK);
    }
}
