//! Data-exchange types: a resource's description (编目) with its fields (信息项), grades, sharing
//! and open types and attached source (挂接), checked once at the edge.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ExchangeError, invalid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    /// `YYYY-MM-DD`
    Date,
}

impl FieldType {
    /// The type name CKAN's datastore uses for a column of this type.
    pub fn datastore_type(self) -> &'static str {
        match self {
            FieldType::String => "text",
            FieldType::Integer => "int",
            FieldType::Number => "numeric",
            FieldType::Boolean => "bool",
            FieldType::Date => "date",
        }
    }
}

/// How sensitive a field is: public and internal fields go to any grant holder as they are;
/// personal ones only in clear when the grant says so, masked otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sensitivity {
    Public,
    Internal,
    Personal,
    SensitivePersonal,
}

impl Sensitivity {
    pub fn is_personal(self) -> bool {
        matches!(self, Sensitivity::Personal | Sensitivity::SensitivePersonal)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Sensitivity::Public => "公开",
            Sensitivity::Internal => "内部",
            Sensitivity::Personal => "个人信息",
            Sensitivity::SensitivePersonal => "敏感个人信息",
        }
    }
}

/// The masking rule (脱敏规则) for a personal field shown to someone not granted it in clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Masking {
    /// 440402********0024: the first six and last four characters.
    IdNumber,
    /// 138****5678; a landline keeps its area code and last four digits.
    Phone,
    /// 张*, 欧阳**: the surname.
    Name,
    /// Up to the district, town or street.
    Address,
    /// Hidden whole.
    #[default]
    None,
}

/// Data grade after GB/T 43697-2024.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataGrade {
    /// 核心数据
    Core,
    /// 重要数据
    Important,
    /// 一般数据
    General,
}

impl DataGrade {
    pub fn label_zh(self) -> &'static str {
        match self {
            DataGrade::Core => "核心数据",
            DataGrade::Important => "重要数据",
            DataGrade::General => "一般数据",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SharingType {
    /// 无条件共享: granted on application.
    Unconditional,
    /// 有条件共享: the owner's steward decides.
    Conditional,
    /// 不予共享: never, on a stated legal basis.
    NotShared,
}

impl SharingType {
    pub fn as_str(self) -> &'static str {
        match self {
            SharingType::Unconditional => "unconditional",
            SharingType::Conditional => "conditional",
            SharingType::NotShared => "not_shared",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            SharingType::Unconditional => "无条件共享",
            SharingType::Conditional => "有条件共享",
            SharingType::NotShared => "不予共享",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OpenType {
    /// 无条件开放: published as open data.
    Open,
    /// 有条件开放
    Conditional,
    /// 不予开放
    NotOpen,
}

impl OpenType {
    pub fn as_str(self) -> &'static str {
        match self {
            OpenType::Open => "open",
            OpenType::Conditional => "conditional",
            OpenType::NotOpen => "not_open",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            OpenType::Open => "无条件开放",
            OpenType::Conditional => "有条件开放",
            OpenType::NotOpen => "不予开放",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UpdateCycle {
    Realtime,
    Daily,
    Weekly,
    Monthly,
    Quarterly,
    Yearly,
    Irregular,
}

impl UpdateCycle {
    pub fn label_zh(self) -> &'static str {
        match self {
            UpdateCycle::Realtime => "实时",
            UpdateCycle::Daily => "每日",
            UpdateCycle::Weekly => "每周",
            UpdateCycle::Monthly => "每月",
            UpdateCycle::Quarterly => "每季度",
            UpdateCycle::Yearly => "每年",
            UpdateCycle::Irregular => "不定期",
        }
    }

    /// The frequency IRI of the EU vocabulary DCAT-AP uses.
    pub fn dcat_frequency(self) -> &'static str {
        match self {
            UpdateCycle::Realtime => "http://publications.europa.eu/resource/authority/frequency/CONT",
            UpdateCycle::Daily => "http://publications.europa.eu/resource/authority/frequency/DAILY",
            UpdateCycle::Weekly => "http://publications.europa.eu/resource/authority/frequency/WEEKLY",
            UpdateCycle::Monthly => "http://publications.europa.eu/resource/authority/frequency/MONTHLY",
            UpdateCycle::Quarterly => "http://publications.europa.eu/resource/authority/frequency/QUARTERLY",
            UpdateCycle::Yearly => "http://publications.europa.eu/resource/authority/frequency/ANNUAL",
            UpdateCycle::Irregular => "http://publications.europa.eu/resource/authority/frequency/IRREG",
        }
    }
}

/// One field (信息项) of a resource.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// Machine name: lower-case letters, digits and `_`, starting with a letter.
    pub name: String,
    /// 中文名称
    pub label: String,
    #[serde(rename = "type")]
    pub field_type: FieldType,
    #[serde(default)]
    pub description: String,
    pub sensitivity: Sensitivity,
    /// For personal fields: how to mask them for a grant without them in clear.
    #[serde(default)]
    pub masking: Masking,
    /// A row without a value here is rejected.
    #[serde(default)]
    pub required: bool,
}

/// Where a resource's data comes from (挂接).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// A whitelisted table in yiwang's own database: `register_records:<register>` (the base
    /// registers instant approval reads).
    Table { table: String },
    /// Rows uploaded as CSV or JSON (`POST /api/exchange/resources/{code}/data`).
    Dataset,
    /// The department's own system: `GET {url}/{key}` answers one record (404 when none),
    /// `GET {url}?limit=&offset=&<field>=<value>` a JSON array.
    Http { url: String },
}

impl Source {
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Table { .. } => "table",
            Source::Dataset => "dataset",
            Source::Http { .. } => "http",
        }
    }
}

