//! First-hit evaluation of a table against one input.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use zen_expression::{Isolate, IsolateError, Variable};

use crate::error::{CellError, RuleError};
use crate::path;
use crate::table::{Column, ColumnKind, DecisionTable, Rule};

/// The result of evaluating a table: which rule hit, what it produced, and
/// how the rules before it failed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The winning rule; `None` when no rule matched, which is a valid
    /// outcome the caller decides on (typically manual review).
    pub matched: Option<MatchedRule>,
    /// Output field to value, with dotted fields as nested objects; empty
    /// when no rule matched.
    pub output: Map<String, Value>,
    /// Every rule examined, in order, ending at the winner; kept so a
    /// decision record can show why earlier rules did not apply.
    pub trace: Vec<RuleTrace>,
}

/// The rule that decided an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedRule {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What happened to one rule during an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleTrace {
    pub rule_id: String,
    pub matched: bool,
    /// For a rule that did not match, the first input column whose test was
    /// false; later columns were not evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_input: Option<Column>,
}

impl DecisionTable {
    /// Evaluates the rules in order against `input`, which must be a JSON
    /// object, and stops at the first rule whose input tests all pass.
    ///
    /// Each input cell is a unary test with `$` bound to the value at the
    /// column's field (null when the path is missing); the rest of the input
    /// is visible to the test as well. An empty cell matches anything. The
    /// winner's output cells are standard expressions over the whole input.
    ///
    /// A cell that does not compile or fails at run time is an error rather
    /// than a non-match: an instant approval must not skip a rule silently.
    /// In particular `> 3` or `[1..10]` against null fails, so tables that
    /// may see missing facts should test for `null` in an earlier rule.
    pub fn evaluate(&self, input: &Value) -> Result<Evaluation, RuleError> {
        if !input.is_object() {
            return Err(RuleError::Input { message: "the input must be a JSON object".to_owned() });
        }
        // zen-expression's lenient conversion turns out-of-range numbers into
        // null, which could flip a decision; refuse them instead.
        let context =
            Variable::try_from_value(input.clone()).map_err(|error| RuleError::Input { message: error.to_string() })?;
        let dollars: Vec<Variable> = self
            .inputs
            .iter()
            .map(|column| path::lookup(input, &column.field).map_or(Variable::Null, Variable::from))
            .collect();

        let mut isolate = Isolate::with_environment(context.clone());
        let mut trace = Vec::new();
        for rule in &self.rules {
            let failed = self.first_failed_input(&mut isolate, rule, &dollars)?;
            trace.push(RuleTrace {
                rule_id: rule.id.clone(),
                matched: failed.is_none(),
                failed_input: failed.map(|index| self.inputs[index].clone()),
            });
            if failed.is_none() {
                // Resetting the environment drops the `$` left by the last
                // input test, so outputs cannot depend on column order.
                isolate.set_environment(context);
                let output = self.outputs_of(&mut isolate, rule)?;
                let matched = MatchedRule { id: rule.id.clone(), description: rule.description.clone() };
                return Ok(Evaluation { matched: Some(matched), output, trace });
            }
        }
        Ok(Evaluation { matched: None, output: Map::new(), trace })
    }

    /// Compiles every non-empty cell, so a rule version can be rejected when
    /// it is saved instead of when an applicant first reaches a broken rule.
    pub fn check(&self) -> Result<(), RuleError> {
        let mut isolate = Isolate::new();
        for rule in &self.rules {
            for (column, cell) in self.inputs.iter().zip(&rule.inputs).filter(|(_, cell)| !cell.is_empty()) {
                isolate
                    .compile_unary(cell)
                    .map_err(|error| cell_error(rule, ColumnKind::Input, column, cell, error))?;
            }
            for (column, cell) in self.outputs.iter().zip(&rule.outputs).filter(|(_, cell)| !cell.is_empty()) {
                isolate
                    .compile_standard(cell)
                    .map_err(|error| cell_error(rule, ColumnKind::Output, column, cell, error))?;
            }
        }
        Ok(())
    }

    fn first_failed_input(
        &self,
        isolate: &mut Isolate,
        rule: &Rule,
        dollars: &[Variable],
    ) -> Result<Option<usize>, RuleError> {
        for (index, (column, cell)) in self.inputs.iter().zip(&rule.inputs).enumerate() {
            if cell.is_empty() {
                continue;
            }
            isolate.set_local(Variable::dollar_key(), dollars[index].clone());
            let passed =
                isolate.run_unary(cell).map_err(|error| cell_error(rule, ColumnKind::Input, column, cell, error))?;
            if !passed {
                return Ok(Some(index));
            }
        }
        Ok(None)
    }

    fn outputs_of(&self, isolate: &mut Isolate, rule: &Rule) -> Result<Map<String, Value>, RuleError> {
        let mut output = Map::new();
        for (column, cell) in self.outputs.iter().zip(&rule.outputs) {
            // As in zen-engine, an empty output cell leaves the field out.
            if cell.is_empty() {
                continue;
            }
            let value = isolate
                .run_standard(cell)
                .map_err(|error| cell_error(rule, ColumnKind::Output, column, cell, error))?;
            path::insert(&mut output, &column.field, Value::from(value));
        }
        Ok(output)
    }
}

fn cell_error(rule: &Rule, kind: ColumnKind, column: &Column, expression: &str, error: IsolateError) -> RuleError {
    let cell = |message| {
        Box::new(CellError {
            rule_id: rule.id.clone(),
            kind,
            column: column.clone(),
            expression: expression.to_owned(),
            message,
        })
    };
    match error {
        IsolateError::LexerError { .. } | IsolateError::ParserError { .. } | IsolateError::CompilerError { .. } => {
            RuleError::Compile(cell(error.to_string()))
        }
        IsolateError::ValueCastError => RuleError::Evaluate(cell("the test did not evaluate to a boolean".to_owned())),
        _ => RuleError::Evaluate(cell(error.to_string())),
    }
}
