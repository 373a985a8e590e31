//! 租房提取住房公积金: the realistic table in `fixtures/rent_withdrawal.json`.

use serde_json::{Value, json};
use yiwang_rules::{ColumnKind, DecisionTable, RuleError, TestCase, all_pass};

const TABLE: &str = include_str!("fixtures/rent_withdrawal.json");
const CASES: &str = include_str!("fixtures/rent_withdrawal_cases.json");

fn table() -> DecisionTable {
    let table: DecisionTable = TABLE.parse().expect("fixture parses");
    table.check().expect("fixture compiles");
    table
}

fn applicant(status: Value, months_paid: Value, owns_home: Value, rent: Value, months: Value) -> Value {
    json!({
        "facts": {
            "fund_account": {"status": status, "months_paid": months_paid, "balance_fen": 8_000_000},
            "owns_home_in_city": owns_home
        },
        "form": {"monthly_rent": rent, "months": months}
    })
}

fn eligible() -> Value {
    applicant(json!("normal"), json!(24), json!(false), json!(2500), json!(3))
}

fn hit(table: &DecisionTable, input: &Value) -> String {
    table.evaluate(input).expect("evaluates").matched.expect("a rule matches").id
}

#[test]
fn fixture_shape() {
    let table = table();
    assert_eq!(table.inputs().len(), 5);
    assert_eq!(table.outputs().len(), 3);
    assert_eq!(table.rules().len(), 11);
    assert_eq!(table.inputs()[3].field, "form.monthly_rent");
    assert_eq!(table.rules()[1].input_cells()[0], r#""frozen", "sealed""#);
    assert_eq!(table.rules()[10].description(), Some("未命中自动审批规则"));
}

#[test]
fn approve_computes_amount_from_context() {
    let evaluation = table().evaluate(&eligible()).unwrap();
    let matched = evaluation.matched.unwrap();
    assert_eq!(matched.id, "r10_approve");
    assert_eq!(matched.description.as_deref(), Some("符合租房提取条件"));
    // min(2500, 1800) * 3 months * 100 fen.
    assert_eq!(
        Value::Object(evaluation.output),
        json!({"decision": "approve", "reason": "符合租房提取条件，秒批通过", "amount_fen": 540000})
    );

    let below_cap = applicant(json!("normal"), json!(3), json!(false), json!(1200.5), json!(12));
    let evaluation = table().evaluate(&below_cap).unwrap();
    assert_eq!(evaluation.output["amount_fen"], json!(1440600));
}

#[test]
fn trace_records_every_examined_rule_and_first_failed_column() {
    let evaluation = table().evaluate(&eligible()).unwrap();
    let trace: Vec<(&str, bool, Option<&str>)> = evaluation
        .trace
        .iter()
        .map(|t| (t.rule_id.as_str(), t.matched, t.failed_input.as_ref().map(|c| c.id.as_str())))
        .collect();
    assert_eq!(
        trace,
        [
            ("r01_account_missing", false, Some("in_status")),
            ("r02_account_frozen", false, Some("in_status")),
            ("r03_account_abnormal", false, Some("in_status")),
            ("r04_months_paid_missing", false, Some("in_months_paid")),
            ("r05_months_paid_short", false, Some("in_months_paid")),
            ("r06_owns_home", false, Some("in_home")),
            ("r07_home_unknown", false, Some("in_home")),
            ("r08_rent_invalid", false, Some("in_rent")),
            ("r09_months_invalid", false, Some("in_months")),
            ("r10_approve", true, None),
        ]
    );
    let failed = evaluation.trace[3].failed_input.as_ref().unwrap();
    assert_eq!(failed.name, "连续缴存月数");
    assert_eq!(failed.field, "facts.fund_account.months_paid");

    // The trace is stored with the decision record, so it must round-trip.
    let stored = serde_json::to_value(&evaluation).unwrap();
    assert_eq!(stored["trace"][0]["failed_input"]["field"], "facts.fund_account.status");
    assert!(stored["trace"][9].get("failed_input").is_none());
    assert_eq!(serde_json::from_value::<yiwang_rules::Evaluation>(stored).unwrap(), evaluation);
}

#[test]
fn first_hit_wins_over_later_matching_rules() {
    // Short contributions (r05) and owning a home (r06) both apply; r05 comes first.
    let input = applicant(json!("normal"), json!(1), json!(true), json!(2500), json!(3));
    let evaluation = table().evaluate(&input).unwrap();
    assert_eq!(evaluation.matched.unwrap().id, "r05_months_paid_short");
    assert_eq!(evaluation.output["decision"], "reject");
    // Rules after the winner are not examined.
    assert_eq!(evaluation.trace.len(), 5);
    assert!(evaluation.trace.iter().all(|t| t.rule_id != "r06_owns_home"));

    let input = applicant(json!("normal"), json!(36), json!(true), json!(2500), json!(3));
    assert_eq!(hit(&table(), &input), "r06_owns_home");
}

#[test]
fn list_test_and_output_computed_from_context() {
    for status in ["frozen", "sealed"] {
        let input = applicant(json!(status), json!(24), json!(false), json!(2500), json!(3));
        let evaluation = table().evaluate(&input).unwrap();
        assert_eq!(evaluation.matched.unwrap().id, "r02_account_frozen");
        assert_eq!(evaluation.output["reason"], format!("公积金账户状态为「{status}」，不予提取"));
        // An empty output cell leaves the field out.
        assert!(!evaluation.output.contains_key("amount_fen"));
    }
    let closed = applicant(json!("closed"), json!(24), json!(false), json!(2500), json!(3));
    assert_eq!(hit(&table(), &closed), "r03_account_abnormal");
}

#[test]
fn range_test_on_withdrawal_months() {
    for (months, rule) in
        [(1, "r10_approve"), (12, "r10_approve"), (0, "r09_months_invalid"), (13, "r09_months_invalid")]
    {
        let input = applicant(json!("normal"), json!(24), json!(false), json!(1000), json!(months));
        assert_eq!(hit(&table(), &input), rule, "months = {months}");
    }
}

#[test]
fn missing_fields_are_null() {
    // No months_paid at all: `null` in r04 matches before `< 3` in r05 would fail on null.
    let input = json!({
        "facts": {"fund_account": {"status": "normal"}, "owns_home_in_city": false},
        "form": {"monthly_rent": 2500, "months": 3}
    });
    assert_eq!(hit(&table(), &input), "r04_months_paid_missing");

    // No fund account object: the path stops early and is null as well.
    assert_eq!(hit(&table(), &json!({"form": {}})), "r01_account_missing");

    let no_rent = json!({
        "facts": {"fund_account": {"status": "normal", "months_paid": 12}, "owns_home_in_city": false},
        "form": {"months": 3}
    });
    assert_eq!(hit(&table(), &no_rent), "r08_rent_invalid");
}

#[test]
fn empty_cells_make_the_fallback_match_anything() {
    // A home-ownership fact that is neither true, false nor null passes every
    // guard and fails the approval rule, leaving the all-empty fallback.
    let input = applicant(json!("normal"), json!(24), json!("unknown"), json!(2500), json!(3));
    let evaluation = table().evaluate(&input).unwrap();
    assert_eq!(evaluation.matched.unwrap().id, "r11_fallback");
    assert_eq!(
        Value::Object(evaluation.output),
        json!({"decision": "manual", "reason": "未命中自动审批规则，转人工审核"})
    );
    assert_eq!(evaluation.trace[9].failed_input.as_ref().unwrap().id, "in_home");
}

#[test]
fn runtime_error_names_rule_and_column() {
    // `"abc" <= 0` cannot be compared; this must not count as "no match".
    let input = applicant(json!("normal"), json!(24), json!(false), json!("abc"), json!(3));
    let error = table().evaluate(&input).unwrap_err();
    let RuleError::Evaluate(cell) = &error else {
        panic!("expected a run-time error, got {error:?}");
    };
    assert_eq!(cell.rule_id, "r08_rent_invalid");
    assert_eq!(cell.kind, ColumnKind::Input);
    assert_eq!(cell.column.id, "in_rent");
    assert_eq!(cell.expression, "null, <= 0");
    assert_eq!(error.rule_id(), Some("r08_rent_invalid"));
    let message = error.to_string();
    assert!(message.contains("r08_rent_invalid") && message.contains("月租金（元）"), "{message}");
}

#[test]
fn cases_from_json_pass() {
    let cases: Vec<TestCase> = serde_json::from_str(CASES).unwrap();
    let outcomes = table().run_tests(&cases);
    assert_eq!(outcomes.len(), 5);
    for outcome in &outcomes {
        assert!(outcome.passed(), "{}: {:?}", outcome.name, outcome.failure);
    }
    assert!(all_pass(&outcomes));
}

#[test]
fn failing_cases_explain_themselves() {
    let cases = [
        TestCase {
            name: "wrong amount".to_owned(),
            input: eligible(),
            expect: json!({"decision": "approve", "amount_fen": 750000}),
            rule: None,
        },
        TestCase {
            name: "wrong rule".to_owned(),
            input: eligible(),
            expect: json!({}),
            rule: Some("r06_owns_home".to_owned()),
        },
        TestCase {
            name: "bad input".to_owned(),
            input: applicant(json!("normal"), json!(24), json!(false), json!("abc"), json!(3)),
            expect: json!({"decision": "reject"}),
            rule: None,
        },
        TestCase { name: "passes".to_owned(), input: eligible(), expect: json!({"decision": "approve"}), rule: None },
    ];
    let outcomes = table().run_tests(&cases);
    assert!(!all_pass(&outcomes));

    assert_eq!(
        outcomes[0].failure.as_deref(),
        Some("`amount_fen`: expected 750000, got 540000; rule `r10_approve` (符合租房提取条件) hit")
    );
    assert_eq!(
        outcomes[1].failure.as_deref(),
        Some("expected rule `r06_owns_home` to hit; rule `r10_approve` (符合租房提取条件) hit")
    );
    let failure = outcomes[2].failure.as_deref().unwrap();
    assert!(failure.starts_with("evaluation failed: rule `r08_rent_invalid`"), "{failure}");
    assert!(outcomes[2].evaluation.is_none());
    assert!(outcomes[3].passed());
    assert!(outcomes[3].evaluation.is_some());
}
