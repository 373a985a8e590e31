//! Uploaded datasets: CSV (a header of field names, UTF-8, an optional byte-order mark) or JSON
//! (an array of objects), each row checked against the resource's declared fields. The first bad
//! row is reported with its number and field; nothing is loaded unless every row is good.

use serde_json::{Map, Value};

use super::model::{FieldSpec, FieldType, ResourceInput, Sensitivity};
use super::{ExchangeError, invalid};

/// Rows a dataset may hold.
pub const MAX_ROWS: usize = 1_000_000;

/// One checked row: its key and every declared field (absent values as `null`).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: String,
    pub data: Map<String, Value>,
}

impl Row {
    /// Only the public fields, as open data publishes them.
    pub fn open_projection(&self, resource: &ResourceInput) -> Map<String, Value> {
        resource
            .fields
            .iter()
            .filter(|f| f.sensitivity == Sensitivity::Public)
            .map(|f| (f.name.clone(), self.data.get(&f.name).cloned().unwrap_or(Value::Null)))
            .collect()
    }
}

/// A row's problem: `rows[N].field` with N counted from 1 (the first data row).
fn row_problem(row: usize, field: &str, message: impl std::fmt::Display) -> ExchangeError {
    invalid(format!("rows[{row}].{field}"), format!("第{row}行 {field}：{message}"))
}

/// Values longer than this stay out of the row index; a filter on one reads the rows.
const MAX_INDEXED_CHARS: usize = 200;

/// How a value appears in the row index (`exchange_row_values`), alike for a stored value and a
/// filter: text as it is, booleans as `true`/`false`, numbers by value (`5000`, `5000.0` and `5e3`
/// alike). None for no value, or a text too long to index.
pub fn indexed(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            // Whole numbers below 2^53 are exact as floats and written as integers.
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => (f as i64).to_string(),
            _ => n.to_string(),
        },
        Value::Null | Value::Array(_) | Value::Object(_) => return None,
    };
    (text.chars().count() <= MAX_INDEXED_CHARS).then_some(text)
}

/// What a filter's value asks of the rows, read as the field's type.
#[derive(Debug, PartialEq)]
pub enum FilterValue {
    /// Rows whose index entry for the field is this.
    Indexed(String),
    /// Rows whose text is this, too long for the index: the rows are read.
    LongText(String),
    /// Nothing can match: no value, or not a value of the field's type.
    Unmatchable,
}

pub fn filter_value(field_type: FieldType, raw: &str) -> FilterValue {
    match typed(field_type, raw) {
        Ok(Value::String(text)) if text.chars().count() > MAX_INDEXED_CHARS => FilterValue::LongText(text),
        Ok(value) => indexed(&value).map_or(FilterValue::Unmatchable, FilterValue::Indexed),
        Err(_) => FilterValue::Unmatchable,
    }
}

/// Reads one cell as the field's type; empty text is no value.
fn typed(field_type: FieldType, raw: &str) -> Result<Value, &'static str> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    match field_type {
        FieldType::String => Ok(Value::String(raw.to_owned())),
        FieldType::Integer => raw.parse::<i64>().map(Value::from).map_err(|_| "应为整数 / not an integer"),
        FieldType::Number => raw
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite())
            .and_then(|n| serde_json::Number::from_f64(n).map(Value::Number))
            .ok_or("应为数值 / not a number"),
        FieldType::Boolean => match raw {
            "true" | "1" | "是" | "TRUE" | "True" => Ok(Value::Bool(true)),
            "false" | "0" | "否" | "FALSE" | "False" => Ok(Value::Bool(false)),
            _ => Err("应为 true/false（是/否） / not a boolean"),
        },
        FieldType::Date => chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
            .map(|d| Value::String(d.to_string()))
            .map_err(|_| "应为日期 YYYY-MM-DD / not a date (YYYY-MM-DD)"),
    }
}

/// Checks a JSON value against the field's type, normalising numbers given as text.
fn typed_json(field: &FieldSpec, value: &Value) -> Result<Value, &'static str> {
    match (field.field_type, value) {
        (_, Value::Null) => Ok(Value::Null),
        (FieldType::String, Value::String(s)) => Ok(Value::String(s.trim().to_owned())),
        (FieldType::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
        (FieldType::Integer, Value::Number(n)) if n.is_i64() => Ok(value.clone()),
        (FieldType::Number, Value::Number(_)) => Ok(value.clone()),
        (FieldType::Boolean, Value::Bool(_)) => Ok(value.clone()),
        (_, Value::String(s)) => typed(field.field_type, s),
        (FieldType::String, _) => Err("应为文本 / not text"),
        (FieldType::Integer, _) => Err("应为整数 / not an integer"),
        (FieldType::Number, _) => Err("应为数值 / not a number"),
        (FieldType::Boolean, _) => Err("应为 true/false / not a boolean"),
        (FieldType::Date, _) => Err("应为日期 YYYY-MM-DD / not a date (YYYY-MM-DD)"),
    }
}

