//! Identity types. Identifiers are parsed once at the edge (parse, don't validate): a value of
//! [`ResidentIdNumber`], [`CreditCode`] or [`PhoneNumber`] is valid by construction.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Why an identifier was rejected; `code` is the stable machine-readable error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidIdentifier {
    pub code: &'static str,
    pub message: String,
}

impl InvalidIdentifier {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        InvalidIdentifier { code, message: message.into() }
    }
}

/// An 18-character resident identity number (公民身份号码, GB 11643-1999): a 6-digit address code,
/// an 8-digit birth date, a 3-digit sequence and an ISO 7064 MOD 11-2 check character (0-9 or X).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct ResidentIdNumber(String);

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

impl ResidentIdNumber {
    /// The check character for the first 17 digits.
    pub fn check_char(first17: &[u8]) -> char {
        let sum: u32 = first17.iter().zip(ID_WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
        ID_CHECK[(sum % 11) as usize]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn birth_date(&self) -> NaiveDate {
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").expect("validated on parse")
    }

    /// The address code of registration: the first six digits.
    pub fn address_code(&self) -> &str {
        &self.0[..6]
    }

    /// "440***********001X": enough to recognise, not enough to use.
    pub fn masked(&self) -> String {
        format!("{}***********{}", &self.0[..3], &self.0[14..])
    }
}

impl FromStr for ResidentIdNumber {
    type Err = InvalidIdentifier;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim().to_ascii_uppercase();
        let bytes = s.as_bytes();
        if bytes.len() != 18 {
            return Err(InvalidIdentifier::new("invalid_id_number", "身份证号码应为18位 / must be 18 characters"));
        }
        let (body, check) = bytes.split_at(17);
        if !body.iter().all(u8::is_ascii_digit) || !(check[0].is_ascii_digit() || check[0] == b'X') {
            return Err(InvalidIdentifier::new(
                "invalid_id_number",
                "身份证号码前17位应为数字，末位为数字或X / 17 digits and a digit or X",
            ));
        }
        if !(11..=82).contains(&s[..2].parse::<u32>().unwrap_or(0)) {
            return Err(InvalidIdentifier::new("invalid_id_number", "地址码无效 / unknown address code"));
        }
        let birth = NaiveDate::parse_from_str(&s[6..14], "%Y%m%d")
            .ok()
            .filter(|d| d.year() >= 1900 && *d <= Utc::now().date_naive());
        if birth.is_none() {
            return Err(InvalidIdentifier::new("invalid_id_number", "出生日期无效 / invalid birth date"));
        }
        if Self::check_char(body) != char::from(check[0]) {
            return Err(InvalidIdentifier::new("invalid_id_number", "校验码错误 / check digit does not match"));
        }
        Ok(ResidentIdNumber(s))
    }
}

/// An 18-character unified social credit code (统一社会信用代码, GB 32100-2015): registering
/// authority, organisation type, 6-digit administrative division code, 9-character organisation
/// code and a MOD 31 check character, over an alphabet without I, O, S, V and Z.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct CreditCode(String);

const CREDIT_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [usize; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

impl CreditCode {
    fn value(c: u8) -> Option<usize> {
        CREDIT_ALPHABET.iter().position(|&a| a == c)
    }

    /// The check character for the first 17 characters, which must be in the alphabet.
    pub fn check_char(first17: &[u8]) -> Option<char> {
        let mut sum = 0;
        for (c, w) in first17.iter().zip(CREDIT_WEIGHTS) {
            sum += Self::value(*c)? * w;
        }
        Some(char::from(CREDIT_ALPHABET[(31 - sum % 31) % 31]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CreditCode {
    type Err = InvalidIdentifier;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let s = input.trim().to_ascii_uppercase();
        let bytes = s.as_bytes();
        if bytes.len() != 18 {
            return Err(InvalidIdentifier::new(
                "invalid_credit_code",
                "统一社会信用代码应为18位 / must be 18 characters",
            ));
        }
        if bytes.iter().any(|c| Self::value(*c).is_none()) {
            return Err(InvalidIdentifier::new(
                "invalid_credit_code",
                "含有不允许的字符（不使用I、O、S、V、Z） / characters outside the code alphabet",
            ));
        }
        if !bytes[2..8].iter().all(u8::is_ascii_digit) {
            return Err(InvalidIdentifier::new(
                "invalid_credit_code",
                "第3-8位应为行政区划码 / positions 3-8 must be a division code",
            ));
        }
        if Self::check_char(&bytes[..17]) != Some(char::from(bytes[17])) {
            return Err(InvalidIdentifier::new("invalid_credit_code", "校验码错误 / check character does not match"));
        }
        Ok(CreditCode(s))
    }
}

/// A mainland China phone number: an 11-digit mobile number (1[3-9]…, an optional +86 is dropped)
/// or a landline with its area code (0756-2123456).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// "138****5678" for mobiles; a landline keeps its area code and last four digits.
    pub fn masked(&self) -> String {
        let s = &self.0;
        match s.split_once('-') {
            Some((area, number)) => format!("{area}-{}{}", "*".repeat(number.len() - 4), &number[number.len() - 4..]),
            None => format!("{}****{}", &s[..3], &s[7..]),
        }
    }
}

impl FromStr for PhoneNumber {
    type Err = InvalidIdentifier;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let compact: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        let s = compact.strip_prefix("+86").unwrap_or(&compact);
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        let mobile = s.len() == 11 && digits(s) && s.starts_with('1') && (b'3'..=b'9').contains(&s.as_bytes()[1]);
        if mobile {
            return Ok(PhoneNumber(s.to_owned()));
        }
        if let Some((area, number)) = s.split_once('-') {
            let area_ok = digits(area) && area.starts_with('0') && (3..=4).contains(&area.len());
            if area_ok && digits(number) && (7..=8).contains(&number.len()) {
                return Ok(PhoneNumber(s.to_owned()));
            }
        }
        Err(InvalidIdentifier::new(
            "invalid_phone",
            "手机号应为11位，固定电话应带区号（如0756-2123456） / an 11-digit mobile or an area code and number",
        ))
    }
}

macro_rules! string_conversions {
    ($($t:ty),*) => {$(
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.0
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    )*};
}
string_conversions!(ResidentIdNumber, CreditCode, PhoneNumber);

/// Staff roles. A role is held within a department and reaches the department's region and every
/// region below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    PlatformAdmin,
    WindowClerk,
    Reviewer,
    HotlineOperator,
    Dispatcher,
    DepartmentHandler,
    Supervisor,
    GridWorker,
    DataSteward,
    Auditor,
    /// 事项管理员: keeps their department's service items and guides.
    CatalogEditor,
    /// An IoT platform's client (物联感知接入) that reports its devices' readings.
    SensorClient,
}

impl Role {
    pub const ALL: [Role; 12] = [
        Role::PlatformAdmin,
        Role::WindowClerk,
        Role::Reviewer,
        Role::HotlineOperator,
        Role::Dispatcher,
        Role::DepartmentHandler,
        Role::Supervisor,
        Role::GridWorker,
        Role::DataSteward,
        Role::Auditor,
        Role::CatalogEditor,
        Role::SensorClient,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "platform_admin",
            Role::WindowClerk => "window_clerk",
            Role::Reviewer => "reviewer",
            Role::HotlineOperator => "hotline_operator",
            Role::Dispatcher => "dispatcher",
            Role::DepartmentHandler => "department_handler",
            Role::Supervisor => "supervisor",
            Role::GridWorker => "grid_worker",
            Role::DataSteward => "data_steward",
            Role::Auditor => "auditor",
            Role::CatalogEditor => "catalog_editor",
            Role::SensorClient => "sensor_client",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "平台管理员",
            Role::WindowClerk => "窗口人员",
            Role::Reviewer => "审批人员",
            Role::HotlineOperator => "话务员",
            Role::Dispatcher => "派单员",
            Role::DepartmentHandler => "承办人",
            Role::Supervisor => "督办人员",
            Role::GridWorker => "网格员",
            Role::DataSteward => "数据管理员",
            Role::Auditor => "审计人员",
            Role::CatalogEditor => "事项管理员",
            Role::SensorClient => "物联感知接入",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Role::PlatformAdmin => "Platform admin",
            Role::WindowClerk => "Window clerk",
            Role::Reviewer => "Reviewer",
            Role::HotlineOperator => "Hotline operator",
            Role::Dispatcher => "Dispatcher",
            Role::DepartmentHandler => "Department handler",
            Role::Supervisor => "Supervisor",
            Role::GridWorker => "Grid worker",
            Role::DataSteward => "Data steward",
            Role::Auditor => "Auditor",
            Role::CatalogEditor => "Catalogue editor",
            Role::SensorClient => "Sensor client",
        }
    }

    /// Roles that may see identity numbers and phones in full; the others see them masked.
    pub fn sees_personal_data(self) -> bool {
        matches!(self, Role::PlatformAdmin | Role::WindowClerk | Role::Reviewer)
    }
}

impl FromStr for Role {
    type Err = InvalidIdentifier;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| InvalidIdentifier::new("invalid_role", format!("未知角色 / unknown role {s:?}")))
    }
}