/// The tables a resource may be attached to, with the prefix their reference takes.
pub const TABLE_SOURCES: &[&str] = &["register_records"];

/// Open-data themes (groups): (name, Chinese title, English title).
pub const THEMES: &[(&str, &str, &str)] = &[
    ("population", "人口与社会", "Population and society"),
    ("economy", "经济建设", "Economy"),
    ("credit", "信用服务", "Credit"),
    ("urban", "城市建设与空间", "Urban and spatial"),
    ("environment", "资源环境", "Environment"),
    ("transport", "交通出行", "Transport"),
    ("public_services", "公共服务", "Public services"),
    ("certificates", "证照服务", "Certificates"),
];

/// A resource as a data steward registers or edits it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceInput {
    /// 资源代码: letters, digits, `-` and `_`, 2-64 characters; the open-data name is its lower case.
    pub code: String,
    pub name: String,
    /// The owning department (数源部门).
    pub department_code: String,
    #[serde(default)]
    pub description: String,
    pub fields: Vec<FieldSpec>,
    /// The field a lookup is by (e.g. `id_number`); its values are unique.
    pub key_field: String,
    pub data_grade: DataGrade,
    pub sharing_type: SharingType,
    /// Required for `not_shared`: the law or rule that forbids sharing.
    #[serde(default)]
    pub legal_basis: Option<String>,
    pub open_type: OpenType,
    pub update_cycle: UpdateCycle,
    pub source: Source,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Open-data themes (groups), from [`THEMES`].
    #[serde(default)]
    pub themes: Vec<String>,
}

