//! Classifies citizen messages (12345 hotline and message-board work orders) into first-level
//! categories (劳动和社会保障, 城乡建设, …), so that a work order can be dispatched to its
//! department automatically when the model is confident, and with suggestions when it is not.
//!
//! A text becomes jieba words and character 1–2-grams (anonymised place codes such as "A1区"
//! normalised away), weighted by TF-IDF (sublinear tf, each block l2-normalised); a linear SVM
//! per label (one-vs-rest, dual coordinate descent as in liblinear) scores it, and a softmax with
//! a temperature fitted on cross-validation turns the scores into confidences. Names from the
//! category tree can be added as hints ([`category_hints`], [`Model::train_with_hints`]).
//! Training is deterministic and takes about half a second on a few hundred messages; a model
//! is a small versioned binary file ([`Model::to_bytes`]). The crate README has the figures.
//!
//! ```no_run
//! use yiwang_classifier::{Model, Sample, TrainOptions};
//!
//! let samples = vec![Sample::new("拖欠工资三个月", "劳动和社会保障"), Sample::new("学校乱收费", "教育文体")];
//! let model = Model::train(&samples, &TrainOptions::default())?;
//! let bytes = model.to_bytes();
//! let model = Model::from_bytes(&bytes)?;
//! let best = &model.predict("老板不发工资")[0];
//! println!("{} {:.2}", best.label, best.confidence);
//! # Ok::<(), yiwang_classifier::ClassifierError>(())
//! ```

mod calibrate;
mod codec;
mod error;
mod features;
mod hash;
mod hints;
mod metrics;
mod model;
mod normalize;
mod rng;
mod svm;
mod tfidf;

pub use error::ClassifierError;
pub use features::FeatureOptions;
pub use hints::category_hints;
pub use metrics::{LabelMetrics, Metrics};
pub use model::{
    ClassWeight, DEFAULT_TEMPERATURE, Model, Prediction, Sample, TrainOptions, cross_validate,
    cross_validate_with_hints, evaluate,
};
pub use svm::Loss;
