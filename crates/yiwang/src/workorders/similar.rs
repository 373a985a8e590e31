//! How alike two Chinese texts are, without a word segmenter: by the pairs of adjacent letters
//! and digits they share. The knowledge base ranks answers by it and duplicate detection
//! compares reports with it.

use std::collections::HashSet;

pub type Pairs = HashSet<(char, char)>;

/// The pairs of adjacent letters and digits of a text (punctuation and spaces left out).
pub fn pairs(text: &str) -> Pairs {
    let chars: Vec<char> = text.chars().filter(|c| c.is_alphanumeric()).collect();
    chars.windows(2).map(|w| (w[0], w[1])).collect()
}

/// Jaccard similarity of two sets of pairs.
pub fn jaccard(a: &Pairs, b: &Pairs) -> f64 {
    let union = a.union(b).count();
    if union == 0 { 0.0 } else { a.intersection(b).count() as f64 / union as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_pairs_measure_likeness() {
        assert_eq!(pairs("路灯，不亮"), pairs("路灯不亮"));
        assert_eq!(jaccard(&pairs("路灯不亮"), &pairs("路灯不亮")), 1.0);
        assert_eq!(jaccard(&pairs("路灯不亮"), &pairs("天气很好")), 0.0);
        assert_eq!(jaccard(&pairs(""), &pairs("")), 0.0);
    }
}
