//! The model file: a compact, versioned binary format, little-endian.
//!
//! ```text
//! magic "YWCLF", format version (u8, now 1)
//! labels: count (varint), each a string (varint length, UTF-8)
//! feature options: flags (u8: 1 places, 2 digits, 4 words, 8 word pairs, 16 sublinear tf),
//!   char_min (u8), char_max (u8), min_df (u32), word_weight (f64), char_weight (f64)
//! temperature (f64), one bias per label (f64)
//! features: count (varint), each: name front-coded against the previous one (bytes shared
//!   (varint), rest (string)), IDF (f32), one weight per label (f32)
//! ```
//!
//! Names are strictly ascending, so the same model always gives the same bytes.

use crate::error::ClassifierError;
use crate::features::{FeatureOptions, shared_jieba};
use crate::model::Model;

const MAGIC: &[u8; 5] = b"YWCLF";
const VERSION: u8 = 1;

const PLACES: u8 = 1;
const DIGITS: u8 = 2;
const WORDS: u8 = 4;
const WORD_PAIRS: u8 = 8;
const SUBLINEAR: u8 = 16;

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

pub(crate) fn encode(model: &Model) -> Vec<u8> {
    let classes = model.labels.len();
    let mut out = Vec::with_capacity(64 + model.names.len() * (8 + 4 * (1 + classes)));
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    put_varint(&mut out, classes as u64);
    for label in &model.labels {
        put_bytes(&mut out, label.as_bytes());
    }
    let f = &model.features;
    let flags = [
        (f.normalize_places, PLACES),
        (f.collapse_digits, DIGITS),
        (f.words, WORDS),
        (f.word_bigrams, WORD_PAIRS),
        (f.sublinear_tf, SUBLINEAR),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .fold(0, |flags, (_, bit)| flags | bit);
    out.extend_from_slice(&[flags, f.char_min, f.char_max]);
    out.extend_from_slice(&f.min_df.to_le_bytes());
    out.extend_from_slice(&f.word_weight.to_le_bytes());
    out.extend_from_slice(&f.char_weight.to_le_bytes());
    out.extend_from_slice(&model.temperature.to_le_bytes());
    for bias in &model.biases {
        out.extend_from_slice(&bias.to_le_bytes());
    }
    put_varint(&mut out, model.names.len() as u64);
    let mut previous: &[u8] = &[];
    for (column, name) in model.names.iter().enumerate() {
        let name = name.as_bytes();
        let shared = previous.iter().zip(name).take_while(|(a, b)| a == b).count();
        put_varint(&mut out, shared as u64);
        put_bytes(&mut out, &name[shared..]);
        out.extend_from_slice(&model.idf[column].to_le_bytes());
        for weight in &model.weights[column * classes..][..classes] {
            out.extend_from_slice(&weight.to_le_bytes());
        }
        previous = name;
    }
    out
}

/// Reads the parts of a model file, checking every length against what is left.
struct Reader<'a> {
    bytes: &'a [u8],
}

const TRUNCATED: ClassifierError = ClassifierError::Corrupt("truncated");

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ClassifierError> {
        if n > self.bytes.len() {
            return Err(TRUNCATED);
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ClassifierError> {
        Ok(self.take(N)?.try_into().expect("N bytes"))
    }

    fn u8(&mut self) -> Result<u8, ClassifierError> {
        Ok(self.array::<1>()?[0])
    }

    fn f64(&mut self) -> Result<f64, ClassifierError> {
        let value = f64::from_le_bytes(self.array()?);
        if value.is_finite() { Ok(value) } else { Err(ClassifierError::Corrupt("a number is not finite")) }
    }

    fn f32(&mut self) -> Result<f32, ClassifierError> {
        let value = f32::from_le_bytes(self.array()?);
        if value.is_finite() { Ok(value) } else { Err(ClassifierError::Corrupt("a number is not finite")) }
    }

    fn varint(&mut self) -> Result<u64, ClassifierError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            value |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ClassifierError::Corrupt("varint too long"))
    }

    /// A count of items each at least `min_size` bytes long, checked against what is left.
    fn count(&mut self, min_size: usize) -> Result<usize, ClassifierError> {
        let count = usize::try_from(self.varint()?).map_err(|_| TRUNCATED)?;
        if count.saturating_mul(min_size) > self.bytes.len() { Err(TRUNCATED) } else { Ok(count) }
    }

    fn bytes(&mut self) -> Result<&'a [u8], ClassifierError> {
        let len = self.count(1)?;
        self.take(len)
    }

    fn string(&mut self) -> Result<String, ClassifierError> {
        let bytes = self.bytes()?.to_vec();
        String::from_utf8(bytes).map_err(|_| ClassifierError::Corrupt("a string is not UTF-8"))
    }
}

