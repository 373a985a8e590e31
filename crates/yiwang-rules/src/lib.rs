//! Decision tables for instant approval (秒批).
//!
//! A rule version is a GoRules JDM decision table, as saved by the JDM
//! editor, evaluated with the `zen-expression` language. This crate holds no
//! I/O; the application stores rule versions and decision records.
//!
//! - [`DecisionTable`]: loaded from the JSON of a decision table node or a
//!   JDM graph holding one ([`DecisionTable::from_json`]); only the `first`
//!   hit policy is supported.
//! - [`DecisionTable::evaluate`]: first-hit evaluation into an
//!   [`Evaluation`] with the winning rule, its outputs and a per-rule
//!   [`RuleTrace`] for audit.
//! - [`DecisionTable::check`]: compiles every cell, for validation on save.
//! - [`TestCase`], [`DecisionTable::run_tests`], [`all_pass`]: examples that
//!   travel with a rule version and must pass before it is published.
//! - [`inputs_hash`], [`canonical_json`]: the hash a decision record keeps of
//!   the inputs it was decided on.
//!
//! # Cells
//!
//! Input cells are zen unary tests against `$`, the value at the column's
//! dotted `field` (null when missing): `"normal"`, `"a", "b"` (either),
//! `>= 3`, `[1..10]` (inclusive range), `null`, `not in ["x"]`, or a full
//! expression such as `$ > form.deposit`. An empty cell matches anything.
//! Output cells are standard expressions over the whole input:
//! `"approve"`, `min([form.monthly_rent, 1800]) * 300`.
//!
//! ```
//! use serde_json::json;
//! use yiwang_rules::DecisionTable;
//!
//! let table = DecisionTable::from_json(&json!({
//!     "hitPolicy": "first",
//!     "inputs": [{"id": "age", "name": "年龄", "field": "applicant.age"}],
//!     "outputs": [{"id": "decision", "name": "结论", "field": "decision"}],
//!     "rules": [
//!         {"_id": "adult", "age": ">= 18", "decision": "\"approve\""},
//!         {"_id": "other", "age": "", "decision": "\"manual\""}
//!     ]
//! }))?;
//! table.check()?;
//!
//! let evaluation = table.evaluate(&json!({"applicant": {"age": 30}}))?;
//! assert_eq!(evaluation.matched.map(|m| m.id), Some("adult".to_owned()));
//! assert_eq!(evaluation.output["decision"], "approve");
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! ```

mod error;
mod eval;
mod hash;
mod path;
mod table;
mod testing;

pub use error::{CellError, ParseError, RuleError};
pub use eval::{Evaluation, MatchedRule, RuleTrace};
pub use hash::{canonical_json, inputs_hash};
pub use table::{Column, ColumnKind, DecisionTable, Rule};
pub use testing::{TestCase, TestOutcome, all_pass};
