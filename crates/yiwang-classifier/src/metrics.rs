//! How well predictions match the truth: accuracy, per-label precision / recall / F1, macro-F1
//! (the unweighted mean of the labels' F1, as scikit-learn's `f1_score(average="macro")`) and the
//! confusion matrix.

use serde::{Deserialize, Serialize};

/// Figures for one label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelMetrics {
    pub label: String,
    /// Right among those predicted as this label (0 if none was).
    pub precision: f64,
    /// Found among those truly of this label (0 if none was).
    pub recall: f64,
    pub f1: f64,
    /// Texts truly of this label.
    pub support: usize,
}

/// Figures for a set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Texts evaluated.
    pub count: usize,
    pub accuracy: f64,
    /// Mean F1 over the labels that occur in the truth or the predictions.
    pub macro_f1: f64,
    /// One per label, in the order of `labels`.
    pub per_label: Vec<LabelMetrics>,
    /// The labels that occur in the truth or the predictions: the known labels first, in their
    /// order, then any others sorted.
    pub labels: Vec<String>,
    /// `confusion[truth][predicted]`, indexed as `labels`.
    pub confusion: Vec<Vec<usize>>,
}

impl Metrics {
    /// Figures for (truth, predicted) pairs; `known` gives the order of the labels (a model's
    /// labels), unknown ones follow.
    pub fn from_pairs<'a>(known: &[String], pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Metrics {
        let pairs: Vec<(&str, &str)> = pairs.into_iter().collect();
        let occurs = |label: &str| pairs.iter().any(|&(t, p)| t == label || p == label);
        let mut labels: Vec<String> = known.iter().filter(|l| occurs(l)).cloned().collect();
        let mut others: Vec<String> = pairs
            .iter()
            .flat_map(|&(t, p)| [t, p])
            .filter(|l| !known.iter().any(|k| k == l))
            .map(str::to_owned)
            .collect();
        others.sort_unstable();
        others.dedup();
        labels.extend(others);
        let index = |label: &str| labels.iter().position(|l| l == label).expect("every label is listed");
        let mut confusion = vec![vec![0usize; labels.len()]; labels.len()];
        for &(truth, predicted) in &pairs {
            confusion[index(truth)][index(predicted)] += 1;
        }
        let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        let per_label: Vec<LabelMetrics> = labels
            .iter()
            .enumerate()
            .map(|(i, label)| {
                let right = confusion[i][i];
                let support: usize = confusion[i].iter().sum();
                let predicted: usize = confusion.iter().map(|row| row[i]).sum();
                let (precision, recall) = (ratio(right, predicted), ratio(right, support));
                let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
                LabelMetrics { label: label.clone(), precision, recall, f1, support }
            })
            .collect();
        let right: usize = (0..labels.len()).map(|i| confusion[i][i]).sum();
        let macro_f1 = if per_label.is_empty() {
            0.0
        } else {
            per_label.iter().map(|m| m.f1).sum::<f64>() / per_label.len() as f64
        };
        Metrics { count: pairs.len(), accuracy: ratio(right, pairs.len()), macro_f1, per_label, labels, confusion }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_made_confusion() {
        // truth a a a b b c, predicted a a b b c c:
        // a: P 2/2 R 2/3 F1 0.8; b: P 1/2 R 1/2 F1 0.5; c: P 1/2 R 1/1 F1 2/3.
        let truth = ["a", "a", "a", "b", "b", "c"];
        let predicted = ["a", "a", "b", "b", "c", "c"];
        let known = ["a".to_owned(), "b".to_owned(), "c".to_owned(), "never".to_owned()];
        let m = Metrics::from_pairs(&known, truth.into_iter().zip(predicted));
        assert_eq!(m.count, 6);
        assert!((m.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(m.labels, ["a", "b", "c"], "a label that never occurs is left out");
        let f1: Vec<f64> = m.per_label.iter().map(|l| l.f1).collect();
        for (got, want) in f1.iter().zip([0.8, 0.5, 2.0 / 3.0]) {
            assert!((got - want).abs() < 1e-12, "{f1:?}");
        }
        assert!((m.macro_f1 - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert_eq!(m.per_label[0].support, 3);
        assert!((m.per_label[0].precision - 1.0).abs() < 1e-12);
        assert_eq!(m.confusion, vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]);
    }

    #[test]
    fn a_label_never_predicted_scores_zero_not_nan() {
        let known = ["a".to_owned(), "b".to_owned()];
        let m = Metrics::from_pairs(&known, [("a", "a"), ("b", "a")]);
        assert_eq!(m.per_label[1].precision, 0.0);
        assert_eq!(m.per_label[1].f1, 0.0);
        assert!((m.macro_f1 - (2.0 / 3.0) / 2.0).abs() < 1e-12);
    }

    #[test]
    fn unknown_labels_follow_the_known() {
        let known = ["b".to_owned()];
        let m = Metrics::from_pairs(&known, [("z", "b"), ("y", "b")]);
        assert_eq!(m.labels, ["b", "y", "z"]);
    }
}
