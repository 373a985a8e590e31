//! The classifier: training (vocabulary, SVM, temperature), prediction, cross-validation and
//! evaluation.

use std::fmt;
use std::sync::Arc;

use jieba_rs::Jieba;
use serde::{Deserialize, Serialize};

use crate::calibrate::{fit_temperature, softmax};
use crate::error::ClassifierError;
use crate::features::{FeatureOptions, block_of, for_each_feature, shared_jieba};
use crate::hash::{FxHashMap, name_hash};
use crate::metrics::Metrics;
use crate::rng::SplitMix64;
use crate::svm::{LinearModel, Loss, SvmParams, train_one_vs_rest};
use crate::tfidf::{Corpus, SparseVec, Vocabulary, weigh};

/// A labelled text to train or evaluate on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sample {
    pub text: String,
    pub label: String,
}

impl Sample {
    pub fn new(text: impl Into<String>, label: impl Into<String>) -> Self {
        Sample { text: text.into(), label: label.into() }
    }
}

/// A label and how sure the model is of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    pub label: String,
    /// In [0, 1]; the confidences of one text sum to 1.
    pub confidence: f64,
}

/// How the classes weigh in the SVM's cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClassWeight {
    /// Every text costs the same.
    Uniform,
    /// A class's texts cost in inverse proportion to its size (scikit-learn's "balanced"), which
    /// helps the small classes and so macro-F1.
    Balanced,
}

/// How to train. The defaults were chosen by cross-validation on the training split of the
/// 12345 messages (see the crate README).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    pub features: FeatureOptions,
    /// SVM cost of errors (inverse regularisation strength).
    pub c: f64,
    pub loss: Loss,
    pub class_weight: ClassWeight,
    /// Solver stopping tolerance on the projected gradient.
    pub tolerance: f64,
    /// Solver passes over the data at most.
    pub max_epochs: usize,
    /// Cross-validation folds whose held-out decision values fit the confidence temperature;
    /// below 2 (or fewer texts than folds) the temperature is [`DEFAULT_TEMPERATURE`].
    pub calibration_folds: usize,
    /// Features whose weights are all smaller than this (in absolute value) are dropped from the
    /// model, which keeps the file small.
    pub prune_below: f64,
    /// Seed of the solver's and the folds' shuffles.
    pub seed: u64,
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            features: FeatureOptions::default(),
            c: 0.5,
            loss: Loss::SquaredHinge,
            class_weight: ClassWeight::Balanced,
            tolerance: 1e-4,
            max_epochs: 1000,
            calibration_folds: 5,
            prune_below: 0.05,
            seed: 12345,
        }
    }
}

impl TrainOptions {
    fn validate(&self) -> Result<(), ClassifierError> {
        let f = &self.features;
        let invalid = ClassifierError::InvalidOption;
        if !(self.c.is_finite() && self.c > 0.0) {
            return Err(invalid("c must be positive"));
        }
        if !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(invalid("tolerance must be positive"));
        }
        if self.max_epochs == 0 {
            return Err(invalid("max_epochs must be positive"));
        }
        if !(self.prune_below.is_finite() && self.prune_below >= 0.0) {
            return Err(invalid("prune_below must be zero or positive"));
        }
        if f.char_min > f.char_max {
            return Err(invalid("char_min must not exceed char_max"));
        }
        if !f.words && !f.word_bigrams && f.char_max == 0 {
            return Err(invalid("no features: words, word pairs and character n-grams are all off"));
        }
        let weight_ok = |w: f64| w.is_finite() && w >= 0.0;
        if !weight_ok(f.word_weight) || !weight_ok(f.char_weight) {
            return Err(invalid("block weights must be zero or positive"));
        }
        Ok(())
    }
}

/// The temperature when there is too little data to fit one.
pub const DEFAULT_TEMPERATURE: f64 = 1.0;

