//! The words guide search knows: jieba with a user dictionary of government terms, the synonyms
//! that map residents' phrasings to official terms, the filler words a query drops, and the
//! sounds (pinyin) of words, since most typos made with a pinyin input method are homophones
//! (社报卡 for 社保卡).
//!
//! tantivy-jieba segments with jieba's built-in dictionary only (a process-wide static that
//! cannot take user words), so [`JiebaTokenizer`] here wraps one jieba that has them.

use std::collections::HashSet;
use std::sync::LazyLock;

use jieba_rs::Jieba;
use pinyin::ToPinyin;
use tantivy::tokenizer::{Token, TokenStream, Tokenizer};

const DICTIONARY: &str = include_str!("../../../lexicon/dictionary.txt");
const SYNONYMS: &str = include_str!("../../../lexicon/synonyms.txt");
const STOPWORDS: &str = include_str!("../../../lexicon/stopwords.txt");

/// One per process: jieba's dictionary takes a noticeable moment to load.
static LEXICON: LazyLock<Lexicon> = LazyLock::new(Lexicon::load);

pub struct Lexicon {
    jieba: Jieba,
    /// (its sounds as a pattern of whole syllables, phrase, official words), the phrase normalised.
    synonyms: Vec<(Option<String>, String, Vec<String>)>,
    stopwords: HashSet<String>,
}

fn lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Full-width ASCII to half-width and lower case, so "ＥＴＣ", "etc" and "ETC" are one word.
pub fn normalize(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .flat_map(char::to_lowercase)
        .collect()
}

fn is_word(token: &str) -> bool {
    token.chars().any(char::is_alphanumeric)
}

impl Lexicon {
    pub fn get() -> &'static Lexicon {
        &LEXICON
    }

    fn load() -> Lexicon {
        let mut jieba = Jieba::new();
        for line in lines(DICTIONARY) {
            let mut parts = line.split_whitespace();
            if let Some(word) = parts.next() {
                jieba.add_word(word, parts.next().and_then(|f| f.parse().ok()), None);
            }
        }
        let synonyms = lines(SYNONYMS)
            .filter_map(|line| line.split_once("=>"))
            .map(|(phrase, terms)| {
                let terms = terms.split_whitespace().map(normalize).collect();
                let phrase = normalize(phrase.trim());
                // Two syllables at least: a single one sounds like too many words. Padded with
                // spaces so that a match is of whole syllables.
                let syllables = sounds(&phrase);
                let pattern = (syllables.len() >= 2).then(|| format!(" {} ", syllables.join(" ")));
                (pattern, phrase, terms)
            })
            .collect();
        let stopwords = lines(STOPWORDS).map(normalize).collect();
        Lexicon { jieba, synonyms, stopwords }
    }

    /// The words of a text as the index holds them: jieba's search-mode cut (whole words and
    /// the dictionary words inside them), normalised, punctuation dropped.
    pub fn words(&self, text: &str) -> Vec<String> {
        let text = normalize(text);
        self.jieba
            .cut_for_search(&text, true)
            .into_iter()
            .map(|t| t.word)
            .filter(|w| is_word(w))
            .map(str::to_owned)
            .collect()
    }

    /// The words of a query that carry meaning: filler words (怎么, 要, 吗 …) dropped, each once.
    pub fn query_words(&self, query: &str) -> Vec<String> {
        let mut seen = HashSet::new();
        self.words(query).into_iter().filter(|w| !self.stopwords.contains(w) && seen.insert(w.clone())).collect()
    }

    /// The stretches of a query between filler words and punctuation ("营业执找丢了吗" gives
    /// "营业执找丢"), whose character pairs still match a name the query misspells or half-types.
    pub fn meaningful_runs(&self, query: &str) -> Vec<String> {
        let query = normalize(query);
        let mut runs = vec![String::new()];
        for word in self.jieba.cut(&query, true).into_iter().map(|t| t.word) {
            if is_word(word) && !self.stopwords.contains(word) {
                runs.last_mut().expect("never empty").push_str(word);
            } else if !runs.last().expect("never empty").is_empty() {
                runs.push(String::new());
            }
        }
        runs.retain(|r| !r.is_empty());
        runs
    }

    /// Official terms for the colloquial phrases a query contains, as index words.
    /// A phrase counts when the query contains it or sounds like it does (two syllables or more).
    pub fn expansions(&self, query: &str) -> Vec<String> {
        let query = normalize(query);
        let query_sounds = format!(" {} ", sounds(&query).join(" "));
        let mut seen = HashSet::new();
        self.synonyms
            .iter()
            .filter(|(pattern, phrase, _)| {
                query.contains(phrase.as_str()) || pattern.as_ref().is_some_and(|p| query_sounds.contains(p.as_str()))
            })
            .flat_map(|(_, _, terms)| terms.iter())
            .flat_map(|term| self.words(term))
            .filter(|w| !self.stopwords.contains(w) && seen.insert(w.clone()))
            .collect()
    }
}

