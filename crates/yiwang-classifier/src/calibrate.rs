//! Confidences: a softmax of the SVM's decision values divided by a temperature. The temperature
//! is fitted (temperature scaling, Guo et al. 2017) to minimise the log-loss of decision values
//! that the model gave texts it was not trained on (cross-validation folds), so a confidence of
//! 0.9 means about nine in ten right.

/// Softmax of `scores / temperature`, stable for large scores.
pub(crate) fn softmax(scores: &[f64], temperature: f64) -> Vec<f64> {
    let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = scores.iter().map(|s| ((s - max) / temperature).exp()).collect();
    let sum: f64 = exps.iter().sum();
    exps.into_iter().map(|e| e / sum).collect()
}

/// Mean negative log-likelihood of the true classes.
fn log_loss(scores: &[Vec<f64>], truth: &[usize], temperature: f64) -> f64 {
    let total: f64 = scores
        .iter()
        .zip(truth)
        .map(|(row, &t)| {
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let log_sum = row.iter().map(|s| ((s - max) / temperature).exp()).sum::<f64>().ln();
            log_sum - (row[t] - max) / temperature
        })
        .sum();
    total / scores.len() as f64
}

/// The temperature in [0.01, 100] with the least log-loss on (`scores`, `truth`), found by golden
/// section search on its logarithm (the loss is convex in 1/temperature, so unimodal there).
pub(crate) fn fit_temperature(scores: &[Vec<f64>], truth: &[usize]) -> f64 {
    if scores.is_empty() {
        return 1.0;
    }
    let loss = |log_t: f64| log_loss(scores, truth, log_t.exp());
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut low, mut high) = (0.01f64.ln(), 100f64.ln());
    let mut a = high - ratio * (high - low);
    let mut b = low + ratio * (high - low);
    let (mut loss_a, mut loss_b) = (loss(a), loss(b));
    for _ in 0..60 {
        if loss_a <= loss_b {
            high = b;
            b = a;
            loss_b = loss_a;
            a = high - ratio * (high - low);
            loss_a = loss(a);
        } else {
            low = a;
            a = b;
            loss_a = loss_b;
            b = low + ratio * (high - low);
            loss_b = loss(b);
        }
    }
    ((low + high) / 2.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_keeps_order() {
        let p = softmax(&[1.0, -0.5, 0.2], 0.3);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!(p[0] > p[2] && p[2] > p[1]);
        let big = softmax(&[1000.0, 999.0], 1.0);
        assert!(big.iter().all(|v| v.is_finite()));
    }

    #[test]
    fn confident_right_answers_cool_the_softmax() {
        // Always right by a margin: sharper (smaller temperature) is better, down to the bound.
        let scores = vec![vec![1.0, -1.0], vec![-1.0, 1.0]];
        assert!(fit_temperature(&scores, &[0, 1]) < 0.02);
        // Right half the time with the same margin: the best is a flat softmax.
        let scores = vec![vec![1.0, -1.0], vec![1.0, -1.0]];
        assert!(fit_temperature(&scores, &[0, 1]) > 50.0);
    }

    #[test]
    fn recovers_a_known_temperature() {
        // Scores (s, 0) with the first class right with probability p = 1 / (1 + e^(-s/T)): the
        // fit recovers T from a sample in exactly those proportions (8 of 10 with s = ln 4 ⇒ T = 1).
        let s = 4f64.ln();
        let scores = vec![vec![s, 0.0]; 10];
        let truth = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
        assert!((fit_temperature(&scores, &truth) - 1.0).abs() < 1e-4);
    }
}
