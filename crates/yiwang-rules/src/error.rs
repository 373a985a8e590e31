use thiserror::Error;

use crate::table::{Column, ColumnKind};

/// A decision table that cannot be loaded. Every variant names the JSON path
/// at fault, and the rule id where one is known, so an editor can point at
/// the cell.
#[derive(Debug, Error)]
pub enum ParseError {
    /// The text is not JSON at all.
    #[error("invalid JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// A required key is absent.
    #[error("`{path}` is missing")]
    Missing { path: String },
    /// A value has the wrong JSON type or shape.
    #[error("`{path}` must be {expected}")]
    WrongType { path: String, expected: &'static str },
    /// A JDM graph without exactly one decision table node.
    #[error("a JDM graph must contain exactly one node of type `decisionTableNode`, found {found}")]
    DecisionTableNodes { found: usize },
    /// A hit policy other than `first`.
    #[error("`{path}`: hit policy `{found}` is not supported, only `first` is")]
    UnsupportedHitPolicy { path: String, found: String },
    /// A JDM feature whose semantics this crate does not implement.
    #[error("`{path}`: {message}")]
    Unsupported { path: String, message: String },
    /// Two columns share an id, or a column uses a key reserved for rules.
    #[error("`{path}`: column id `{id}` is already used or reserved")]
    DuplicateColumnId { path: String, id: String },
    /// Two rules share an id, which would make the audit trace ambiguous.
    #[error("`{path}`: rule id `{rule_id}` is already used by an earlier rule")]
    DuplicateRuleId { path: String, rule_id: String },
    /// A column field that is not a dotted path of plain keys.
    #[error("`{path}`: `{field}` is not a dotted path of plain keys (letters, digits, `_`, `-`, `$`)")]
    InvalidField { path: String, field: String },
    /// Two output fields where one would overwrite the other.
    #[error("`{path}`: output field `{field}` overlaps output field `{other}`")]
    OverlappingOutputs { path: String, field: String, other: String },
    /// A rule cell that is not a string.
    #[error("`{path}` (rule `{rule_id}`): a cell must be a string")]
    CellNotString { path: String, rule_id: String },
}

/// A decision table that was loaded but cannot be evaluated as written.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RuleError {
    /// The input cannot be handed to the expression language.
    #[error("invalid input: {message}")]
    Input { message: String },
    /// A cell does not lex, parse or compile.
    #[error("rule `{}`, {} column {}: `{}` does not compile: {}", .0.rule_id, .0.kind, .0.column, .0.expression, .0.message)]
    Compile(Box<CellError>),
    /// A cell compiled but failed at run time, e.g. `> 3` against a string or null.
    #[error("rule `{}`, {} column {}: `{}` failed: {}", .0.rule_id, .0.kind, .0.column, .0.expression, .0.message)]
    Evaluate(Box<CellError>),
}

/// The cell at fault in a [`RuleError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellError {
    pub rule_id: String,
    pub kind: ColumnKind,
    pub column: Column,
    pub expression: String,
    /// zen-expression's description of the problem.
    pub message: String,
}

impl RuleError {
    /// The cell at fault, unless the input itself was rejected.
    pub fn cell(&self) -> Option<&CellError> {
        match self {
            RuleError::Input { .. } => None,
            RuleError::Compile(cell) | RuleError::Evaluate(cell) => Some(cell),
        }
    }

    /// The id of the rule at fault, if the error belongs to a cell.
    pub fn rule_id(&self) -> Option<&str> {
        self.cell().map(|cell| cell.rule_id.as_str())
    }

    /// The column at fault, if the error belongs to a cell.
    pub fn column(&self) -> Option<&Column> {
        self.cell().map(|cell| &cell.column)
    }
}