/// Checks required values and the key's uniqueness, row by row.
struct Checker<'a> {
    resource: &'a ResourceInput,
    keys: std::collections::HashSet<String>,
    rows: Vec<Row>,
}

impl<'a> Checker<'a> {
    fn new(resource: &'a ResourceInput) -> Self {
        Checker { resource, keys: Default::default(), rows: Vec::new() }
    }

    fn push(&mut self, n: usize, data: Map<String, Value>) -> Result<(), ExchangeError> {
        if self.rows.len() >= MAX_ROWS {
            return Err(invalid("rows", format!("最多{MAX_ROWS}行 / at most {MAX_ROWS} rows")));
        }
        for f in &self.resource.fields {
            if f.required && data.get(&f.name).is_none_or(Value::is_null) {
                return Err(row_problem(n, &f.name, "必填 / required"));
            }
        }
        let key = match &data[&self.resource.key_field] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if !self.keys.insert(key.clone()) {
            return Err(row_problem(n, &self.resource.key_field, "与前面的行重复 / repeats an earlier row"));
        }
        self.rows.push(Row { key, data });
        Ok(())
    }
}

pub fn parse_csv(resource: &ResourceInput, bytes: &[u8]) -> Result<Vec<Row>, ExchangeError> {
    let bytes = bytes.strip_prefix("\u{feff}".as_bytes()).unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(bytes);
    let header = reader.headers().map_err(|e| invalid("header", format!("无法读取表头 / unreadable header: {e}")))?;
    let mut columns = Vec::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim();
        let Some(field) = resource.field(name) else {
            return Err(invalid(format!("header[{i}]"), format!("未声明的信息项 {name} / undeclared field {name}")));
        };
        if columns.iter().any(|c: &&FieldSpec| c.name == name) {
            return Err(invalid(format!("header[{i}]"), format!("列 {name} 重复 / repeated column {name}")));
        }
        columns.push(field);
    }
    if let Some(missing) = resource.fields.iter().find(|f| f.required && !columns.iter().any(|c| c.name == f.name)) {
        return Err(invalid(
            "header",
            format!("缺少必填列 {} / missing required column {}", missing.name, missing.name),
        ));
    }
    let mut checker = Checker::new(resource);
    for (i, record) in reader.records().enumerate() {
        let n = i + 1;
        let record = record.map_err(|e| invalid(format!("rows[{n}]"), format!("第{n}行无法读取 / unreadable: {e}")))?;
        let mut data: Map<String, Value> = resource.fields.iter().map(|f| (f.name.clone(), Value::Null)).collect();
        for (field, cell) in columns.iter().zip(record.iter()) {
            let value = typed(field.field_type, cell).map_err(|m| row_problem(n, &field.name, m))?;
            data.insert(field.name.clone(), value);
        }
        checker.push(n, data)?;
    }
    Ok(checker.rows)
}

pub fn parse_json(resource: &ResourceInput, bytes: &[u8]) -> Result<Vec<Row>, ExchangeError> {
    let value: Value =
        serde_json::from_slice(bytes).map_err(|e| invalid("rows", format!("JSON 格式错误 / malformed JSON: {e}")))?;
    let Value::Array(items) = value else {
        return Err(invalid("rows", "应为对象数组 / must be an array of objects"));
    };
    let mut checker = Checker::new(resource);
    for (i, item) in items.iter().enumerate() {
        let n = i + 1;
        let Value::Object(object) = item else {
            return Err(invalid(format!("rows[{n}]"), format!("第{n}行应为对象 / row {n} must be an object")));
        };
        if let Some(unknown) = object.keys().find(|k| resource.field(k).is_none()) {
            return Err(row_problem(n, unknown, "未声明的信息项 / undeclared field"));
        }
        let mut data = Map::new();
        for f in &resource.fields {
            let value =
                typed_json(f, object.get(&f.name).unwrap_or(&Value::Null)).map_err(|m| row_problem(n, &f.name, m))?;
            data.insert(f.name.clone(), value);
        }
        checker.push(n, data)?;
    }
    Ok(checker.rows)
}

