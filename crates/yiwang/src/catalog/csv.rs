//! The catalogue as CSV, one item a row, for departments that keep their lists in spreadsheets.
//! Text elements are plain cells; numbers, lists and nested elements (situations, materials …)
//! are JSON in their cell, so export → import gives back every element exactly. The file starts
//! with a byte-order mark so that spreadsheet programs read it as UTF-8.

use serde_json::{Map, Value};

use super::CatalogError;
use super::model::{FieldProblem, ItemDocument};

/// Every element of an item document, in column order, and whether its cell is plain text.
const COLUMNS: [(&str, bool); 25] = [
    ("implementation_code", true),
    ("basic_code", true),
    ("name", true),
    ("item_type", true),
    ("handling_kind", true),
    ("department_code", true),
    ("level", true),
    ("audiences", false),
    ("themes", false),
    ("summary", true),
    ("legal_basis", false),
    ("conditions", false),
    ("situations", false),
    ("materials", false),
    ("statutory_limit_days", false),
    ("promised_limit_days", false),
    ("fees", false),
    ("places", false),
    ("max_visits", false),
    ("online_depth", false),
    ("scope", true),
    ("steps", false),
    ("faq", false),
    ("form", false),
    ("keywords", false),
];

const BOM: &str = "\u{feff}";

fn columns() -> impl Iterator<Item = (&'static str, bool)> {
    COLUMNS.into_iter()
}

fn invalid(index: usize, field: &str, message: String) -> CatalogError {
    CatalogError::Invalid { index, problem: FieldProblem { field: field.to_owned(), message } }
}

pub fn to_csv(items: &[ItemDocument]) -> Result<String, CatalogError> {
    let mut writer = csv::Writer::from_writer(BOM.as_bytes().to_vec());
    let malformed = |e: &dyn std::fmt::Display| CatalogError::Malformed(e.to_string());
    writer.write_record(columns().map(|(name, _)| name)).map_err(|e| malformed(&e))?;
    for item in items {
        let Value::Object(document) = serde_json::to_value(item).map_err(|e| malformed(&e))? else {
            return Err(CatalogError::Malformed("an item is not an object".into()));
        };
        let cells = columns().map(|(name, _)| match &document[name] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        });
        writer.write_record(cells).map_err(|e| malformed(&e))?;
    }
    let bytes = writer.into_inner().map_err(|e| malformed(&e))?;
    String::from_utf8(bytes).map_err(|e| malformed(&e))
}

/// Reads items from CSV; a bad row is named as `items[i]` (the i-th item, line i + 2) with the
/// column at fault.
pub fn from_csv(text: &str) -> Result<Vec<ItemDocument>, CatalogError> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.strip_prefix(BOM).unwrap_or(text).as_bytes());
    let header =
        reader.headers().map_err(|e| invalid(0, "header", format!("表头无法读取 / unreadable header: {e}")))?;
    let header: Vec<String> = header.iter().map(str::to_owned).collect();
    for (name, _) in columns() {
        if !header.iter().any(|h| h == name) {
            return Err(invalid(0, name, "缺少该列 / missing column".into()));
        }
    }
    if let Some(unknown) = header.iter().find(|h| !columns().any(|(name, _)| name == h.as_str())) {
        return Err(invalid(0, unknown, "未知列 / unknown column".into()));
    }
    let mut items = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let line = index + 2;
        let record = record.map_err(|e| invalid(index, "row", format!("第{line}行无法读取 / line {line}: {e}")))?;
        let mut document = Map::new();
        for (name, cell) in header.iter().zip(record.iter()) {
            let plain = columns().any(|(column, plain)| column == name && plain);
            let value = if plain {
                Value::String(cell.to_owned())
            } else {
                serde_json::from_str(cell).map_err(|e| {
                    invalid(index, name, format!("第{line}行：不是有效的 JSON / line {line}: not JSON: {e}"))
                })?
            };
            document.insert(name.clone(), value);
        }
        let item = serde_path_to_error::deserialize(Value::Object(document)).map_err(|e| {
            let field = e.path().to_string();
            invalid(index, &field, format!("第{line}行 / line {line}: {}", e.inner()))
        })?;
        items.push(item);
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn demo() -> Vec<ItemDocument> {
        serde_json::from_str(crate::catalog::DEMO_CATALOGUE).unwrap()
    }

    #[test]
    fn the_demo_catalogue_survives_a_round_trip() {
        let items = demo();
        let text = to_csv(&items).unwrap();
        assert!(text.starts_with(BOM));
        assert_eq!(from_csv(&text).unwrap(), items);
    }

    #[test]
    fn every_element_has_a_column() {
        let Value::Object(document) = serde_json::to_value(&demo()[0]).unwrap() else { panic!() };
        let names: Vec<&str> = columns().map(|(name, _)| name).collect();
        let mut keys: Vec<&str> = document.keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(keys, sorted);
    }

    /// The demo's first items as CSV, with one cell of the second item replaced.
    fn with_cell(column: &str, value: &str) -> String {
        let text = to_csv(&demo()[..3]).unwrap();
        let mut reader = csv::Reader::from_reader(text.strip_prefix(BOM).unwrap().as_bytes());
        let header = reader.headers().unwrap().clone();
        let at = header.iter().position(|h| h == column).unwrap();
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.write_record(&header).unwrap();
        for (i, record) in reader.records().enumerate() {
            let record = record.unwrap();
            let cells = record.iter().enumerate().map(|(c, cell)| if i == 1 && c == at { value } else { cell });
            writer.write_record(cells).unwrap();
        }
        String::from_utf8(writer.into_inner().unwrap()).unwrap()
    }

    #[test]
    fn a_bad_cell_is_named_by_item_and_column() {
        for (column, value, field) in [
            ("max_visits", "many", "max_visits"),
            ("audiences", "[person", "audiences"),
            ("handling_kind", "soon", "handling_kind"),
            ("materials", "[{}]", "materials[0]"),
        ] {
            match from_csv(&with_cell(column, value)) {
                Err(CatalogError::Invalid { index: 1, problem }) => {
                    assert_eq!(problem.field, field, "{column}");
                    assert!(problem.message.contains("line 3"), "{}", problem.message);
                }
                other => panic!("{column}: {other:?}"),
            }
        }
        let renamed = to_csv(&demo()[..1]).unwrap().replacen("basic_code", "basic", 1);
        assert!(
            matches!(from_csv(&renamed), Err(CatalogError::Invalid { problem, .. }) if problem.field == "basic_code")
        );
    }
}
