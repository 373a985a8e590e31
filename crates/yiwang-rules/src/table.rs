//! The decision table model and its loading from GoRules JDM JSON.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ParseError;
use crate::path;

/// A first-hit decision table, loaded from the JSON of a JDM decision table
/// node.
///
/// The table holds only text; expressions are compiled when evaluated, so a
/// table is cheap to clone and can be shared between threads. Call
/// [`DecisionTable::check`] when a rule version is saved to reject cells that
/// do not compile, rather than finding them when an applicant reaches them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "Value")]
pub struct DecisionTable {
    pub(crate) inputs: Vec<Column>,
    pub(crate) outputs: Vec<Column>,
    pub(crate) rules: Vec<Rule>,
}

/// An input or output column of a table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Column {
    /// The JDM column id, which rules use as the key of their cells.
    pub id: String,
    /// The label shown in the editor; may be empty.
    pub name: String,
    /// The dotted path read from the input (for inputs) or written to the
    /// output (for outputs).
    pub field: String,
}

impl fmt::Display for Column {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(f, "`{}` ({})", self.id, self.field)
        } else {
            write!(f, "`{}` ({})", self.name, self.field)
        }
    }
}

/// Whether a column is tested (input) or computed (output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnKind {
    Input,
    Output,
}

impl fmt::Display for ColumnKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ColumnKind::Input => "input",
            ColumnKind::Output => "output",
        })
    }
}

/// One row of a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub(crate) id: String,
    pub(crate) description: Option<String>,
    pub(crate) inputs: Vec<String>,
    pub(crate) outputs: Vec<String>,
}

impl Rule {
    /// The rule's `_id`.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The rule's `_description`, if it has a non-empty one.
    pub fn description(&self) -> Option<&str> {
        self.description.as_deref()
    }

    /// The unary tests, one per input column in column order; `""` matches
    /// anything.
    pub fn input_cells(&self) -> &[String] {
        &self.inputs
    }

    /// The output expressions, one per output column in column order; `""`
    /// leaves the field out of the output.
    pub fn output_cells(&self) -> &[String] {
        &self.outputs
    }
}

const RULE_ID: &str = "_id";
const RULE_DESCRIPTION: &str = "_description";

impl DecisionTable {
    /// Loads a table from either the `content` of a decision table node or a
    /// whole JDM graph (`{"nodes": [...], "edges": [...]}`) that holds exactly
    /// one `decisionTableNode`.
    pub fn from_json(json: &Value) -> Result<Self, ParseError> {
        let root = json.as_object().ok_or_else(|| wrong_type("$", "an object"))?;
        match root.get("nodes") {
            Some(nodes) => from_graph(nodes),
            None => from_content(root, "$"),
        }
    }

    /// The input columns in order.
    pub fn inputs(&self) -> &[Column] {
        &self.inputs
    }

    /// The output columns in order.
    pub fn outputs(&self) -> &[Column] {
        &self.outputs
    }

    /// The rules in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }
}

impl FromStr for DecisionTable {
    type Err = ParseError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::from_json(&serde_json::from_str(text)?)
    }
}

impl TryFrom<Value> for DecisionTable {
    type Error = ParseError;

    fn try_from(json: Value) -> Result<Self, Self::Error> {
        Self::from_json(&json)
    }
}

fn from_graph(nodes: &Value) -> Result<DecisionTable, ParseError> {
    let nodes = nodes.as_array().ok_or_else(|| wrong_type("$.nodes", "an array"))?;
    let tables: Vec<(usize, &Value)> = nodes
        .iter()
        .enumerate()
        .filter(|(_, node)| node.get("type").and_then(Value::as_str) == Some("decisionTableNode"))
        .collect();
    let [(index, node)] = tables[..] else {
        return Err(ParseError::DecisionTableNodes { found: tables.len() });
    };
    let path = format!("$.nodes[{index}].content");
    let content = node.get("content").ok_or_else(|| ParseError::Missing { path: path.clone() })?;
    let content = content.as_object().ok_or_else(|| wrong_type(&path, "an object"))?;
    from_content(content, &path)
}

