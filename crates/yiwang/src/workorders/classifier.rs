//! The work-order classifier as the platform uses it: the model shipped in `models/` (made by
//! `yiwang workorders train --out crates/yiwang/models/workorder-classifier.model` from the real
//! citizen messages in `shared/data/workorders`), or a retrained one in the data directory, which
//! wins when present. Training and evaluation live in the `yiwang-classifier` crate.

use std::path::{Path, PathBuf};

use yiwang_classifier::{Model, Sample};

/// The model built into the binary, so a fresh install classifies without any data.
const SHIPPED: &[u8] = include_bytes!("../../models/workorder-classifier.model");

/// The retrained model's file name in the data directory.
pub const RETRAINED_FILE: &str = "workorder-classifier.model";

pub struct Classifier {
    model: Model,
    /// Where the model came from, for the operator's information.
    pub source: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ClassifierLoadError {
    #[error("{0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Model(String, yiwang_classifier::ClassifierError),
}

impl Classifier {
    /// The retrained model in `data_dir` if there is one, else the shipped model.
    pub fn load(data_dir: &Path) -> Result<Self, ClassifierLoadError> {
        let retrained = data_dir.join(RETRAINED_FILE);
        if retrained.exists() {
            let bytes = std::fs::read(&retrained).map_err(|e| ClassifierLoadError::Read(retrained.clone(), e))?;
            let source = retrained.display().to_string();
            let model = Model::from_bytes(&bytes).map_err(|e| ClassifierLoadError::Model(source.clone(), e))?;
            return Ok(Classifier { model, source });
        }
        Self::shipped()
    }

    pub fn shipped() -> Result<Self, ClassifierLoadError> {
        let model = Model::from_bytes(SHIPPED).map_err(|e| ClassifierLoadError::Model("shipped model".into(), e))?;
        Ok(Classifier { model, source: "shipped".into() })
    }

    /// First-level category names with their confidence, best first.
    pub fn predict(&self, text: &str) -> Vec<(String, f64)> {
        self.model.predict(text).into_iter().map(|p| (p.label, p.confidence)).collect()
    }

    pub fn labels(&self) -> Vec<String> {
        self.model.labels().to_vec()
    }
}

/// Reads the labelled messages of `shared/data/workorders/{train,validation}.csv` (columns
/// `text` and `label`).
pub fn read_samples(path: &Path) -> Result<Vec<Sample>, String> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let headers = reader.headers().map_err(|e| format!("{}: {e}", path.display()))?.clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).ok_or_else(|| format!("{}: no `{name}` column", path.display()))
    };
    let (text, label) = (column("text")?, column("label")?);
    let mut samples = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("{} row {}: {e}", path.display(), i + 2))?;
        samples.push(Sample { text: record[text].to_owned(), label: record[label].to_owned() });
    }
    Ok(samples)
}

/// Copies a CSV with a `text` column (UTF-8, header row) to `out` with a `predicted` column
/// added: the best first-level category of each text. Returns the rows written.
pub fn classify_csv(classifier: &Classifier, input: &Path, out: impl std::io::Write) -> Result<usize, String> {
    let mut reader = csv::Reader::from_path(input).map_err(|e| format!("{}: {e}", input.display()))?;
    let headers = reader.headers().map_err(|e| format!("{}: {e}", input.display()))?.clone();
    let text =
        headers.iter().position(|h| h == "text").ok_or_else(|| format!("{}: no `text` column", input.display()))?;
    let mut writer = csv::Writer::from_writer(out);
    let mut header = headers.clone();
    header.push_field("predicted");
    writer.write_record(&header).map_err(|e| e.to_string())?;
    let mut rows = 0;
    for (i, record) in reader.records().enumerate() {
        let mut record = record.map_err(|e| format!("{} row {}: {e}", input.display(), i + 2))?;
        let predicted =
            classifier.predict(&record[text]).into_iter().next().map(|(label, _)| label).unwrap_or_default();
        record.push_field(&predicted);
        writer.write_record(&record).map_err(|e| e.to_string())?;
        rows += 1;
    }
    writer.flush().map_err(|e| e.to_string())?;
    Ok(rows)
}

/// The category tree's sub-category names as extra training texts for their first level
/// ("环境污染。噪音污染" → 环境保护), from a `level1,level2,level3` CSV.
pub fn read_hints(path: &Path, train: &[Sample]) -> Result<Vec<Sample>, String> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows = Vec::new();
    for record in reader.records() {
        let r = record.map_err(|e| format!("{}: {e}", path.display()))?;
        rows.push((
            r.get(0).unwrap_or_default().to_owned(),
            r.get(1).unwrap_or_default().to_owned(),
            r.get(2).unwrap_or_default().to_owned(),
        ));
    }
    let mut labels: Vec<String> = train.iter().map(|s| s.label.clone()).collect();
    labels.sort();
    labels.dedup();
    Ok(yiwang_classifier::category_hints(rows.iter().map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str())), &labels))
}

/// Trains on `train` (plus dispatchers' corrections) with the tree's `hints`, and measures on
/// `validation`: the model and its validation figures.
pub fn train(
    train: Vec<Sample>,
    hints: &[Sample],
    validation: &[Sample],
) -> Result<(Model, yiwang_classifier::Metrics), yiwang_classifier::ClassifierError> {
    let model = Model::train_with_hints(&train, hints, &yiwang_classifier::TrainOptions::default())?;
    let metrics = yiwang_classifier::evaluate(&model, validation);
    Ok((model, metrics))
}

/// What dispatching at a confidence threshold would do on labelled samples: the share of them
/// dispatched without a dispatcher, and how many of those went to the right first-level category.
pub fn at_threshold(model: &Model, samples: &[Sample], threshold: f64) -> (f64, f64) {
    let sure: Vec<bool> = samples
        .iter()
        .filter_map(|s| {
            let best = model.predict(&s.text).into_iter().next()?;
            (best.confidence >= threshold).then_some(best.label == s.label)
        })
        .collect();
    let share = sure.len() as f64 / samples.len().max(1) as f64;
    let right = sure.iter().filter(|r| **r).count() as f64 / sure.len().max(1) as f64;
    (share, right)
}

impl Classifier {
    pub fn model(&self) -> &Model {
        &self.model
    }
}

/// Figures of the model in use on labelled samples.
pub fn evaluate(classifier: &Classifier, samples: &[Sample]) -> yiwang_classifier::Metrics {
    yiwang_classifier::evaluate(&classifier.model, samples)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_model_loads_and_classifies() {
        let classifier = Classifier::shipped().unwrap();
        assert_eq!(classifier.labels().len(), 7);
        let best = &classifier.predict("公司拖欠工资三个月不发，请劳动监察部门处理")[0];
        assert_eq!(best.0, "劳动和社会保障");
    }

    /// The shipped model is exactly what `yiwang workorders train --without-overrides` makes from
    /// the shared data (skipped where the data is not beside the repository).
    #[test]
    fn the_shipped_model_is_reproducible_from_the_data() {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/workorders");
        if !data.join("train.csv").exists() {
            eprintln!("skipped: {} not found", data.display());
            return;
        }
        let samples = read_samples(&data.join("train.csv")).unwrap();
        let hints = read_hints(&data.join("categories.csv"), &samples).unwrap();
        let validation = read_samples(&data.join("validation.csv")).unwrap();
        let (model, metrics) = train(samples, &hints, &validation).unwrap();
        assert!(model.to_bytes() == SHIPPED, "retrain with the command in the README and commit the model");
        assert!(metrics.macro_f1 > 0.78 && metrics.accuracy > 0.80, "{metrics:?}");
    }
}