/// The syllables of a text: toneless pinyin for Chinese characters, letters and digits as they
/// are; everything else dropped.
pub fn sounds(text: &str) -> Vec<String> {
    let text = normalize(text);
    let mut syllables = Vec::new();
    let mut latin = String::new();
    for (c, sound) in text.chars().zip(text.as_str().to_pinyin()) {
        if c.is_ascii_alphanumeric() {
            latin.push(c);
            continue;
        }
        if !latin.is_empty() {
            syllables.push(std::mem::take(&mut latin));
        }
        if let Some(sound) = sound {
            syllables.push(sound.plain().to_owned());
        }
    }
    if !latin.is_empty() {
        syllables.push(latin);
    }
    syllables
}

/// Neighbouring syllables joined (`she_bao`, `bao_ka`): what the index matches sounds by.
pub fn sound_pairs(text: &str) -> Vec<String> {
    sounds(text).windows(2).map(|pair| pair.join("_")).collect()
}

/// tantivy tokenizer over [`Lexicon::words`].
#[derive(Clone, Default)]
pub struct JiebaTokenizer;

pub struct WordStream {
    tokens: Vec<Token>,
    next: usize,
}

impl TokenStream for WordStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

impl Tokenizer for JiebaTokenizer {
    type TokenStream<'a> = WordStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> WordStream {
        let tokens = Lexicon::get()
            .words(text)
            .into_iter()
            .enumerate()
            .map(|(position, text)| Token { position, text, ..Token::default() })
            .collect();
        WordStream { tokens, next: 0 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_dictionary_keeps_government_terms_whole() {
        let words = Lexicon::get().words("我想申请一网通办的居住证");
        assert!(words.contains(&"一网通办".to_owned()), "{words:?}");
        assert!(words.contains(&"居住证".to_owned()), "{words:?}");
    }

    #[test]
    fn queries_drop_filler_words() {
        let words = Lexicon::get().query_words("请问公积金怎么取？");
        assert!(words.contains(&"公积金".to_owned()), "{words:?}");
        assert!(!words.iter().any(|w| w == "怎么" || w == "请问" || w == "？"), "{words:?}");
    }

    #[test]
    fn colloquial_phrases_expand_to_official_terms() {
        let terms = Lexicon::get().expansions("生孩子要办什么");
        assert!(terms.contains(&"生育".to_owned()), "{terms:?}");
        assert!(Lexicon::get().expansions("天气怎么样").is_empty());
    }

    #[test]
    fn runs_split_at_filler_words() {
        assert_eq!(Lexicon::get().meaningful_runs("营业执找丢了怎么办？"), vec!["营业执找丢"]);
    }

    #[test]
    fn homophone_typos_sound_like_the_word_meant() {
        assert_eq!(sound_pairs("社报卡"), sound_pairs("社保卡"));
        assert_eq!(sounds("SC证"), vec!["sc", "zheng"]);
        assert!(Lexicon::get().expansions("低报怎么申请").contains(&"最低".to_owned()));
    }

    #[test]
    fn full_width_and_case_are_folded() {
        assert_eq!(normalize("ＥＴＣ办理"), "etc办理");
        assert_eq!(normalize("KTV"), "ktv");
    }
}