fn from_content(content: &Map<String, Value>, path: &str) -> Result<DecisionTable, ParseError> {
    let hit_policy = required_str(content, "hitPolicy", path)?;
    if hit_policy != "first" {
        return Err(ParseError::UnsupportedHitPolicy {
            path: format!("{path}.hitPolicy"),
            found: hit_policy.to_owned(),
        });
    }
    reject_transforms(content, path)?;

    let inputs = columns(content, "inputs", path)?;
    let outputs = columns(content, "outputs", path)?;

    let mut ids = HashSet::from([RULE_ID, RULE_DESCRIPTION]);
    for (list, columns) in [("inputs", &inputs), ("outputs", &outputs)] {
        for (index, column) in columns.iter().enumerate() {
            if !ids.insert(column.id.as_str()) {
                return Err(ParseError::DuplicateColumnId {
                    path: format!("{path}.{list}[{index}].id"),
                    id: column.id.clone(),
                });
            }
        }
    }
    for (index, column) in outputs.iter().enumerate() {
        if let Some(other) = outputs[..index].iter().find(|other| path::overlaps(&other.field, &column.field)) {
            return Err(ParseError::OverlappingOutputs {
                path: format!("{path}.outputs[{index}].field"),
                field: column.field.clone(),
                other: other.field.clone(),
            });
        }
    }

    let rules_path = format!("{path}.rules");
    let raw_rules = content.get("rules").ok_or_else(|| ParseError::Missing { path: rules_path.clone() })?;
    let raw_rules = raw_rules.as_array().ok_or_else(|| wrong_type(&rules_path, "an array"))?;
    let mut rule_ids = HashSet::new();
    let mut rules = Vec::with_capacity(raw_rules.len());
    for (index, raw) in raw_rules.iter().enumerate() {
        let rule_path = format!("{rules_path}[{index}]");
        let raw = raw.as_object().ok_or_else(|| wrong_type(&rule_path, "an object"))?;
        let id = required_str(raw, RULE_ID, &rule_path)?;
        if id.trim().is_empty() {
            return Err(wrong_type(&format!("{rule_path}.{RULE_ID}"), "a non-empty string"));
        }
        if !rule_ids.insert(id) {
            return Err(ParseError::DuplicateRuleId { path: format!("{rule_path}.{RULE_ID}"), rule_id: id.to_owned() });
        }
        let description = optional_str(raw, RULE_DESCRIPTION, &rule_path)?
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(str::to_owned);
        let cells = |columns: &[Column]| -> Result<Vec<String>, ParseError> {
            columns
                .iter()
                .map(|column| match raw.get(&column.id) {
                    // The editor writes every cell, but a hand-written rule
                    // may leave one out; treat it like an empty cell.
                    None | Some(Value::Null) => Ok(String::new()),
                    Some(Value::String(cell)) => Ok(cell.trim().to_owned()),
                    Some(_) => Err(ParseError::CellNotString {
                        path: format!("{rule_path}.{}", column.id),
                        rule_id: id.to_owned(),
                    }),
                })
                .collect()
        };
        rules.push(Rule { id: id.to_owned(), description, inputs: cells(&inputs)?, outputs: cells(&outputs)? });
    }

    Ok(DecisionTable { inputs, outputs, rules })
}

/// Rejects JDM transform attributes that would change what the table reads
/// or returns. `passThrough` only affects how a graph forwards data to the
/// next node, which does not arise here, so it is accepted and ignored.
fn reject_transforms(content: &Map<String, Value>, path: &str) -> Result<(), ParseError> {
    for key in ["inputField", "outputPath"] {
        match content.get(key) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) if s.trim().is_empty() => {}
            Some(_) => {
                return Err(ParseError::Unsupported {
                    path: format!("{path}.{key}"),
                    message: format!("`{key}` is not supported; the table reads and writes whole objects"),
                });
            }
        }
    }
    match content.get("executionMode") {
        None | Some(Value::Null) => Ok(()),
        Some(Value::String(mode)) if mode == "single" => Ok(()),
        Some(other) => Err(ParseError::Unsupported {
            path: format!("{path}.executionMode"),
            message: format!("execution mode {other} is not supported, only \"single\" is"),
        }),
    }
}

fn columns(content: &Map<String, Value>, key: &str, path: &str) -> Result<Vec<Column>, ParseError> {
    let list_path = format!("{path}.{key}");
    let list = content.get(key).ok_or_else(|| ParseError::Missing { path: list_path.clone() })?;
    let list = list.as_array().ok_or_else(|| wrong_type(&list_path, "an array"))?;
    list.iter()
        .enumerate()
        .map(|(index, raw)| {
            let column_path = format!("{list_path}[{index}]");
            let raw = raw.as_object().ok_or_else(|| wrong_type(&column_path, "an object"))?;
            let id = required_str(raw, "id", &column_path)?;
            if id.is_empty() {
                return Err(wrong_type(&format!("{column_path}.id"), "a non-empty string"));
            }
            let name = optional_str(raw, "name", &column_path)?.unwrap_or_default();
            let field = required_str(raw, "field", &column_path)?.trim();
            if !path::is_valid(field) {
                return Err(ParseError::InvalidField { path: format!("{column_path}.field"), field: field.to_owned() });
            }
            Ok(Column { id: id.to_owned(), name: name.to_owned(), field: field.to_owned() })
        })
        .collect()
}

fn required_str<'a>(object: &'a Map<String, Value>, key: &str, path: &str) -> Result<&'a str, ParseError> {
    optional_str(object, key, path)?.ok_or_else(|| ParseError::Missing { path: format!("{path}.{key}") })
}

fn optional_str<'a>(object: &'a Map<String, Value>, key: &str, path: &str) -> Result<Option<&'a str>, ParseError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(wrong_type(&format!("{path}.{key}"), "a string")),
    }
}

fn wrong_type(path: &str, expected: &'static str) -> ParseError {
    ParseError::WrongType { path: path.to_owned(), expected }
}