/// A trained classifier. Cheap to clone (the jieba segmenter is shared), `Send` and `Sync`.
#[derive(Clone)]
pub struct Model {
    pub(crate) labels: Vec<String>,
    pub(crate) features: FeatureOptions,
    /// Feature names, ascending; a column indexes these, `idf` and the rows of `weights`.
    pub(crate) names: Vec<String>,
    /// The block of each column (from its name, kept apart so scoring does not touch names).
    pub(crate) blocks: Vec<u8>,
    /// Column of each name's [`name_hash`].
    pub(crate) columns: FxHashMap<u64, u32>,
    pub(crate) idf: Vec<f32>,
    /// `weights[column * labels + label]`.
    pub(crate) weights: Vec<f32>,
    pub(crate) biases: Vec<f64>,
    pub(crate) temperature: f64,
    pub(crate) jieba: Arc<Jieba>,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("labels", &self.labels)
            .field("features", &self.names.len())
            .field("temperature", &self.temperature)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Model {
    /// Same labels, features, weights and temperature (the segmenter is not compared).
    fn eq(&self, other: &Self) -> bool {
        self.labels == other.labels
            && self.features == other.features
            && self.names == other.names
            && self.idf == other.idf
            && self.weights == other.weights
            && self.biases == other.biases
            && self.temperature == other.temperature
    }
}

/// The training texts as the SVM sees them.
struct Prepared {
    labels: Vec<String>,
    corpus: Corpus,
    /// The label index of each text.
    y: Vec<usize>,
    /// The texts before this are samples, those after it hints.
    samples: usize,
}

impl Prepared {
    fn hints(&self) -> std::ops::Range<usize> {
        self.samples..self.y.len()
    }
}

/// Segments `samples` then `hints` (corpus texts `samples.len()..`).
fn prepare(
    jieba: &Jieba,
    samples: &[Sample],
    hints: &[Sample],
    options: &TrainOptions,
) -> Result<Prepared, ClassifierError> {
    options.validate()?;
    if samples.is_empty() {
        return Err(ClassifierError::NoSamples);
    }
    let all = || samples.iter().chain(hints);
    if all().any(|s| s.label.is_empty()) {
        return Err(ClassifierError::EmptyLabel);
    }
    let mut labels: Vec<String> = all().map(|s| s.label.clone()).collect();
    labels.sort_unstable();
    labels.dedup();
    if labels.len() < 2 {
        return Err(ClassifierError::TooFewLabels(labels.len()));
    }
    let y = all().map(|s| labels.binary_search(&s.label).expect("label listed")).collect();
    let corpus = Corpus::build(jieba, &options.features, all().map(|s| s.text.as_str()));
    Ok(Prepared { labels, corpus, y, samples: samples.len() })
}

/// Fits a vocabulary and an SVM on the texts `subset`.
fn fit(prepared: &Prepared, subset: &[usize], options: &TrainOptions) -> (Vocabulary, LinearModel) {
    let vocabulary = Vocabulary::fit(&prepared.corpus, subset, options.features.min_df);
    let x: Vec<SparseVec> =
        subset.iter().map(|&i| vocabulary.transform(&prepared.corpus, i, &options.features)).collect();
    let y: Vec<usize> = subset.iter().map(|&i| prepared.y[i]).collect();
    let classes = prepared.labels.len();
    let mut counts = vec![0usize; classes];
    for &label in &y {
        counts[label] += 1;
    }
    let class_cost = counts
        .iter()
        .map(|&count| match options.class_weight {
            ClassWeight::Balanced if count > 0 => options.c * y.len() as f64 / (classes * count) as f64,
            _ => options.c,
        })
        .collect();
    let params = SvmParams {
        c: options.c,
        class_cost,
        loss: options.loss,
        tolerance: options.tolerance,
        max_epochs: options.max_epochs,
        seed: options.seed,
    };
    let model = train_one_vs_rest(&x, &y, vocabulary.names.len(), &params);
    prune(vocabulary, model, options.prune_below)
}

/// Drops the features whose weights are all below `threshold` in absolute value. They leave the
/// vocabulary too, so they no longer count in a text's length either; the model is not
/// retrained, which is close enough for small weights.
fn prune(vocabulary: Vocabulary, model: LinearModel, threshold: f64) -> (Vocabulary, LinearModel) {
    let classes = model.classes;
    let keep: Vec<bool> = model.weights.chunks(classes).map(|row| row.iter().any(|w| w.abs() >= threshold)).collect();
    let weights = model.weights.chunks(classes).zip(&keep).filter(|(_, k)| **k).flat_map(|(row, _)| row).copied();
    let model = LinearModel { weights: weights.collect(), ..model };
    (vocabulary.retain(&keep), model)
}

/// The fold of each text: each label's texts shuffled (seeded) and dealt round the folds.
fn stratified_folds(y: &[usize], classes: usize, folds: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64::new(seed);
    let mut fold_of = vec![0; y.len()];
    let mut next = 0;
    for class in 0..classes {
        let mut members: Vec<usize> = (0..y.len()).filter(|&i| y[i] == class).collect();
        rng.shuffle(&mut members);
        for i in members {
            fold_of[i] = next % folds;
            next += 1;
        }
    }
    fold_of
}

/// Decision values of each text from a model trained on the other folds.
/// Hints are in every fold's training part and never held out.
fn out_of_fold_scores(prepared: &Prepared, options: &TrainOptions, folds: usize) -> Vec<Vec<f64>> {
    let n = prepared.samples;
    let fold_of = stratified_folds(&prepared.y[..n], prepared.labels.len(), folds, options.seed);
    let mut scores = vec![Vec::new(); n];
    for fold in 0..folds {
        let train: Vec<usize> = (0..n).filter(|&i| fold_of[i] != fold).chain(prepared.hints()).collect();
        let (vocabulary, model) = fit(prepared, &train, options);
        for i in (0..n).filter(|&i| fold_of[i] == fold) {
            scores[i] = model.scores(&vocabulary.transform(&prepared.corpus, i, &options.features));
        }
    }
    scores
}

fn best(scores: &[f64]) -> usize {
    // The first of equal scores, so ties break by label order.
    (0..scores.len()).fold(0, |best, i| if scores[i] > scores[best] { i } else { best })
}

/// Stratified k-fold cross-validation of `options` on `samples`: each text predicted by a model
/// trained (vocabulary and IDF included) on the other folds. For tuning options without
/// touching a validation set.
pub fn cross_validate(samples: &[Sample], options: &TrainOptions, folds: usize) -> Result<Metrics, ClassifierError> {
    cross_validate_with_hints(samples, &[], options, folds)
}

/// [`cross_validate`] with `hints` (see [`Model::train_with_hints`]) added to the training part
/// of every fold.
pub fn cross_validate_with_hints(
    samples: &[Sample],
    hints: &[Sample],
    options: &TrainOptions,
    folds: usize,
) -> Result<Metrics, ClassifierError> {
    if folds < 2 || folds > samples.len() {
        return Err(ClassifierError::InvalidOption("folds must be at least 2 and at most the number of samples"));
    }
    let prepared = prepare(&shared_jieba(), samples, hints, options)?;
    let scores = out_of_fold_scores(&prepared, options, folds);
    let predicted: Vec<&str> = scores.iter().map(|s| prepared.labels[best(s)].as_str()).collect();
    Ok(Metrics::from_pairs(&prepared.labels, samples.iter().map(|s| s.label.as_str()).zip(predicted)))
}

/// Accuracy, macro-F1 and per-label figures of `model`'s best guesses on `samples`.
pub fn evaluate(model: &Model, samples: &[Sample]) -> Metrics {
    let predicted: Vec<usize> = samples.iter().map(|s| best(&model.decision_scores(&s.text))).collect();
    let pairs = samples.iter().zip(&predicted).map(|(s, &p)| (s.label.as_str(), model.labels[p].as_str()));
    Metrics::from_pairs(&model.labels, pairs)
}

impl Model {
    /// Trains on `samples`. Deterministic: the same samples in the same order with the same
    /// options give a byte-identical model.
    pub fn train(samples: &[Sample], options: &TrainOptions) -> Result<Model, ClassifierError> {
        Model::train_with_hints(samples, &[], options)
    }

