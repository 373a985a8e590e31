//! What an application (办件) is: its states, the actions that move it, who may take them, and
//! the checks on what an applicant fills in. Pure rules, tested here.

use serde::{Deserialize, Serialize};

use crate::catalog::model::{FieldType, FormField, ItemDocument, Material, Replacement, Submission};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// 已提交: waiting for a clerk to accept it.
    Submitted,
    /// 已受理: the time limit runs.
    Accepted,
    /// 补正中: waiting for the applicant; the time limit is paused.
    SupplementRequested,
    /// 准予: approved; the result is being delivered.
    Approved,
    /// 不予许可: rejected with reasons and basis.
    Rejected,
    /// 不予受理: refused at the window with reasons.
    Refused,
    /// 撤回 by the applicant.
    Withdrawn,
    /// 办结: the result was delivered.
    Completed,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Submitted => "submitted",
            State::Accepted => "accepted",
            State::SupplementRequested => "supplement_requested",
            State::Approved => "approved",
            State::Rejected => "rejected",
            State::Refused => "refused",
            State::Withdrawn => "withdrawn",
            State::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<State> {
        [
            State::Submitted,
            State::Accepted,
            State::SupplementRequested,
            State::Approved,
            State::Rejected,
            State::Refused,
            State::Withdrawn,
            State::Completed,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }

    /// (中文, English) for pages.
    pub fn labels(self) -> (&'static str, &'static str) {
        match self {
            State::Submitted => ("已提交，待受理", "Submitted"),
            State::Accepted => ("已受理，办理中", "Accepted, in progress"),
            State::SupplementRequested => ("待补正", "Waiting for a supplement"),
            State::Approved => ("准予许可", "Approved"),
            State::Rejected => ("不予许可", "Rejected"),
            State::Refused => ("不予受理", "Refused"),
            State::Withdrawn => ("已撤回", "Withdrawn"),
            State::Completed => ("已办结", "Completed"),
        }
    }

    /// No action moves a closed application.
    pub fn is_closed(self) -> bool {
        matches!(self, State::Rejected | State::Refused | State::Withdrawn | State::Completed)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Accept,
    Refuse,
    RequestSupplement,
    Supplement,
    Approve,
    Reject,
    Complete,
    Withdraw,
    /// Send the application back to an earlier review step.
    Return,
}

/// Who takes an action: the applicant, the window (受理), or the deciding department (决定).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Party {
    Applicant,
    Window,
    Decider,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Refuse => "refuse",
            Action::RequestSupplement => "request_supplement",
            Action::Supplement => "supplement",
            Action::Approve => "approve",
            Action::Reject => "reject",
            Action::Complete => "complete",
            Action::Withdraw => "withdraw",
            Action::Return => "return",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        [
            Action::Accept,
            Action::Refuse,
            Action::RequestSupplement,
            Action::Supplement,
            Action::Approve,
            Action::Reject,
            Action::Complete,
            Action::Withdraw,
            Action::Return,
        ]
        .into_iter()
        .find(|action| action.as_str() == s)
    }

    pub fn party(self) -> Party {
        match self {
            Action::Supplement | Action::Withdraw => Party::Applicant,
            Action::Accept | Action::Refuse | Action::RequestSupplement | Action::Complete => Party::Window,
            Action::Approve | Action::Reject | Action::Return => Party::Decider,
        }
    }

    /// Refusals, rejections and supplement requests must say why (行政许可法 Art. 32, 38).
    pub fn needs_reason(self) -> bool {
        matches!(self, Action::Refuse | Action::Reject | Action::RequestSupplement | Action::Return)
    }

    /// The state an action leads to from `state`; `resume` is the state a supplement request
    /// interrupted. `None` when the action does not apply.
    pub fn next(self, state: State, resume: Option<State>) -> Option<State> {
        match (self, state) {
            (Action::Accept, State::Submitted) => Some(State::Accepted),
            (Action::Refuse, State::Submitted) => Some(State::Refused),
            (Action::RequestSupplement, State::Submitted | State::Accepted) => Some(State::SupplementRequested),
            (Action::Supplement, State::SupplementRequested) => resume,
            (Action::Approve, State::Accepted) => Some(State::Approved),
            (Action::Reject, State::Accepted) => Some(State::Rejected),
            (Action::Return, State::Accepted) => Some(State::Accepted),
            (Action::Complete, State::Approved) => Some(State::Completed),
            (Action::Withdraw, State::Submitted | State::Accepted | State::SupplementRequested) => {
                Some(State::Withdrawn)
            }
            _ => None,
        }
    }
}