/// Administrative levels of the region tree (市-区-镇街-村居).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RegionLevel {
    City = 1,
    District = 2,
    Street = 3,
    Community = 4,
}

impl RegionLevel {
    pub fn from_i64(level: i64) -> Option<Self> {
        match level {
            1 => Some(RegionLevel::City),
            2 => Some(RegionLevel::District),
            3 => Some(RegionLevel::Street),
            4 => Some(RegionLevel::Community),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_resident_ids() {
        // The GB 11643 worked example.
        assert!("11010519491231002X".parse::<ResidentIdNumber>().is_ok());
        assert!("11010519491231002x".parse::<ResidentIdNumber>().is_ok(), "lower-case x is accepted");
        let err = "110105194912310021".parse::<ResidentIdNumber>().unwrap_err();
        assert_eq!(err.code, "invalid_id_number");
        assert!(err.message.contains("校验码"));
        assert!("11010519491331002X".parse::<ResidentIdNumber>().is_err(), "month 13");
        assert!("1101051949123100".parse::<ResidentIdNumber>().is_err(), "too short");
        assert!("99010519491231002X".parse::<ResidentIdNumber>().is_err(), "no province 99");
    }

    #[test]
    fn resident_id_masks_and_parts() {
        let id: ResidentIdNumber = "11010519491231002X".parse().unwrap();
        assert_eq!(id.masked(), "110***********002X");
        assert_eq!(id.birth_date(), NaiveDate::from_ymd_opt(1949, 12, 31).unwrap());
        assert_eq!(id.address_code(), "110105");
    }

    #[test]
    fn known_credit_codes() {
        // Published codes of real organisations.
        assert!("91350100M000100Y43".parse::<CreditCode>().is_ok());
        assert!("11511301008778183N".parse::<CreditCode>().is_ok(), "from the Guang'an item list");
        let err = "91350100M000100Y44".parse::<CreditCode>().unwrap_err();
        assert_eq!(err.code, "invalid_credit_code");
        assert!("91350100M000100YI3".parse::<CreditCode>().is_err(), "I is not in the alphabet");
        assert!("9135010".parse::<CreditCode>().is_err());
    }

    #[test]
    fn phones() {
        assert_eq!("13800138000".parse::<PhoneNumber>().unwrap().as_str(), "13800138000");
        assert_eq!("+86 138 0013 8000".parse::<PhoneNumber>().unwrap().as_str(), "13800138000");
        assert_eq!("0756-2123456".parse::<PhoneNumber>().unwrap().masked(), "0756-***3456");
        assert_eq!("13800138000".parse::<PhoneNumber>().unwrap().masked(), "138****8000");
        for bad in ["12345", "12800138000", "1380013800a", "756-2123456", "0756-123", ""] {
            assert_eq!(bad.parse::<PhoneNumber>().unwrap_err().code, "invalid_phone", "{bad}");
        }
    }

    #[test]
    fn roles_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("king".parse::<Role>().is_err());
    }

    fn id_body() -> impl Strategy<Value = String> {
        (11u32..=65, 0u32..10_000, 1920i32..2020, 1u32..=12, 1u32..=28, 0u32..1000).prop_map(
            |(province, area, year, month, day, seq)| {
                format!("{province:02}{area:04}{year:04}{month:02}{day:02}{seq:03}")
            },
        )
    }

    proptest! {
        #[test]
        fn resident_id_with_its_check_char_parses(body in id_body()) {
            let id = format!("{body}{}", ResidentIdNumber::check_char(body.as_bytes()));
            let parsed: ResidentIdNumber = id.parse().unwrap();
            prop_assert_eq!(parsed.as_str(), id.as_str());
        }

        #[test]
        fn resident_id_with_any_other_check_char_fails(body in id_body(), wrong in 0usize..11) {
            let right = ResidentIdNumber::check_char(body.as_bytes());
            let candidate = ID_CHECK[wrong];
            prop_assume!(candidate != right);
            let altered = format!("{body}{candidate}");
            prop_assert!(altered.parse::<ResidentIdNumber>().is_err());
        }

        #[test]
        fn resident_id_single_digit_change_is_caught(body in id_body(), pos in 0usize..17, delta in 1u8..10) {
            let id = format!("{body}{}", ResidentIdNumber::check_char(body.as_bytes()));
            let mut bytes = id.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let altered = String::from_utf8(bytes).unwrap();
            prop_assert!(altered.parse::<ResidentIdNumber>().is_err());
        }

        #[test]
        fn credit_code_with_its_check_char_parses(
            head in proptest::sample::select(b"159ANY".to_vec()),
            kind in proptest::sample::select(b"1239".to_vec()),
            division in 110000u32..660000,
            org in proptest::collection::vec(0usize..31, 9),
        ) {
            let mut body = vec![head, kind];
            body.extend(format!("{division:06}").bytes());
            body.extend(org.iter().map(|&i| CREDIT_ALPHABET[i]));
            let check = CreditCode::check_char(&body).unwrap();
            let code = format!("{}{check}", String::from_utf8(body.clone()).unwrap());
            prop_assert!(code.parse::<CreditCode>().is_ok());
            let wrong = CREDIT_ALPHABET.iter().map(|&c| char::from(c)).find(|&c| c != check).unwrap();
            let altered = format!("{}{wrong}", String::from_utf8(body).unwrap());
            prop_assert!(altered.parse::<CreditCode>().is_err());
        }

        #[test]
        fn any_mobile_number_parses_and_masks(rest in 0u64..1_000_000_000, second in 3u8..=9) {
            let number = format!("1{second}{rest:09}");
            let phone: PhoneNumber = number.parse().unwrap();
            prop_assert_eq!(phone.masked().len(), 11);
            prop_assert!(phone.masked().contains("****"));
        }
    }
}