pub(crate) fn decode(bytes: &[u8]) -> Result<Model, ClassifierError> {
    let mut r = Reader { bytes };
    if r.take(MAGIC.len()).ok() != Some(MAGIC.as_slice()) {
        return Err(ClassifierError::BadMagic);
    }
    let version = r.u8()?;
    if version != VERSION {
        return Err(ClassifierError::UnsupportedVersion(version));
    }
    let classes = r.count(1)?;
    let labels = (0..classes).map(|_| r.string()).collect::<Result<Vec<_>, _>>()?;
    if classes < 2 || labels.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ClassifierError::Corrupt("labels are not at least two, distinct and sorted"));
    }
    let [flags, char_min, char_max] = r.array()?;
    let features = FeatureOptions {
        normalize_places: flags & PLACES != 0,
        collapse_digits: flags & DIGITS != 0,
        words: flags & WORDS != 0,
        word_bigrams: flags & WORD_PAIRS != 0,
        sublinear_tf: flags & SUBLINEAR != 0,
        char_min,
        char_max,
        min_df: u32::from_le_bytes(r.array()?),
        word_weight: r.f64()?,
        char_weight: r.f64()?,
    };
    let temperature = r.f64()?;
    if temperature <= 0.0 {
        return Err(ClassifierError::Corrupt("temperature is not positive"));
    }
    let biases = (0..classes).map(|_| r.f64()).collect::<Result<Vec<_>, _>>()?;
    let count = r.count(2 + 4 * (1 + classes))?;
    let mut names: Vec<String> = Vec::with_capacity(count);
    let mut idf = Vec::with_capacity(count);
    let mut weights = Vec::with_capacity(count * classes);
    let mut name: Vec<u8> = Vec::new();
    for _ in 0..count {
        let shared = usize::try_from(r.varint()?).map_err(|_| TRUNCATED)?;
        if shared > name.len() {
            return Err(ClassifierError::Corrupt("a feature name shares more than its predecessor has"));
        }
        name.truncate(shared);
        name.extend_from_slice(r.bytes()?);
        let text = String::from_utf8(name.clone()).map_err(|_| ClassifierError::Corrupt("a string is not UTF-8"))?;
        if names.last().is_some_and(|last| *last >= text) {
            return Err(ClassifierError::Corrupt("feature names are not strictly ascending"));
        }
        names.push(text);
        idf.push(r.f32()?);
        for _ in 0..classes {
            weights.push(r.f32()?);
        }
    }
    if !r.bytes.is_empty() {
        return Err(ClassifierError::Corrupt("trailing bytes"));
    }
    Ok(Model::assemble(labels, features, names, idf, weights, biases, temperature, shared_jieba()))
}

impl Model {
    /// The model file: a compact, versioned binary format (described in the crate README).
    pub fn to_bytes(&self) -> Vec<u8> {
        encode(self)
    }

    /// Reads a model file written by [`Model::to_bytes`]. Loads jieba's dictionary on the first
    /// call in the process.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ClassifierError> {
        decode(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TrainOptions;
    use crate::model::tests::toy_samples;

    fn model() -> Model {
        let options = TrainOptions {
            features: FeatureOptions { min_df: 1, word_bigrams: true, ..FeatureOptions::default() },
            calibration_folds: 3,
            ..TrainOptions::default()
        };
        Model::train(&toy_samples(), &options).unwrap()
    }

    #[test]
    fn round_trip_keeps_the_model_and_its_predictions() {
        let model = model();
        let bytes = model.to_bytes();
        let back = Model::from_bytes(&bytes).unwrap();
        assert_eq!(back, model);
        assert_eq!(back.to_bytes(), bytes);
        for text in ["老板拖欠工资", "学校补课收费", "公交车司机绕路", "", "完全无关的话"] {
            assert_eq!(back.predict(text), model.predict(text));
        }
    }

    #[test]
    fn varints_round_trip() {
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            assert_eq!(Reader { bytes: &out }.varint().unwrap(), value);
        }
    }

    #[test]
    fn rejects_foreign_truncated_and_future_files() {
        let bytes = model().to_bytes();
        assert_eq!(Model::from_bytes(b"{\"json\": 1}").unwrap_err(), ClassifierError::BadMagic);
        assert_eq!(Model::from_bytes(&[]).unwrap_err(), ClassifierError::BadMagic);
        let mut future = bytes.clone();
        future[MAGIC.len()] = 9;
        assert_eq!(Model::from_bytes(&future).unwrap_err(), ClassifierError::UnsupportedVersion(9));
        for cut in [6, 20, bytes.len() / 2, bytes.len() - 1] {
            assert!(Model::from_bytes(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut longer = bytes;
        longer.push(0);
        assert_eq!(Model::from_bytes(&longer).unwrap_err(), ClassifierError::Corrupt("trailing bytes"));
    }
}
