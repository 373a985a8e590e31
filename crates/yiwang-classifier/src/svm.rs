//! A linear SVM trained one-vs-rest by dual coordinate descent, as liblinear's
//! `L2R_L2LOSS_SVC_DUAL` / `L2R_L1LOSS_SVC_DUAL` solvers (the default of scikit-learn's
//! `LinearSVC`): Hsieh et al., "A Dual Coordinate Descent Method for Large-scale Linear SVM",
//! ICML 2008. The intercept is a constant feature of value 1, regularised like the others (as
//! liblinear with `-B 1`). The visiting order is shuffled by a seeded generator, so training is
//! reproducible.

use serde::{Deserialize, Serialize};

use crate::rng::SplitMix64;
use crate::tfidf::SparseVec;

/// The loss of each binary SVM.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Loss {
    /// max(0, 1 - y·f(x))², liblinear's default and scikit-learn `LinearSVC`'s.
    SquaredHinge,
    /// max(0, 1 - y·f(x)).
    Hinge,
}

/// Solver settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SvmParams {
    /// Cost of errors for the negative texts of each binary problem.
    pub c: f64,
    /// Cost of errors for the positive texts of the problem of each class (C times its weight).
    pub class_cost: Vec<f64>,
    pub loss: Loss,
    /// Stop when the projected gradient spans less than this.
    pub tolerance: f64,
    pub max_epochs: usize,
    pub seed: u64,
}

/// Weights of a one-vs-rest linear model, feature-major (`weights[feature * classes + class]`)
/// so that one feature's weights are adjacent when scoring.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LinearModel {
    pub classes: usize,
    pub weights: Vec<f64>,
    pub biases: Vec<f64>,
}

impl LinearModel {
    /// The decision value of each class for `x`.
    pub fn scores(&self, x: &[(u32, f64)]) -> Vec<f64> {
        let mut scores = self.biases.clone();
        for &(feature, value) in x {
            let row = &self.weights[feature as usize * self.classes..][..self.classes];
            for (score, weight) in scores.iter_mut().zip(row) {
                *score += weight * value;
            }
        }
        scores
    }
}

/// Trains one binary SVM per class (that class against the others); `y` holds class indices.
pub(crate) fn train_one_vs_rest(x: &[SparseVec], y: &[usize], features: usize, params: &SvmParams) -> LinearModel {
    let classes = params.class_cost.len();
    let mut weights = vec![0.0; features * classes];
    let mut biases = vec![0.0; classes];
    for class in 0..classes {
        let positive: Vec<bool> = y.iter().map(|&label| label == class).collect();
        let seed = params.seed.wrapping_add(class as u64);
        let (w, b) = train_binary(x, &positive, features, params.class_cost[class], params, seed);
        for (feature, weight) in w.into_iter().enumerate() {
            weights[feature * classes + class] = weight;
        }
        biases[class] = b;
    }
    LinearModel { classes, weights, biases }
}

/// One binary SVM: returns the weights and the intercept.
fn train_binary(
    x: &[SparseVec],
    positive: &[bool],
    features: usize,
    c_positive: f64,
    params: &SvmParams,
    seed: u64,
) -> (Vec<f64>, f64) {
    const BIAS_FEATURE: f64 = 1.0;
    let n = x.len();
    let sign: Vec<f64> = positive.iter().map(|&p| if p { 1.0 } else { -1.0 }).collect();
    let cost: Vec<f64> = positive.iter().map(|&p| if p { c_positive } else { params.c }).collect();
    let (diagonal, upper): (Vec<f64>, Vec<f64>) = match params.loss {
        Loss::SquaredHinge => cost.iter().map(|c| (0.5 / c, f64::INFINITY)).unzip(),
        Loss::Hinge => cost.iter().map(|&c| (0.0, c)).unzip(),
    };
    let q_diagonal: Vec<f64> = x
        .iter()
        .zip(&diagonal)
        .map(|(xi, d)| xi.iter().map(|(_, v)| v * v).sum::<f64>() + BIAS_FEATURE * BIAS_FEATURE + d)
        .collect();
    let mut alpha = vec![0.0; n];
    let mut w = vec![0.0; features];
    let mut b = 0.0;
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix64::new(seed);
    for _ in 0..params.max_epochs {
        rng.shuffle(&mut order);
        let (mut pg_max, mut pg_min) = (f64::NEG_INFINITY, f64::INFINITY);
        for &i in &order {
            let margin = x[i].iter().map(|&(f, v)| w[f as usize] * v).sum::<f64>() + b * BIAS_FEATURE;
            let gradient = sign[i] * margin - 1.0 + diagonal[i] * alpha[i];
            let projected = if alpha[i] == 0.0 {
                gradient.min(0.0)
            } else if alpha[i] == upper[i] {
                gradient.max(0.0)
            } else {
                gradient
            };
            pg_max = pg_max.max(projected);
            pg_min = pg_min.min(projected);
            if projected.abs() > 1e-12 {
                let old = alpha[i];
                alpha[i] = (alpha[i] - gradient / q_diagonal[i]).clamp(0.0, upper[i]);
                let step = (alpha[i] - old) * sign[i];
                for &(f, v) in &x[i] {
                    w[f as usize] += step * v;
                }
                b += step * BIAS_FEATURE;
            }
        }
        if pg_max - pg_min <= params.tolerance {
            break;
        }
    }
    (w, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(classes: usize) -> SvmParams {
        SvmParams {
            c: 1.0,
            class_cost: vec![1.0; classes],
            loss: Loss::SquaredHinge,
            tolerance: 1e-6,
            max_epochs: 1000,
            seed: 1,
        }
    }

    #[test]
    fn separates_three_classes_each_on_its_own_feature() {
        let x: Vec<SparseVec> = (0..9).map(|i| vec![((i % 3) as u32, 1.0), (3, 0.5)]).collect();
        let y: Vec<usize> = (0..9).map(|i| i % 3).collect();
        let model = train_one_vs_rest(&x, &y, 4, &params(3));
        for (xi, &yi) in x.iter().zip(&y) {
            let scores = model.scores(xi);
            let best = (0..3).max_by(|&a, &b| scores[a].total_cmp(&scores[b])).unwrap();
            assert_eq!(best, yi, "{scores:?}");
            assert!(scores[yi] > 0.0);
        }
    }

    #[test]
    fn matches_the_closed_form_of_a_symmetric_problem() {
        // Two points ±1 on one feature. By symmetry the intercept is 0, and the squared-hinge
        // dual gives alpha = 1 / (2 + 1/(2C)) per point and w = 2 alpha.
        let x: Vec<SparseVec> = vec![vec![(0, 1.0)], vec![(0, -1.0)]];
        let y = vec![0, 1];
        let model = train_one_vs_rest(&x, &y, 1, &params(2));
        let alpha = 1.0 / (2.0 + 0.5);
        assert!((model.weights[0] - 2.0 * alpha).abs() < 1e-5, "{:?}", model.weights);
        assert!(model.biases[0].abs() < 1e-5);
    }

    #[test]
    fn hinge_loss_also_separates() {
        let x: Vec<SparseVec> = vec![vec![(0, 1.0)], vec![(0, 0.9)], vec![(1, 1.0)], vec![(1, 0.8)]];
        let y = vec![0, 0, 1, 1];
        let model = train_one_vs_rest(&x, &y, 2, &SvmParams { loss: Loss::Hinge, ..params(2) });
        assert!(model.scores(&[(0, 1.0)])[0] > model.scores(&[(0, 1.0)])[1]);
        assert!(model.scores(&[(1, 1.0)])[1] > model.scores(&[(1, 1.0)])[0]);
    }
}