/// How the applicant supplies one material.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "source")]
pub enum Supply {
    /// A file the applicant uploaded, by its SHA-256.
    Upload { sha256: String },
    /// 免证办: an e-certificate the applicant holds, by its identifier.
    Certificate { id: String },
    /// 免证办: the applicant authorises the department to fetch it by data sharing.
    SharedData,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SuppliedMaterial {
    /// The material's code in the item (`M1` …).
    pub material: String,
    #[serde(flatten)]
    pub supply: Supply,
}

/// One broken rule in what the applicant filled in, with its field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

fn problem(field: String, message: &str) -> Problem {
    Problem { field, message: message.to_owned() }
}

/// Whether a material may come by data sharing instead of a file.
pub fn shareable(material: &Material) -> bool {
    material.submission == Submission::SharedCheck || matches!(material.replaced_by, Some(Replacement::DataResource(_)))
}

/// The certificate type that may stand in for a material (免证办), by name.
pub fn certificate_type(material: &Material) -> Option<&str> {
    match &material.replaced_by {
        Some(Replacement::CertificateType(name)) => Some(name),
        _ => None,
    }
}

/// The materials a situation needs.
pub fn materials_for<'a>(item: &'a ItemDocument, situation: &str) -> impl Iterator<Item = &'a Material> {
    item.materials.iter().filter(move |m| m.situations.is_empty() || m.situations.iter().any(|s| s == situation))
}

fn check_value(field: &FormField, value: &serde_json::Value) -> Result<(), &'static str> {
    let text = match value {
        serde_json::Value::String(s) => s.trim().to_owned(),
        serde_json::Value::Number(n) if field.field_type == FieldType::Number => n.to_string(),
        serde_json::Value::Null => String::new(),
        _ => return Err("应为文本 / must be text"),
    };
    if text.is_empty() {
        return if field.required { Err("必填 / required") } else { Ok(()) };
    }
    if text.chars().count() > 500 {
        return Err("不超过500字 / at most 500 characters");
    }
    let ok = match field.field_type {
        FieldType::IdNumber => text.parse::<crate::identity::ResidentIdNumber>().is_ok(),
        FieldType::CreditCode => text.parse::<crate::identity::CreditCode>().is_ok(),
        FieldType::Phone => text.parse::<crate::identity::PhoneNumber>().is_ok(),
        FieldType::Number => text.parse::<f64>().is_ok_and(f64::is_finite),
        FieldType::Date => chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d").is_ok(),
        FieldType::Select => field.options.contains(&text),
        FieldType::Text | FieldType::Textarea => true,
    };
    if ok { Ok(()) } else { Err("格式不正确 / invalid value") }
}

/// Every problem with an application: the situation, each form field and each material.
pub fn check(
    item: &ItemDocument,
    situation: &str,
    form: &serde_json::Map<String, serde_json::Value>,
    materials: &[SuppliedMaterial],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    if !item.situations.iter().any(|s| s.code == situation) {
        problems.push(problem("situation".into(), "该事项没有此办理情形 / no such situation for this item"));
        return problems;
    }
    for field in &item.form {
        let value = form.get(&field.key).unwrap_or(&serde_json::Value::Null);
        if let Err(message) = check_value(field, value) {
            problems.push(problem(format!("form.{}", field.key), message));
        }
    }
    if let Some(unknown) = form.keys().find(|k| !item.form.iter().any(|f| f.key == **k)) {
        problems.push(problem(format!("form.{unknown}"), "表单没有此字段 / no such field in the form"));
    }
    let needed: Vec<&Material> = materials_for(item, situation).collect();
    for (i, supplied) in materials.iter().enumerate() {
        match needed.iter().find(|m| m.code == supplied.material) {
            None => problems.push(problem(
                format!("materials[{i}].material"),
                "此情形不需要该材料 / not a material of this situation",
            )),
            Some(m) if supplied.supply == Supply::SharedData && !shareable(m) => problems.push(problem(
                format!("materials[{i}].source"),
                "该材料不能通过数据共享获取，请上传 / cannot be fetched by data sharing: upload it",
            )),
            Some(m) if matches!(supplied.supply, Supply::Certificate { .. }) && certificate_type(m).is_none() => {
                problems.push(problem(
                    format!("materials[{i}].source"),
                    "该材料不能用电子证照代替，请上传 / no e-certificate stands in for it: upload it",
                ))
            }
            Some(_) if materials[..i].iter().any(|s| s.material == supplied.material) => {
                problems.push(problem(format!("materials[{i}].material"), "重复 / given twice"))
            }
            Some(_) => {}
        }
    }
    for m in needed.iter().filter(|m| m.required) {
        if !materials.iter().any(|s| s.material == m.code) {
            problems.push(problem(format!("materials.{}", m.code), "缺少必需材料 / a required material is missing"));
        }
    }
    problems
}

