//! Trains on `train.csv` of the work-order data, reports cross-validation on it and figures on
//! `validation.csv`, as JSON lines:
//!
//! ```text
//! cargo run --release -p yiwang-classifier --example evaluate -- /work/shared/data/workorders
//!     [--tune | --tune-wide] [--write model.bin [--all]]
//! ```
//!
//! `--tune` cross-validates variations of the default options one at a time on train.csv only
//! (stratified 5-fold, repeated with 3 seeds), so the defaults are chosen without looking at
//! validation.csv; `--tune-wide` runs the wider grid (word weight × character n-grams × C) the
//! defaults were picked from. `--write` saves the model;
//! with `--all` it is trained on train.csv and validation.csv together (the model to ship).

use std::error::Error;
use std::path::Path;
use std::time::Instant;

use serde_json::json;
use yiwang_classifier::{
    ClassWeight, FeatureOptions, Metrics, Model, Sample, TrainOptions, category_hints, cross_validate_with_hints,
    evaluate,
};

/// Reads the `text` and `label` columns of a work-order CSV file.
fn read_samples(path: &Path) -> Result<Vec<Sample>, Box<dyn Error>> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let headers = reader.headers()?.clone();
    let column = |name: &str| headers.iter().position(|h| h == name).ok_or(format!("no column {name}"));
    let (text, label) = (column("text")?, column("label")?);
    let mut samples = Vec::new();
    for record in reader.records() {
        let record = record?;
        samples.push(Sample::new(&record[text], &record[label]));
    }
    Ok(samples)
}

/// The rows (level1, level2, level3) of `categories.csv`, if there is one.
fn read_tree(path: &Path) -> Result<Vec<csv::StringRecord>, Box<dyn Error>> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    Ok(csv::Reader::from_path(path)?.records().collect::<Result<_, _>>()?)
}

const CV_FOLDS: usize = 5;
const CV_SEEDS: [u64; 3] = [12345, 1, 2];

/// Mean accuracy and macro-F1 of 5-fold cross-validation repeated with a few seeds.
fn repeated_cv(samples: &[Sample], hints: &[Sample], options: &TrainOptions) -> Result<(f64, f64), Box<dyn Error>> {
    let (mut accuracy, mut macro_f1) = (0.0, 0.0);
    for seed in CV_SEEDS {
        let metrics = cross_validate_with_hints(samples, hints, &TrainOptions { seed, ..options.clone() }, CV_FOLDS)?;
        accuracy += metrics.accuracy;
        macro_f1 += metrics.macro_f1;
    }
    Ok((accuracy / CV_SEEDS.len() as f64, macro_f1 / CV_SEEDS.len() as f64))
}

fn print_metrics(split: &str, metrics: &Metrics) {
    println!(
        "{}",
        json!({"event": "metrics", "split": split, "count": metrics.count,
               "accuracy": round(metrics.accuracy), "macro_f1": round(metrics.macro_f1)})
    );
    for m in &metrics.per_label {
        println!(
            "{}",
            json!({"event": "label", "split": split, "label": m.label, "precision": round(m.precision),
                   "recall": round(m.recall), "f1": round(m.f1), "support": m.support})
        );
    }
    println!("{}", json!({"event": "confusion", "split": split, "labels": metrics.labels, "rows": metrics.confusion}));
}