fn is_code(s: &str) -> bool {
    (2..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && s.as_bytes()[0].is_ascii_alphanumeric()
}

fn is_field_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.as_bytes()[0].is_ascii_lowercase()
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn text(field: &str, value: &str, max: usize) -> Result<(), ExchangeError> {
    let n = value.trim().chars().count();
    if n == 0 || n > max {
        return Err(invalid(field, format!("应为1-{max}个字符 / 1-{max} characters")));
    }
    Ok(())
}

impl ResourceInput {
    /// Checks every rule a description must keep; names the first field at fault.
    pub fn check(&self) -> Result<(), ExchangeError> {
        if !is_code(&self.code) {
            return Err(invalid("code", "资源代码为2-64位字母、数字、- 或 _ / 2-64 letters, digits, - or _"));
        }
        text("name", &self.name, 100)?;
        if self.description.chars().count() > 4000 {
            return Err(invalid("description", "不超过4000字 / at most 4000 characters"));
        }
        if self.fields.is_empty() || self.fields.len() > 200 {
            return Err(invalid("fields", "信息项应为1-200个 / 1-200 fields"));
        }
        for (i, f) in self.fields.iter().enumerate() {
            if !is_field_name(&f.name) {
                return Err(invalid(
                    format!("fields[{i}].name"),
                    "以小写字母开头，只含小写字母、数字和 _ / a lower-case letter, then letters, digits or _",
                ));
            }
            if self.fields[..i].iter().any(|g| g.name == f.name) {
                return Err(invalid(format!("fields[{i}].name"), "信息项重复 / repeated field"));
            }
            text(&format!("fields[{i}].label"), &f.label, 100)?;
            if f.masking != Masking::None && !f.sensitivity.is_personal() {
                return Err(invalid(
                    format!("fields[{i}].masking"),
                    "脱敏规则只用于个人信息 / masking applies to personal fields only",
                ));
            }
        }
        let Some(key) = self.fields.iter().find(|f| f.name == self.key_field) else {
            return Err(invalid("key_field", "应为已声明的信息项 / must be a declared field"));
        };
        if !key.required {
            return Err(invalid("key_field", "查询键须为必填信息项 / the key field must be required"));
        }
        if self.sharing_type == SharingType::NotShared
            && self.legal_basis.as_deref().is_none_or(|b| b.trim().is_empty())
        {
            return Err(invalid("legal_basis", "不予共享须注明法律依据 / not shared needs its legal basis"));
        }
        if self.open_type == OpenType::Open {
            if self.data_grade != DataGrade::General {
                return Err(invalid(
                    "open_type",
                    "核心数据、重要数据不得开放 / core and important data cannot be open",
                ));
            }
            if self.source != Source::Dataset {
                return Err(invalid("source", "开放数据须挂接上传的数据集 / open data is published from a dataset"));
            }
            if !self.fields.iter().any(|f| f.sensitivity == Sensitivity::Public) {
                return Err(invalid("fields", "开放数据至少有一个公开信息项 / open data needs a public field"));
            }
        }
        match &self.source {
            Source::Table { table } => {
                let known = table.split_once(':').is_some_and(|(t, register)| {
                    TABLE_SOURCES.contains(&t) && !register.is_empty() && is_field_name(register)
                });
                if !known {
                    return Err(invalid(
                        "source.table",
                        "只能挂接白名单中的表，如 register_records:housing_fund / only whitelisted tables",
                    ));
                }
            }
            Source::Http { url } => {
                if !(url.starts_with("http://") || url.starts_with("https://")) || url.len() > 500 {
                    return Err(invalid("source.url", "应为 http(s) 地址 / an http(s) URL"));
                }
            }
            Source::Dataset => {}
        }
        if self.tags.len() > 20 {
            return Err(invalid("tags", "标签不超过20个 / at most 20 tags"));
        }
        for (i, tag) in self.tags.iter().enumerate() {
            text(&format!("tags[{i}]"), tag, 30)?;
            if tag.contains([',', ':', '"']) {
                return Err(invalid(format!("tags[{i}]"), "标签不能含 , : \" / no , : or \" in a tag"));
            }
        }
        for (i, theme) in self.themes.iter().enumerate() {
            if !THEMES.iter().any(|(name, ..)| name == theme) {
                return Err(invalid(format!("themes[{i}]"), "未知主题 / unknown theme"));
            }
        }
        Ok(())
    }

    pub fn field(&self, name: &str) -> Option<&FieldSpec> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The CKAN name of the dataset: the code in lower case.
    pub fn open_name(&self) -> String {
        self.code.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ResourceInput {
        serde_json::from_value(serde_json::json!({
            "code": "GA-RK-001", "name": "人口基本信息", "department_code": "440400-GAJ",
            "fields": [
                {"name": "id_number", "label": "身份证号", "type": "string", "sensitivity": "sensitive_personal", "masking": "id_number", "required": true},
                {"name": "district", "label": "区", "type": "string", "sensitivity": "public"}
            ],
            "key_field": "id_number", "data_grade": "general", "sharing_type": "conditional",
            "open_type": "not_open", "update_cycle": "daily", "source": {"kind": "dataset"}
        }))
        .unwrap()
    }

    fn field_of(r: &ResourceInput) -> String {
        match r.check() {
            Err(ExchangeError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn checks_name_the_field() {
        assert!(sample().check().is_ok());
        let mut r = sample();
        r.sharing_type = SharingType::NotShared;
        assert_eq!(field_of(&r), "legal_basis");
        r.legal_basis = Some("《居民身份证法》第十九条".into());
        assert!(r.check().is_ok());
        let mut r = sample();
        r.fields[1].masking = Masking::Phone;
        assert_eq!(field_of(&r), "fields[1].masking");
        let mut r = sample();
        r.key_field = "nope".into();
        assert_eq!(field_of(&r), "key_field");
        let mut r = sample();
        r.open_type = OpenType::Open;
        r.data_grade = DataGrade::Important;
        assert_eq!(field_of(&r), "open_type");
        let mut r = sample();
        r.source = Source::Table { table: "accounts".into() };
        assert_eq!(field_of(&r), "source.table");
        r.source = Source::Table { table: "register_records:housing_fund".into() };
        assert!(r.check().is_ok());
    }
}
