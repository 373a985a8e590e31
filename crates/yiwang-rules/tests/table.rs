//! Loading, cell semantics, errors and the inputs hash, on small tables.

use serde::Deserialize;
use serde_json::{Value, json};
use yiwang_rules::{ColumnKind, DecisionTable, ParseError, RuleError, TestCase, canonical_json, inputs_hash};

/// A table with one input column `x` reading `field` and one output `out`.
fn single_column(field: &str, rules: &[(&str, &str, &str)]) -> DecisionTable {
    let rules: Vec<Value> = rules.iter().map(|(id, test, out)| json!({"_id": id, "x": test, "out": out})).collect();
    DecisionTable::from_json(&json!({
        "hitPolicy": "first",
        "inputs": [{"id": "x", "name": "X", "field": field}],
        "outputs": [{"id": "out", "name": "Out", "field": "out"}],
        "rules": rules
    }))
    .unwrap()
}

fn hit(table: &DecisionTable, input: Value) -> Option<String> {
    table.evaluate(&input).unwrap().matched.map(|m| m.id)
}

fn content() -> Value {
    serde_json::from_str(include_str!("fixtures/rent_withdrawal.json")).unwrap()
}

fn graph(tables: Vec<Value>) -> Value {
    let mut nodes = vec![json!({"id": "in", "type": "inputNode", "name": "request", "content": {}})];
    for (index, content) in tables.into_iter().enumerate() {
        nodes.push(
            json!({"id": format!("t{index}"), "type": "decisionTableNode", "name": "租房提取", "content": content}),
        );
    }
    nodes.push(json!({"id": "out", "type": "outputNode", "name": "response", "content": {}}));
    json!({
        "nodes": nodes,
        "edges": [
            {"id": "e1", "sourceId": "in", "targetId": "t0", "type": "edge"},
            {"id": "e2", "sourceId": "t0", "targetId": "out", "type": "edge"}
        ]
    })
}

fn parse_error(json: Value) -> ParseError {
    DecisionTable::from_json(&json).unwrap_err()
}