fn round(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// Variations of the defaults, one axis at a time, then a few combinations.
fn grid(wide: bool) -> Vec<(String, TrainOptions)> {
    let base = TrainOptions::default();
    let f = FeatureOptions::default();
    let mut grid = vec![("default".to_owned(), base.clone())];
    let mut add = |name: String, options: TrainOptions| grid.push((name, options));
    if wide {
        for w in [0.3, 0.5, 0.7, 1.0] {
            for (min, max) in [(1, 3), (2, 3), (1, 2), (2, 2), (2, 4)] {
                for c in [0.5, 1.0, 3.0] {
                    let features = FeatureOptions { word_weight: w, char_min: min, char_max: max, ..f.clone() };
                    add(format!("w={w} chars={min}-{max} c={c}"), TrainOptions { features, c, ..base.clone() });
                }
            }
        }
        return grid;
    }
    for c in [0.2, 0.3, 1.0, 2.0] {
        add(format!("c={c}"), TrainOptions { c, ..base.clone() });
    }
    add("uniform".into(), TrainOptions { class_weight: ClassWeight::Uniform, ..base.clone() });
    add("hinge".into(), TrainOptions { loss: yiwang_classifier::Loss::Hinge, ..base.clone() });
    let features = |features: FeatureOptions| TrainOptions { features, ..base.clone() };
    add("no-place-norm".into(), features(FeatureOptions { normalize_places: false, ..f.clone() }));
    add("no-digit-fold".into(), features(FeatureOptions { collapse_digits: false, ..f.clone() }));
    add("no-words".into(), features(FeatureOptions { words: false, ..f.clone() }));
    add("word-pairs".into(), features(FeatureOptions { word_bigrams: true, ..f.clone() }));
    add("no-chars".into(), features(FeatureOptions { char_min: 0, char_max: 0, ..f.clone() }));
    for (min, max) in [(1, 1), (2, 2), (1, 3), (2, 3)] {
        add(format!("chars={min}-{max}"), features(FeatureOptions { char_min: min, char_max: max, ..f.clone() }));
    }
    add("tf".into(), features(FeatureOptions { sublinear_tf: false, ..f.clone() }));
    for min_df in [1, 3] {
        add(format!("min_df={min_df}"), features(FeatureOptions { min_df, ..f.clone() }));
    }
    for w in [0.3, 0.7, 1.0] {
        add(format!("word_weight={w}"), features(FeatureOptions { word_weight: w, ..f.clone() }));
    }
    for prune_below in [0.0, 0.01, 0.02, 0.08, 0.1] {
        add(format!("prune_below={prune_below}"), TrainOptions { prune_below, ..base.clone() });
    }
    grid
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = args.iter().find(|a| !a.starts_with("--")).ok_or("usage: evaluate DATA_DIR [--tune] [--write FILE]")?;
    let write = args.iter().position(|a| a == "--write").and_then(|i| args.get(i + 1));
    let dir = Path::new(dir);
    let train = read_samples(&dir.join("train.csv"))?;
    let validation = read_samples(&dir.join("validation.csv"))?;
    let options = TrainOptions::default();
    let mut labels: Vec<String> = train.iter().map(|s| s.label.clone()).collect();
    labels.sort_unstable();
    labels.dedup();
    let tree = read_tree(&dir.join("categories.csv"))?;
    let hints = category_hints(tree.iter().map(|r| (&r[0], &r[1], &r[2])), &labels);
    println!(
        "{}",
        json!({"event": "data", "train": train.len(), "validation": validation.len(), "hints": hints.len()})
    );

    let wide = args.iter().any(|a| a == "--tune-wide");
    if wide || args.iter().any(|a| a == "--tune") {
        for (name, options) in grid(wide) {
            let started = Instant::now();
            let (accuracy, macro_f1) = repeated_cv(&train, &hints, &options)?;
            let seconds = started.elapsed().as_secs_f64();
            let model = Model::train_with_hints(&train, &hints, &options)?;
            println!(
                "{}",
                json!({"event": "tune", "options": name, "cv_accuracy": round(accuracy),
                       "cv_macro_f1": round(macro_f1), "cv_seconds": round(seconds),
                       "features": model.feature_count(), "model_bytes": model.to_bytes().len()})
            );
        }
    }

    for (with_hints, hints) in [(false, &[][..]), (true, &hints[..])] {
        let (accuracy, macro_f1) = repeated_cv(&train, hints, &options)?;
        println!(
            "{}",
            json!({"event": "cross_validation", "split": "train", "folds": CV_FOLDS, "repeats": CV_SEEDS.len(),
                   "hints": with_hints, "accuracy": round(accuracy), "macro_f1": round(macro_f1)})
        );
    }
    println!("{}", json!({"event": "options", "options": options}));

    let started = Instant::now();
    let model = Model::train_with_hints(&train, &hints, &options)?;
    let seconds = started.elapsed().as_secs_f64();
    let bytes = model.to_bytes();
    let again = Model::train_with_hints(&train, &hints, &options)?.to_bytes();
    println!(
        "{}",
        json!({"event": "train", "samples": train.len(), "hints": hints.len(), "seconds": round(seconds),
               "features": model.feature_count(), "model_bytes": bytes.len(),
               "temperature": round(model.temperature()), "deterministic": again == bytes})
    );

    print_metrics("validation", &evaluate(&model, &validation));
    let without = evaluate(&Model::train(&train, &options)?, &validation);
    println!(
        "{}",
        json!({"event": "metrics", "split": "validation", "hints": false, "count": without.count,
               "accuracy": round(without.accuracy), "macro_f1": round(without.macro_f1)})
    );

    // Confidence: how often the best guess is right above a few thresholds.
    for threshold in [0.5, 0.7, 0.9] {
        let sure: Vec<bool> = validation
            .iter()
            .filter_map(|s| {
                let best = &model.predict(&s.text)[0];
                (best.confidence >= threshold).then(|| best.label == s.label)
            })
            .collect();
        let right = sure.iter().filter(|&&r| r).count();
        println!(
            "{}",
            json!({"event": "confidence", "split": "validation", "threshold": threshold,
                   "share_above": round(sure.len() as f64 / validation.len() as f64),
                   "accuracy_above": round(if sure.is_empty() { 0.0 } else { right as f64 / sure.len() as f64 })})
        );
    }

    // Prediction time per message, over validation and train texts, after one warm-up pass:
    // the median of 5 runs per message, so that a run preempted on a busy machine does not count.
    let texts: Vec<&str> = validation.iter().chain(&train).map(|s| s.text.as_str()).collect();
    for text in &texts {
        std::hint::black_box(model.predict(text));
    }
    let mut micros: Vec<f64> = texts
        .iter()
        .map(|text| {
            let mut runs: Vec<f64> = (0..5)
                .map(|_| {
                    let started = Instant::now();
                    std::hint::black_box(model.predict(text));
                    started.elapsed().as_secs_f64() * 1e6
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            runs[2]
        })
        .collect();
    micros.sort_by(f64::total_cmp);
    let mean = micros.iter().sum::<f64>() / micros.len() as f64;
    let p99 = micros[(micros.len() * 99 / 100).min(micros.len() - 1)];
    println!(
        "{}",
        json!({"event": "prediction_time", "messages": micros.len(), "mean_us": round(mean), "p99_us": round(p99),
               "max_us": round(micros[micros.len() - 1])})
    );

    if let Some(path) = write {
        let (model, samples) = if args.iter().any(|a| a == "--all") {
            let all: Vec<Sample> = train.iter().chain(&validation).cloned().collect();
            (Model::train_with_hints(&all, &hints, &options)?, all.len())
        } else {
            (model, train.len())
        };
        let bytes = model.to_bytes();
        std::fs::write(path, &bytes)?;
        println!("{}", json!({"event": "written", "path": path, "samples": samples, "bytes": bytes.len()}));
    }
    Ok(())
}
