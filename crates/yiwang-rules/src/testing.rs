//! Example-based tests that travel with a rule version.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Number, Value};

use crate::eval::Evaluation;
use crate::path;
use crate::table::DecisionTable;

/// One example a table must decide as expected, e.g.
///
/// ```json
/// {"name": "缴存不足3个月", "input": {...}, "expect": {"decision": "reject"}, "rule": "r4"}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestCase {
    pub name: String,
    pub input: Value,
    /// Output field (dotted, as in the table) to the value it must have. A
    /// field missing from the output counts as null, so `{"decision": null}`
    /// asserts that no rule set a decision.
    #[serde(default = "empty_object")]
    pub expect: Value,
    /// The id of the rule that must hit, if the case cares.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

/// The result of one [`TestCase`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TestOutcome {
    pub name: String,
    /// Why the case failed; `None` when it passed.
    pub failure: Option<String>,
    /// The evaluation the case was judged on; `None` when evaluation failed.
    pub evaluation: Option<Evaluation>,
}

impl TestOutcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Whether every outcome passed.
pub fn all_pass(outcomes: &[TestOutcome]) -> bool {
    outcomes.iter().all(TestOutcome::passed)
}

impl DecisionTable {
    /// Evaluates every case and reports each one's outcome.
    pub fn run_tests(&self, cases: &[TestCase]) -> Vec<TestOutcome> {
        cases.iter().map(|case| self.run_test(case)).collect()
    }

    fn run_test(&self, case: &TestCase) -> TestOutcome {
        let outcome = |failure, evaluation| TestOutcome { name: case.name.clone(), failure, evaluation };
        let evaluation = match self.evaluate(&case.input) {
            Ok(evaluation) => evaluation,
            Err(error) => return outcome(Some(format!("evaluation failed: {error}")), None),
        };
        let Some(expect) = case.expect.as_object() else {
            return outcome(Some("`expect` must be a JSON object of output fields".to_owned()), Some(evaluation));
        };

        let hit = evaluation.matched.as_ref().map(|m| m.id.as_str());
        let mut problems = Vec::new();
        if let Some(want) = &case.rule
            && hit != Some(want.as_str())
        {
            problems.push(format!("expected rule `{want}` to hit"));
        }
        let output = Value::Object(evaluation.output.clone());
        for (field, want) in expect {
            let got = path::lookup(&output, field).unwrap_or(&Value::Null);
            if !json_eq(got, want) {
                problems.push(format!("`{field}`: expected {want}, got {got}"));
            }
        }

        if problems.is_empty() {
            return outcome(None, Some(evaluation));
        }
        let hit = match &evaluation.matched {
            None => "no rule matched".to_owned(),
            Some(m) => match &m.description {
                Some(description) => format!("rule `{}` ({description}) hit", m.id),
                None => format!("rule `{}` hit", m.id),
            },
        };
        outcome(Some(format!("{}; {hit}", problems.join("; "))), Some(evaluation))
    }
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// JSON equality that compares numbers by value, because expressions compute
/// in decimal and `3600` may come back where a case wrote `3600.0`.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(a), Value::Number(b)) => number_eq(a, b),
        (Value::Array(a), Value::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| json_eq(a, b)),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(key, a)| b.get(key).is_some_and(|b| json_eq(a, b)))
        }
        _ => a == b,
    }
}

fn number_eq(a: &Number, b: &Number) -> bool {
    let integer = |n: &Number| n.as_i64().map(i128::from).or_else(|| n.as_u64().map(i128::from));
    match (integer(a), integer(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a.as_f64() == b.as_f64(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers_compare_by_value() {
        assert!(json_eq(&json!(3600), &json!(3600.0)));
        assert!(json_eq(&json!({"a": [1, 2.5]}), &json!({"a": [1.0, 2.5]})));
        assert!(!json_eq(&json!(1), &json!(2)));
        assert!(!json_eq(&json!(1), &json!("1")));
        assert!(!json_eq(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(json_eq(&json!(u64::MAX), &json!(u64::MAX)));
        assert!(!json_eq(&json!(-1), &json!(u64::MAX)));
    }
}
