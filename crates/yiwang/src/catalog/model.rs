//! A service item as one document with the GB/T 39046-2020 elements, and the rules it must meet.
//! [`ItemDocument::validate`] reports every problem with the path of its field
//! (`materials[2].situations[0]`), so an import can name row and field.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

/// Item types with their standard codes.
pub const ITEM_TYPES: [(&str, &str); 11] = [
    ("01", "行政许可"),
    ("02", "行政处罚"),
    ("03", "行政强制"),
    ("04", "行政征收"),
    ("05", "行政给付"),
    ("06", "行政检查"),
    ("07", "行政确认"),
    ("08", "行政奖励"),
    ("09", "行政裁决"),
    ("10", "其他行政权力"),
    ("20", "公共服务"),
];

/// Life events and themes residents browse by.
pub const THEMES: [(&str, &str); 20] = [
    ("birth_adoption", "生育收养"),
    ("household", "户籍办理"),
    ("employment", "就业创业"),
    ("social_security", "社会保障"),
    ("housing", "住房保障"),
    ("education", "教育"),
    ("health", "医疗卫生"),
    ("transport", "交通出行"),
    ("business_startup", "企业开办"),
    ("marriage", "婚姻登记"),
    ("elderly_care", "养老服务"),
    ("civil_assistance", "民政救助"),
    ("tax_fees", "纳税缴费"),
    ("construction", "工程建设"),
    ("market_regulation", "市场监管"),
    ("environment", "生态环境"),
    ("culture_tourism", "文化旅游"),
    ("agriculture", "农业农村"),
    ("public_safety", "公共安全"),
    ("death_funeral", "身后事"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandlingKind {
    /// 即办件: decided on the spot.
    Immediate,
    /// 承诺件: decided within the promised limit.
    Promised,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    City,
    District,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    /// 个人
    Person,
    /// 法人
    LegalPerson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Original {
    Original,
    Copy,
    OriginalAndCopy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Medium {
    Paper,
    Electronic,
    PaperOrElectronic,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Submission {
    Submit,
    /// 部门共享核验: fetched by data sharing; the applicant submits nothing.
    SharedCheck,
}

/// What can stand in for a material (免证办).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replacement {
    CertificateType(String),
    DataResource(String),
}

/// 通办范围
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    National,
    CrossProvince,
    CrossCity,
    AnyDistrict,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Text,
    Textarea,
    Number,
    Date,
    Select,
    IdNumber,
    CreditCode,
    Phone,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Situation {
    pub code: String,
    pub name: String,
    pub conditions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Material {
    pub code: String,
    pub name: String,
    pub legal_basis: String,
    pub copies: u32,
    pub original: Original,
    pub medium: Medium,
    pub format: String,
    pub blank_form: bool,
    pub sample: bool,
    pub required: bool,
    /// Situation codes that need it; empty means every situation.
    pub situations: Vec<String>,
    pub submission: Submission,
    pub replaced_by: Option<Replacement>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fee {
    pub name: String,
    pub amount_fen: i64,
    pub basis: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Place {
    pub name: String,
    pub address: String,
    pub windows: String,
    pub hours: String,
    pub phone: String,
    pub lat: f64,
    pub lng: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub name: String,
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Faq {
    pub question: String,
    pub answer: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormField {
    pub key: String,
    pub label: String,
    pub field_type: FieldType,
    pub required: bool,
    /// A regular expression the value must match; empty for none.
    pub pattern: String,
    pub options: Vec<String>,
}

/// One service item: everything its guide shows and its application form asks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemDocument {
    /// 实施编码: implementing body's code, level digit, basic code and serial (about 31 characters).
    pub implementation_code: String,
    /// 基本编码: shared by the same service in different districts.
    pub basic_code: String,
    pub name: String,
    /// Standard type code, see [`ITEM_TYPES`].
    pub item_type: String,
    pub handling_kind: HandlingKind,
    pub department_code: String,
    pub level: Level,
    pub audiences: Vec<Audience>,
    /// Theme codes, see [`THEMES`].
    pub themes: Vec<String>,
    pub summary: String,
    pub legal_basis: Vec<String>,
    pub conditions: Vec<String>,
    pub situations: Vec<Situation>,
    pub materials: Vec<Material>,
    /// In working days.
    pub statutory_limit_days: u32,
    /// In working days; at most the statutory limit.
    pub promised_limit_days: u32,
    /// Empty when free.
    pub fees: Vec<Fee>,
    pub places: Vec<Place>,
    /// The most on-site visits required: 0, 1 or 2.
    pub max_visits: u8,
    /// 网上办理深度: 1 information, 2 form download, 3 online pre-review, 4 fully online.
    pub online_depth: u8,
    pub scope: Scope,
    pub steps: Vec<Step>,
    pub faq: Vec<Faq>,
    pub form: Vec<FormField>,
    /// Colloquial phrasings residents use for this item.
    pub keywords: Vec<String>,
}

/// One broken rule, with the path of the field at fault.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

struct Problems(Vec<FieldProblem>);

impl Problems {
    fn check(&mut self, ok: bool, field: impl Into<String>, message: &str) {
        if !ok {
            self.0.push(FieldProblem { field: field.into(), message: message.to_owned() });
        }
    }

    fn text(&mut self, value: &str, field: impl Into<String>, max_chars: usize) {
        let chars = value.trim().chars().count();
        self.check(
            chars > 0 && chars <= max_chars,
            field,
            "必填，且不超过长度上限 / required, within the length limit",
        );
    }
}

fn code_like(value: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&value.len())
        && value.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase() || b == b'-')
}

impl ItemDocument {
    /// Every rule the item breaks; empty when it is valid. `departments` are the known department
    /// codes.
    pub fn validate(&self, departments: &HashSet<&str>) -> Vec<FieldProblem> {
        let mut p = Problems(Vec::new());
        p.check(
            code_like(&self.implementation_code, 12, 60),
            "implementation_code",
            "12-60位数字、大写字母或 - / 12-60 of 0-9 A-Z -",
        );
        p.check(code_like(&self.basic_code, 8, 20), "basic_code", "8-20位数字或大写字母 / 8-20 of 0-9 A-Z");
        p.text(&self.name, "name", 100);
        p.check(ITEM_TYPES.iter().any(|(c, _)| *c == self.item_type), "item_type", "未知事项类型 / unknown item type");
        p.check(
            departments.contains(self.department_code.as_str()),
            "department_code",
            "部门不存在 / no such department",
        );
        p.check(!self.audiences.is_empty(), "audiences", "至少一类服务对象 / at least one audience");
        p.check(!self.themes.is_empty(), "themes", "至少一个主题 / at least one theme");
        for (i, theme) in self.themes.iter().enumerate() {
            p.check(THEMES.iter().any(|(c, _)| c == theme), format!("themes[{i}]"), "未知主题 / unknown theme");
        }
        p.text(&self.summary, "summary", 500);
        p.check(!self.legal_basis.is_empty(), "legal_basis", "至少一项设定依据 / at least one legal basis");
        p.check(!self.conditions.is_empty(), "conditions", "至少一项受理条件 / at least one condition");
        p.check(!self.situations.is_empty(), "situations", "至少一种办理情形 / at least one situation");
        let mut situation_codes = HashSet::new();
        for (i, s) in self.situations.iter().enumerate() {
            p.check(
                situation_codes.insert(s.code.as_str()),
                format!("situations[{i}].code"),
                "情形编码重复 / duplicate code",
            );
            p.text(&s.name, format!("situations[{i}].name"), 100);
        }
        let mut material_codes = HashSet::new();
        for (i, m) in self.materials.iter().enumerate() {
            p.check(
                material_codes.insert(m.code.as_str()),
                format!("materials[{i}].code"),
                "材料编码重复 / duplicate code",
            );
            p.text(&m.name, format!("materials[{i}].name"), 200);
            p.check((1..=5).contains(&m.copies), format!("materials[{i}].copies"), "份数应为1-5 / 1-5 copies");
            for (j, s) in m.situations.iter().enumerate() {
                p.check(
                    situation_codes.contains(s.as_str()),
                    format!("materials[{i}].situations[{j}]"),
                    "没有这个办理情形 / no such situation",
                );
            }
        }
        p.check(
            self.statutory_limit_days <= 180,
            "statutory_limit_days",
            "法定时限不超过180个工作日 / at most 180 working days",
        );
        p.check(
            self.promised_limit_days <= self.statutory_limit_days,
            "promised_limit_days",
            "承诺时限不能超过法定时限 / must not exceed the statutory limit",
        );
        p.check(
            self.handling_kind == HandlingKind::Immediate || self.statutory_limit_days > 0,
            "statutory_limit_days",
            "承诺件须有时限 / a promised item needs a time limit",
        );
        for (i, fee) in self.fees.iter().enumerate() {
            p.check(fee.amount_fen > 0, format!("fees[{i}].amount_fen"), "金额以分计，须为正数 / positive, in fen");
            p.text(&fee.name, format!("fees[{i}].name"), 100);
        }
        p.check(!self.places.is_empty(), "places", "至少一个办理地点 / at least one place");
        for (i, place) in self.places.iter().enumerate() {
            p.check((-90.0..=90.0).contains(&place.lat), format!("places[{i}].lat"), "纬度无效 / invalid latitude");
            p.check((-180.0..=180.0).contains(&place.lng), format!("places[{i}].lng"), "经度无效 / invalid longitude");
        }
        p.check(self.max_visits <= 2, "max_visits", "最多跑动次数为0、1或2 / 0, 1 or 2");
        p.check((1..=4).contains(&self.online_depth), "online_depth", "网办深度为1-4 / 1-4");
        p.check(self.steps.len() >= 2, "steps", "至少两个办理步骤 / at least two steps");
        let mut keys = HashSet::new();
        for (i, f) in self.form.iter().enumerate() {
            let key_ok =
                !f.key.is_empty() && f.key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            p.check(
                key_ok && keys.insert(f.key.as_str()),
                format!("form[{i}].key"),
                "字段名须唯一，小写字母数字下划线 / unique snake_case",
            );
            p.check(
                (f.field_type == FieldType::Select) != f.options.is_empty(),
                format!("form[{i}].options"),
                "只有下拉字段有选项，且必须有 / options exactly for select fields",
            );
        }
        p.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::demo::DEMO_DEPARTMENTS;

    fn demo() -> Vec<ItemDocument> {
        serde_json::from_str(super::super::DEMO_CATALOGUE).expect("the demo catalogue parses")
    }

    fn departments() -> HashSet<&'static str> {
        DEMO_DEPARTMENTS.iter().map(|(code, _, _)| *code).collect()
    }

    #[test]
    fn every_demo_item_is_valid() {
        let departments = departments();
        for item in demo() {
            assert_eq!(item.validate(&departments), Vec::new(), "{}", item.name);
        }
    }

    #[test]
    fn the_demo_catalogue_covers_what_later_features_need() {
        let items = demo();
        assert!(items.len() >= 150, "{} items", items.len());
        for (code, name) in ITEM_TYPES {
            assert!(items.iter().filter(|i| i.item_type == code).count() >= 2, "type {code} {name}");
        }
        for (code, name) in THEMES {
            assert!(items.iter().filter(|i| i.themes.iter().any(|t| t == code)).count() >= 3, "theme {code} {name}");
        }
        for name in ["高校毕业生接收报到", "租房提取住房公积金", "机动车行驶证补领", "出生医学证明签发"]
        {
            assert!(items.iter().any(|i| i.name == name), "{name}");
        }
        let codes: HashSet<&str> = items.iter().map(|i| i.implementation_code.as_str()).collect();
        assert_eq!(codes.len(), items.len(), "implementation codes are unique");
    }

    #[test]
    fn problems_name_their_field() {
        let departments = departments();
        let mut item = demo().remove(0);
        item.item_type = "99".into();
        item.promised_limit_days = item.statutory_limit_days + 1;
        item.materials[0].situations = vec!["S99".into()];
        item.form[0].field_type = FieldType::Text;
        item.form[0].options = vec!["x".into()];
        let fields: Vec<String> = item.validate(&departments).into_iter().map(|p| p.field).collect();
        assert!(fields.contains(&"item_type".to_owned()), "{fields:?}");
        assert!(fields.contains(&"promised_limit_days".to_owned()), "{fields:?}");
        assert!(fields.contains(&"materials[0].situations[0]".to_owned()), "{fields:?}");
        assert!(
            fields.contains(&"form[0].options".to_owned()) || item.form[0].field_type == FieldType::Select,
            "{fields:?}"
        );
    }

    #[test]
    fn unknown_fields_are_rejected() {
        let mut value: serde_json::Value = serde_json::from_str(super::super::DEMO_CATALOGUE).unwrap();
        value[0]["colour"] = serde_json::Value::from("blue");
        assert!(serde_json::from_value::<ItemDocument>(value[0].clone()).is_err());
    }
}