#[test]
fn list_tests() {
    let table = single_column("kind", &[("ab", r#""a", "b""#, "1"), ("single", "'c'", "2")]);
    assert_eq!(hit(&table, json!({"kind": "a"})), Some("ab".to_owned()));
    assert_eq!(hit(&table, json!({"kind": "b"})), Some("ab".to_owned()));
    assert_eq!(hit(&table, json!({"kind": "c"})), Some("single".to_owned()));
    // Equality tests never fail on other types: they are simply false.
    assert_eq!(hit(&table, json!({"kind": 1})), None);
    assert_eq!(hit(&table, json!({})), None);
}

#[test]
fn range_tests() {
    let table = single_column("n", &[("closed", "[1..10]", "1")]);
    for (n, hits) in
        [(json!(1), true), (json!(10), true), (json!(5.5), true), (json!(0.99), false), (json!(10.01), false)]
    {
        assert_eq!(hit(&table, json!({ "n": n })).is_some(), hits, "n = {n}");
    }
    let table = single_column("n", &[("open", "(1..10)", "1"), ("half_open", "[1..10)", "2")]);
    assert_eq!(hit(&table, json!({"n": 1})), Some("half_open".to_owned()));
    assert_eq!(hit(&table, json!({"n": 5})), Some("open".to_owned()));
    assert_eq!(hit(&table, json!({"n": 10})), None);
}

#[test]
fn no_match_is_an_outcome_not_an_error() {
    let table = single_column("n", &[("big", "> 100", "\"yes\"")]);
    let evaluation = table.evaluate(&json!({"n": 5})).unwrap();
    assert_eq!(evaluation.matched, None);
    assert!(evaluation.output.is_empty());
    assert_eq!(evaluation.trace.len(), 1);
    assert!(!evaluation.trace[0].matched);
    assert_eq!(evaluation.trace[0].failed_input.as_ref().unwrap().field, "n");

    let empty = single_column("n", &[]);
    let evaluation = empty.evaluate(&json!({})).unwrap();
    assert_eq!((evaluation.matched, evaluation.trace.len()), (None, 0));
}

#[test]
fn null_and_missing_values() {
    let table = single_column("a.b.c", &[("is_null", "null", "1"), ("other", "", "2")]);
    assert_eq!(hit(&table, json!({})), Some("is_null".to_owned()));
    assert_eq!(hit(&table, json!({"a": {"b": {"c": null}}})), Some("is_null".to_owned()));
    // A path through a scalar is missing too.
    assert_eq!(hit(&table, json!({"a": {"b": 3}})), Some("is_null".to_owned()));
    assert_eq!(hit(&table, json!({"a": {"b": {"c": 0}}})), Some("other".to_owned()));

    // Numeric segments index arrays.
    let table = single_column("items.1.price", &[("cheap", "< 10", "1")]);
    assert_eq!(hit(&table, json!({"items": [{"price": 50}, {"price": 5}]})), Some("cheap".to_owned()));
}

#[test]
fn ordering_test_against_missing_value_is_an_error() {
    // zen-expression cannot compare null with `>`; the table must guard with
    // a `null` rule first (as the rent withdrawal table does).
    let table = single_column("months", &[("enough", ">= 3", "1")]);
    let error = table.evaluate(&json!({})).unwrap_err();
    assert!(matches!(&error, RuleError::Evaluate(cell) if cell.rule_id == "enough" && cell.kind == ColumnKind::Input));

    // A comma list is tried left to right and stops at the first true test,
    // so `null, < 3` is safe on null but `< 3, null` is not.
    let safe = single_column("months", &[("short", "null, < 3", "1")]);
    assert_eq!(hit(&safe, json!({})), Some("short".to_owned()));
    let unsafe_order = single_column("months", &[("short", "< 3, null", "1")]);
    assert!(unsafe_order.evaluate(&json!({})).is_err());
}

#[test]
fn unary_tests_see_the_whole_input() {
    let table = single_column("form.rent", &[("over_deposit", "$ > form.deposit", "1"), ("any", "", "2")]);
    assert_eq!(hit(&table, json!({"form": {"rent": 3000, "deposit": 2000}})), Some("over_deposit".to_owned()));
    assert_eq!(hit(&table, json!({"form": {"rent": 1000, "deposit": 2000}})), Some("any".to_owned()));
}

#[test]
fn outputs_see_the_input_but_not_dollar() {
    let table = single_column("n", &[("r", "> 0", "$")]);
    let evaluation = table.evaluate(&json!({"n": 5})).unwrap();
    assert_eq!(evaluation.output["out"], Value::Null);
}

#[test]
fn dotted_output_fields_build_nested_objects() {
    let table = DecisionTable::from_json(&json!({
        "hitPolicy": "first",
        "inputs": [],
        "outputs": [
            {"id": "d", "name": "", "field": "decision"},
            {"id": "a", "name": "", "field": "payment.amount_fen"},
            {"id": "b", "name": "", "field": "payment.bank"}
        ],
        "rules": [{"_id": "only", "d": "'approve'", "a": "form.rent * 100", "b": "form.bank"}]
    }))
    .unwrap();
    let evaluation = table.evaluate(&json!({"form": {"rent": 12.34, "bank": "ICBC"}})).unwrap();
    assert_eq!(
        Value::Object(evaluation.output),
        json!({"decision": "approve", "payment": {"amount_fen": 1234, "bank": "ICBC"}})
    );

    let case = TestCase {
        name: "nested".to_owned(),
        input: json!({"form": {"rent": 1, "bank": "ABC"}}),
        expect: json!({"payment.amount_fen": 100, "payment": {"amount_fen": 100, "bank": "ABC"}}),
        rule: Some("only".to_owned()),
    };
    assert!(table.run_tests(&[case])[0].passed());
}

#[test]
fn output_runtime_error_names_rule_and_column() {
    let table = single_column("n", &[("first", "> 10", "1"), ("second", "", "form.name + 1")]);
    assert!(table.check().is_ok());
    let error = table.evaluate(&json!({"n": 1, "form": {"name": "张三"}})).unwrap_err();
    let RuleError::Evaluate(cell) = &error else { panic!("{error:?}") };
    assert_eq!((cell.rule_id.as_str(), cell.kind, cell.column.id.as_str()), ("second", ColumnKind::Output, "out"));
    assert!(error.to_string().starts_with("rule `second`, output column `Out` (out): `form.name + 1` failed"));
}

#[test]
fn compile_errors_name_rule_and_column() {
    let table = single_column("n", &[("ok", "> 10", "1"), ("broken", ">= ", "2")]);
    // Evaluation stops at the first hit, so the broken rule is only reached
    // for small n; `check` finds it regardless.
    assert!(table.evaluate(&json!({"n": 11})).is_ok());
    let error = table.evaluate(&json!({"n": 1})).unwrap_err();
    assert!(matches!(&error, RuleError::Compile(cell) if cell.rule_id == "broken" && cell.kind == ColumnKind::Input));
    let error = table.check().unwrap_err();
    assert_eq!(error.rule_id(), Some("broken"));
    assert_eq!(error.column().unwrap().id, "x");

    let table = single_column("n", &[("bad_output", "", "1 +")]);
    let error = table.check().unwrap_err();
    assert!(matches!(&error, RuleError::Compile(cell) if cell.kind == ColumnKind::Output));
}

#[test]
fn invalid_inputs() {
    let table = single_column("n", &[("any", "", "1")]);
    assert!(matches!(table.evaluate(&json!([1, 2])), Err(RuleError::Input { .. })));
    // zen-expression would quietly turn this number into null.
    let error = table.evaluate(&json!({"n": 1e40})).unwrap_err();
    assert!(matches!(error, RuleError::Input { .. }), "{error:?}");
}

#[test]
fn unsupported_hit_policy_is_a_parse_error() {
    let mut collect = content();
    collect["hitPolicy"] = json!("collect");
    let error = parse_error(collect.clone());
    assert!(
        matches!(&error, ParseError::UnsupportedHitPolicy { path, found } if path == "$.hitPolicy" && found == "collect")
    );
    assert_eq!(error.to_string(), "`$.hitPolicy`: hit policy `collect` is not supported, only `first` is");

    let error = parse_error(graph(vec![collect]));
    assert!(matches!(&error, ParseError::UnsupportedHitPolicy { path, .. } if path == "$.nodes[1].content.hitPolicy"));

    let mut missing = content();
    missing.as_object_mut().unwrap().remove("hitPolicy");
    assert!(matches!(parse_error(missing), ParseError::Missing { path } if path == "$.hitPolicy"));
}

#[test]
fn full_jdm_graph() {
    let from_graph = DecisionTable::from_json(&graph(vec![content()])).unwrap();
    let bare = DecisionTable::from_json(&content()).unwrap();
    assert_eq!(from_graph, bare);

    let input = json!({
        "facts": {"fund_account": {"status": "normal", "months_paid": 6}, "owns_home_in_city": false},
        "form": {"monthly_rent": 1500, "months": 6}
    });
    let evaluation = from_graph.evaluate(&input).unwrap();
    assert_eq!(evaluation.output["amount_fen"], json!(900000));

    assert!(matches!(parse_error(graph(vec![])), ParseError::DecisionTableNodes { found: 0 }));
    assert!(matches!(parse_error(graph(vec![content(), content()])), ParseError::DecisionTableNodes { found: 2 }));
    assert!(matches!(parse_error(json!({"nodes": {}})), ParseError::WrongType { path, .. } if path == "$.nodes"));
}

#[test]
fn parse_errors_name_path_and_rule() {
    let base = || {
        json!({
            "hitPolicy": "first",
            "inputs": [{"id": "x", "name": "X", "field": "n"}],
            "outputs": [{"id": "out", "name": "Out", "field": "out"}],
            "rules": [{"_id": "r1", "x": "> 1", "out": "1"}, {"_id": "r2", "x": "", "out": "2"}]
        })
    };
    assert!(DecisionTable::from_json(&base()).is_ok());

    let mut table = base();
    table["rules"][1]["x"] = json!(5);
    let error = parse_error(table);
    assert!(matches!(&error, ParseError::CellNotString { path, rule_id } if path == "$.rules[1].x" && rule_id == "r2"));
    assert_eq!(error.to_string(), "`$.rules[1].x` (rule `r2`): a cell must be a string");

    let mut table = base();
    table["rules"][1]["_id"] = json!("r1");
    assert!(
        matches!(parse_error(table), ParseError::DuplicateRuleId { path, rule_id } if path == "$.rules[1]._id" && rule_id == "r1")
    );

    let mut table = base();
    table["rules"][0].as_object_mut().unwrap().remove("_id");
    assert!(matches!(parse_error(table), ParseError::Missing { path } if path == "$.rules[0]._id"));

    let mut table = base();
    table["inputs"][0]["field"] = json!("len(items)");
    assert!(matches!(parse_error(table), ParseError::InvalidField { path, .. } if path == "$.inputs[0].field"));

    let mut table = base();
    table["inputs"][0].as_object_mut().unwrap().remove("field");
    assert!(matches!(parse_error(table), ParseError::Missing { path } if path == "$.inputs[0].field"));

    let mut table = base();
    table["outputs"] = json!([{"id": "a", "field": "payment"}, {"id": "b", "field": "payment.amount"}]);
    assert!(matches!(parse_error(table), ParseError::OverlappingOutputs { path, .. } if path == "$.outputs[1].field"));

    let mut table = base();
    table["outputs"][0]["id"] = json!("x");
    assert!(matches!(parse_error(table), ParseError::DuplicateColumnId { path, .. } if path == "$.outputs[0].id"));

    let mut table = base();
    table["executionMode"] = json!("loop");
    assert!(matches!(parse_error(table), ParseError::Unsupported { path, .. } if path == "$.executionMode"));

    let mut table = base();
    table["outputPath"] = json!("result");
    assert!(matches!(parse_error(table), ParseError::Unsupported { path, .. } if path == "$.outputPath"));

    assert!(matches!("{".parse::<DecisionTable>(), Err(ParseError::Json(_))));
    assert!(matches!(parse_error(json!([])), ParseError::WrongType { path, .. } if path == "$"));
}

#[test]
fn missing_cells_and_whitespace_count_as_empty() {
    let table = DecisionTable::from_json(&json!({
        "hitPolicy": "first",
        "inputs": [{"id": "x", "field": "n"}, {"id": "y", "field": "m"}],
        "outputs": [{"id": "out", "field": "out"}],
        "rules": [{"_id": "r1", "x": "  > 1  ", "out": " 'big' "}, {"_id": "r2", "y": null, "out": "'small'"}]
    }))
    .unwrap();
    assert_eq!(table.rules()[0].input_cells(), ["> 1", ""]);
    assert_eq!(table.evaluate(&json!({"n": 2})).unwrap().output["out"], "big");
    assert_eq!(table.evaluate(&json!({"n": 0})).unwrap().output["out"], "small");
}

#[test]
fn a_rule_version_deserializes_with_its_cases() {
    #[derive(Deserialize)]
    struct RuleVersion {
        table: DecisionTable,
        cases: Vec<TestCase>,
    }
    let version: RuleVersion = serde_json::from_value(json!({
        "table": graph(vec![content()]),
        "cases": serde_json::from_str::<Value>(include_str!("fixtures/rent_withdrawal_cases.json")).unwrap()
    }))
    .unwrap();
    assert!(yiwang_rules::all_pass(&version.table.run_tests(&version.cases)));

    let mut bad = content();
    bad["hitPolicy"] = json!("collect");
    let error = serde_json::from_value::<RuleVersion>(json!({"table": bad, "cases": []})).err().unwrap();
    assert!(error.to_string().contains("hit policy `collect`"), "{error}");
}

#[test]
fn tables_are_shareable_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<DecisionTable>();
}

#[test]
fn inputs_hash_ignores_key_order() {
    let a: Value = serde_json::from_str(
        r#"{"form": {"monthly_rent": 2500, "months": 3}, "facts": {"owns_home_in_city": false, "fund_account": {"status": "normal", "months_paid": 24}}}"#,
    )
    .unwrap();
    let b: Value = serde_json::from_str(
        r#"{"facts": {"fund_account": {"months_paid": 24, "status": "normal"}, "owns_home_in_city": false}, "form": {"months": 3, "monthly_rent": 2500}}"#,
    )
    .unwrap();
    assert_eq!(inputs_hash(&a), inputs_hash(&b));
    assert_eq!(canonical_json(&a), canonical_json(&b));
    assert_eq!(
        canonical_json(&a),
        r#"{"facts":{"fund_account":{"months_paid":24,"status":"normal"},"owns_home_in_city":false},"form":{"monthly_rent":2500,"months":3}}"#
    );
    let hash = inputs_hash(&a);
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));

    let mut c = a.clone();
    c["form"]["monthly_rent"] = json!(2501);
    assert_ne!(inputs_hash(&a), inputs_hash(&c));
}