/// The application's human number: region code, date and a daily sequence.
pub fn number(region_code: &str, day: chrono::NaiveDate, sequence: i64) -> String {
    format!("{region_code}-{}-{sequence:06}", day.format("%Y%m%d"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rent_item() -> ItemDocument {
        let items: Vec<ItemDocument> = serde_json::from_str(crate::catalog::DEMO_CATALOGUE).unwrap();
        items.into_iter().find(|i| i.name == "租房提取住房公积金").unwrap()
    }

    fn good_form() -> serde_json::Map<String, serde_json::Value> {
        serde_json::json!({
            "applicant_name": "陈晓红", "id_number": "440402198503120024", "phone": "13800138001",
            "extract_mode": "按月自动提取", "bank_card": "6222020200112233445"
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn all_materials(item: &ItemDocument, situation: &str) -> Vec<SuppliedMaterial> {
        materials_for(item, situation)
            .map(|m| SuppliedMaterial {
                material: m.code.clone(),
                supply: if shareable(m) { Supply::SharedData } else { Supply::Upload { sha256: "ab".repeat(32) } },
            })
            .collect()
    }

    #[test]
    fn a_complete_application_has_no_problems() {
        let item = rent_item();
        assert_eq!(check(&item, "S1", &good_form(), &all_materials(&item, "S1")), vec![]);
    }

    #[test]
    fn every_problem_is_named_by_its_field() {
        let item = rent_item();
        let mut form = good_form();
        form.insert("id_number".into(), "440402198503120025".into());
        form.insert("extract_mode".into(), "全部取走".into());
        form.remove("phone");
        form.insert("shoe_size".into(), "42".into());
        let mut materials = all_materials(&item, "S1");
        let id_card = materials.iter().position(|m| m.material == "M1").unwrap();
        materials[id_card].supply = Supply::SharedData;
        materials.retain(|m| m.material != "M5");
        let fields: Vec<String> = check(&item, "S1", &form, &materials).into_iter().map(|p| p.field).collect();
        assert_eq!(
            fields,
            [
                "form.id_number",
                "form.phone",
                "form.extract_mode",
                "form.shoe_size",
                &format!("materials[{id_card}].source"),
                "materials.M5"
            ]
        );
        assert_eq!(check(&item, "S9", &form, &materials)[0].field, "situation");
    }

    #[test]
    fn actions_follow_the_lifecycle() {
        use Action::*;
        use State::*;
        assert_eq!(Accept.next(Submitted, None), Some(Accepted));
        assert_eq!(Approve.next(Submitted, None), None, "nothing is decided before it is accepted");
        assert_eq!(RequestSupplement.next(Accepted, None), Some(SupplementRequested));
        assert_eq!(Supplement.next(SupplementRequested, Some(Accepted)), Some(Accepted), "back where it was");
        assert_eq!(Withdraw.next(Approved, None), None, "a decision cannot be withdrawn");
        for closed in [Rejected, Refused, Withdrawn, Completed] {
            assert!(closed.is_closed());
            for action in [Accept, Refuse, RequestSupplement, Supplement, Approve, Reject, Complete, Withdraw, Return] {
                assert_eq!(action.next(closed, Some(Accepted)), None, "{action:?} on {closed:?}");
            }
        }
        assert_eq!(State::parse("supplement_requested"), Some(SupplementRequested));
        assert_eq!(Action::parse("request_supplement"), Some(RequestSupplement));
        assert_eq!(Action::parse("fly"), None);
    }

    #[test]
    fn numbers_read_region_date_sequence() {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(number("440400", day, 42), "440400-20261123-000042");
    }
}