/// Rows already stored, checked again against an edited description (fields may have changed).
pub fn recheck(resource: &ResourceInput, stored: Vec<Map<String, Value>>) -> Result<Vec<Row>, ExchangeError> {
    // Fields the edit removed are dropped; the rest must still fit their declared types.
    let kept: Vec<Value> = stored
        .into_iter()
        .map(|row| Value::Object(row.into_iter().filter(|(k, _)| resource.field(k).is_some()).collect()))
        .collect();
    let text = serde_json::to_vec(&kept).map_err(|e| invalid("fields", e.to_string()))?;
    parse_json(resource, &text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource() -> ResourceInput {
        serde_json::from_value(serde_json::json!({
            "code": "SCJ-FR", "name": "法人", "department_code": "440400-SCJ",
            "fields": [
                {"name": "credit_code", "label": "统一社会信用代码", "type": "string", "sensitivity": "public", "required": true},
                {"name": "capital", "label": "注册资本（万元）", "type": "number", "sensitivity": "public"},
                {"name": "founded", "label": "成立日期", "type": "date", "sensitivity": "public"}
            ],
            "key_field": "credit_code", "data_grade": "general", "sharing_type": "unconditional",
            "open_type": "open", "update_cycle": "daily", "source": {"kind": "dataset"}
        }))
        .unwrap()
    }

    fn field_of(result: Result<Vec<Row>, ExchangeError>) -> String {
        match result {
            Err(ExchangeError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stored_values_and_filters_meet_in_the_row_index() {
        use serde_json::json;
        for (stored, filter, field_type) in [
            (json!(5000.0), "5000", FieldType::Number),
            (json!(5000), "5e3", FieldType::Number),
            (json!(100.5), "100.50", FieldType::Number),
            (json!(42), "42", FieldType::Integer),
            (json!(true), "是", FieldType::Boolean),
            (json!(false), "0", FieldType::Boolean),
            (json!("2020-01-02"), "2020-01-02", FieldType::Date),
            (json!("存续"), " 存续 ", FieldType::String),
        ] {
            let index_entry = indexed(&stored).unwrap();
            assert_eq!(filter_value(field_type, filter), FilterValue::Indexed(index_entry), "{stored} and {filter:?}");
        }
        let big = 9_007_199_254_740_993_i64;
        assert_ne!(indexed(&json!(big)), indexed(&json!(big - 1)), "large integers stay exact");
        assert_eq!(indexed(&Value::Null), None);
        assert_eq!(filter_value(FieldType::Number, "many"), FilterValue::Unmatchable);
        assert_eq!(filter_value(FieldType::String, " "), FilterValue::Unmatchable);
        let longest = "长".repeat(MAX_INDEXED_CHARS);
        assert_eq!(filter_value(FieldType::String, &longest), FilterValue::Indexed(longest.clone()));
        let too_long = format!("{longest}长");
        assert_eq!(indexed(&json!(too_long)), None);
        assert_eq!(filter_value(FieldType::String, &too_long), FilterValue::LongText(too_long));
    }

    #[test]
    fn csv_rows_are_typed_and_the_first_bad_one_named() {
        let r = resource();
        let rows =
            parse_csv(&r, "\u{feff}credit_code,capital,founded\nA1,100.5,2020-01-02\nA2,,\n".as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].data["capital"], serde_json::json!(100.5));
        assert_eq!(rows[1].data["founded"], Value::Null);
        let bad = "credit_code,capital,founded\nA1,1,2020-01-02\nA2,lots,2020-01-02\n";
        assert_eq!(field_of(parse_csv(&r, bad.as_bytes())), "rows[2].capital");
        assert_eq!(field_of(parse_csv(&r, b"credit_code,capital\nA1,1\nA1,2\n")), "rows[2].credit_code");
        assert_eq!(field_of(parse_csv(&r, b"credit_code,colour\nA1,red\n")), "header[1]");
        assert_eq!(field_of(parse_csv(&r, b"capital\n1\n")), "header");
        assert_eq!(field_of(parse_csv(&r, b"credit_code,founded\n,2020-01-01\n")), "rows[1].credit_code");
    }

    #[test]
    fn json_rows_are_checked_the_same_way() {
        let r = resource();
        let rows = parse_json(&r, br#"[{"credit_code": "A1", "capital": "12"}]"#).unwrap();
        assert_eq!(rows[0].data["capital"], serde_json::json!(12.0));
        assert_eq!(
            field_of(parse_json(&r, br#"[{"credit_code": "A1"}, {"credit_code": "A2", "founded": "2020-13-01"}]"#)),
            "rows[2].founded"
        );
        assert_eq!(field_of(parse_json(&r, br#"[{"credit_code": "A1", "x": 1}]"#)), "rows[1].x");
    }
}