    /// Trains on `samples` and `hints`: labelled texts that are always trained on but never held
    /// out to fit the confidence temperature, such as the names of each label's sub-categories
    /// in the category tree ("工资福利。工资发放" for 劳动和社会保障). A label may have hints only.
    pub fn train_with_hints(
        samples: &[Sample],
        hints: &[Sample],
        options: &TrainOptions,
    ) -> Result<Model, ClassifierError> {
        let jieba = shared_jieba();
        let prepared = prepare(&jieba, samples, hints, options)?;
        let folds = options.calibration_folds;
        let temperature = if folds >= 2 && samples.len() >= folds {
            fit_temperature(&out_of_fold_scores(&prepared, options, folds), &prepared.y[..samples.len()])
        } else {
            DEFAULT_TEMPERATURE
        };
        let all: Vec<usize> = (0..prepared.y.len()).collect();
        let (vocabulary, linear) = fit(&prepared, &all, options);
        Ok(Model::assemble(
            prepared.labels,
            options.features.clone(),
            vocabulary.names,
            vocabulary.idf.iter().map(|&v| v as f32).collect(),
            linear.weights.iter().map(|&w| w as f32).collect(),
            linear.biases,
            temperature,
            jieba,
        ))
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn assemble(
        labels: Vec<String>,
        features: FeatureOptions,
        names: Vec<String>,
        idf: Vec<f32>,
        weights: Vec<f32>,
        biases: Vec<f64>,
        temperature: f64,
        jieba: Arc<Jieba>,
    ) -> Model {
        let mut columns = FxHashMap::default();
        columns.reserve(names.len());
        for (column, name) in names.iter().enumerate() {
            // On the (about 1 in 10^11) chance of two names with one hash, the first keeps it
            // and the second is never seen: deterministic, and nearly harmless.
            columns.entry(name_hash(name)).or_insert(column as u32);
        }
        let blocks = names.iter().map(|name| block_of(name) as u8).collect();
        Model { labels, features, names, blocks, columns, idf, weights, biases, temperature, jieba }
    }

    /// The labels the model knows, sorted.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// How many features the model weighs.
    pub fn feature_count(&self) -> usize {
        self.names.len()
    }

    /// The options features are extracted with.
    pub fn feature_options(&self) -> &FeatureOptions {
        &self.features
    }

    /// The softmax temperature that turns decision values into confidences.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// The SVM decision value of each label (in the order of [`Model::labels`]).
    pub fn decision_scores(&self, text: &str) -> Vec<f64> {
        let mut columns: Vec<u32> = Vec::with_capacity(text.len());
        for_each_feature(&self.jieba, &self.features, text, |name| {
            if let Some(&column) = self.columns.get(&name_hash(name)) {
                columns.push(column);
            }
        });
        columns.sort_unstable();
        let counts = columns.chunk_by(|a, b| a == b).map(|run| {
            let column = run[0];
            (column, run.len() as u32, usize::from(self.blocks[column as usize]))
        });
        let vector = weigh(counts, |column| f64::from(self.idf[column as usize]), &self.features);
        let classes = self.labels.len();
        let mut scores = self.biases.clone();
        for (column, value) in vector {
            let row = &self.weights[column as usize * classes..][..classes];
            for (score, &weight) in scores.iter_mut().zip(row) {
                *score += f64::from(weight) * value;
            }
        }
        scores
    }

    /// Every label with its confidence, the most likely first.
    pub fn predict(&self, text: &str) -> Vec<Prediction> {
        let confidences = softmax(&self.decision_scores(text), self.temperature);
        let mut order: Vec<usize> = (0..self.labels.len()).collect();
        order.sort_by(|&a, &b| confidences[b].total_cmp(&confidences[a]).then(a.cmp(&b)));
        order.into_iter().map(|i| Prediction { label: self.labels[i].clone(), confidence: confidences[i] }).collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Three obvious classes, a handful of texts each.
    pub(crate) fn toy_samples() -> Vec<Sample> {
        let rows = [
            ("拖欠工资三个月，老板不发工资", "劳动"),
            ("公司不给员工缴纳社保和工资", "劳动"),
            ("农民工工资被拖欠，要求支付工资", "劳动"),
            ("单位辞退员工不给经济补偿和社保", "劳动"),
            ("学校乱收补课费，学生负担重", "教育"),
            ("小学老师违规补课收费", "教育"),
            ("孩子入学难，学校不接收学生", "教育"),
            ("中学教师体罚学生", "教育"),
            ("公交车司机开车打电话，公交线路太少", "交通"),
            ("出租车拒载，司机绕路", "交通"),
            ("公交站台损坏，公交车不停站", "交通"),
            ("道路拥堵，出租车乱停", "交通"),
        ];
        rows.into_iter().map(|(t, l)| Sample::new(t, l)).collect()
    }

    fn toy_options() -> TrainOptions {
        TrainOptions {
            features: FeatureOptions { min_df: 1, ..FeatureOptions::default() },
            calibration_folds: 3,
            ..TrainOptions::default()
        }
    }

    #[test]
    fn separates_obvious_classes() {
        let model = Model::train(&toy_samples(), &toy_options()).unwrap();
        assert_eq!(model.labels(), ["交通", "劳动", "教育"]);
        for (text, label) in [("老板拖欠工资", "劳动"), ("学校补课收费", "教育"), ("公交车司机", "交通")]
        {
            let predictions = model.predict(text);
            assert_eq!(predictions[0].label, label, "{text}: {predictions:?}");
            let sum: f64 = predictions.iter().map(|p| p.confidence).sum();
            assert!((sum - 1.0).abs() < 1e-9);
            assert!(predictions.windows(2).all(|w| w[0].confidence >= w[1].confidence));
            assert!(predictions.iter().all(|p| (0.0..=1.0).contains(&p.confidence)));
        }
        let metrics = evaluate(&model, &toy_samples());
        assert_eq!(metrics.accuracy, 1.0);
    }

    #[test]
    fn hints_are_learnt_but_never_held_out() {
        let hints = [Sample::new("环境污染，噪音污染，大气污染", "环保"), Sample::new("水污染，工厂排污", "环保")];
        let model = Model::train_with_hints(&toy_samples(), &hints, &toy_options()).unwrap();
        assert_eq!(model.labels(), ["交通", "劳动", "教育", "环保"]);
        assert_eq!(model.predict("工厂排污造成水污染")[0].label, "环保");
        let metrics = cross_validate_with_hints(&toy_samples(), &hints, &toy_options(), 4).unwrap();
        assert_eq!(metrics.count, 12, "only samples are evaluated");
    }

    #[test]
    fn an_empty_text_still_gets_a_distribution() {
        let model = Model::train(&toy_samples(), &toy_options()).unwrap();
        let predictions = model.predict("");
        assert_eq!(predictions.len(), 3);
        assert!((predictions.iter().map(|p| p.confidence).sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn training_is_deterministic() {
        let a = Model::train(&toy_samples(), &toy_options()).unwrap();
        let b = Model::train(&toy_samples(), &toy_options()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.to_bytes(), b.to_bytes());
    }

    #[test]
    fn cross_validation_predicts_held_out_texts() {
        let metrics = cross_validate(&toy_samples(), &toy_options(), 4).unwrap();
        assert_eq!(metrics.count, 12);
        assert!(metrics.accuracy > 0.5, "{metrics:?}");
        assert!(cross_validate(&toy_samples(), &toy_options(), 1).is_err());
    }

    #[test]
    fn folds_are_stratified_and_seeded() {
        let y = [0, 0, 0, 0, 1, 1, 1, 1, 2, 2];
        let folds = stratified_folds(&y, 3, 2, 1);
        for class in 0..3 {
            let in_first = (0..y.len()).filter(|&i| y[i] == class && folds[i] == 0).count();
            let total = y.iter().filter(|&&c| c == class).count();
            assert_eq!(in_first, total / 2);
        }
        assert_eq!(folds, stratified_folds(&y, 3, 2, 1));
    }

    #[test]
    fn a_model_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Model>();
    }

    #[test]
    fn rejects_bad_input() {
        let options = TrainOptions::default();
        assert_eq!(Model::train(&[], &options).unwrap_err(), ClassifierError::NoSamples);
        let one = [Sample::new("a", "x"), Sample::new("b", "x")];
        assert_eq!(Model::train(&one, &options).unwrap_err(), ClassifierError::TooFewLabels(1));
        let empty = [Sample::new("a", ""), Sample::new("b", "x")];
        assert_eq!(Model::train(&empty, &options).unwrap_err(), ClassifierError::EmptyLabel);
        let bad = TrainOptions { c: 0.0, ..TrainOptions::default() };
        assert!(matches!(Model::train(&toy_samples(), &bad), Err(ClassifierError::InvalidOption(_))));
    }
}
