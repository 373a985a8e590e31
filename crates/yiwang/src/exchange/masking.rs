//! Masking (脱敏) of personal fields by the usual rules: ID numbers keep their first six and last
//! four characters, phones their first three and last four digits, names their surname, addresses
//! the part up to the district, town or street.

use serde_json::Value;

use super::model::Masking;

/// Two-character surnames (复姓) a masked name keeps whole.
const COMPOUND_SURNAMES: &[&str] = &[
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "夏侯", "令狐", "宇文", "司徒",
    "端木", "澹台", "轩辕", "独孤", "南宫", "西门", "呼延", "百里", "东郭", "申屠", "太史", "闻人", "万俟", "钟离",
    "司空", "第五",
];

fn stars(n: usize) -> String {
    "*".repeat(n)
}

/// Keeps `head` characters at the start and `tail` at the end, starring the rest; all stars when
/// the value is too short to keep that much and still hide something.
fn keep_ends(value: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= head + tail {
        return stars(chars.len().max(1));
    }
    let mut out: String = chars[..head].iter().collect();
    out.push_str(&stars(chars.len() - head - tail));
    out.extend(&chars[chars.len() - tail..]);
    out
}

pub fn id_number(value: &str) -> String {
    keep_ends(value.trim(), 6, 4)
}

pub fn phone(value: &str) -> String {
    let value = value.trim();
    match value.split_once('-') {
        Some((area, number)) if !area.is_empty() => format!("{area}-{}", keep_ends(number, 0, 4)),
        _ => keep_ends(value, 3, 4),
    }
}

pub fn name(value: &str) -> String {
    let value = value.trim();
    let count = value.chars().count();
    let surname = COMPOUND_SURNAMES.iter().find(|s| value.starts_with(**s) && count > 2).map_or(1, |_| 2);
    if count <= 1 {
        return stars(1);
    }
    let kept: String = value.chars().take(surname).collect();
    format!("{kept}{}", stars(count - surname))
}

/// Keeps the address up to its street, town or township (街道/镇/乡), else up to its district or
/// county (区/县); the rest is starred. An address with neither keeps its first six characters.
pub fn address(value: &str) -> String {
    let value = value.trim();
    let cut = ["街道", "镇", "乡"]
        .iter()
        .filter_map(|m| value.find(m).map(|i| i + m.len()))
        .min()
        .or_else(|| ["区", "县"].iter().filter_map(|m| value.find(m).map(|i| i + m.len())).min());
    match cut {
        Some(end) if end < value.len() => format!("{}****", &value[..end]),
        Some(_) => value.to_owned(),
        None => keep_ends(value, 6.min(value.chars().count().saturating_sub(1)), 0),
    }
}

/// The value masked by `rule`; `null` stays `null`, and a value that is not text is hidden whole.
pub fn mask(rule: Masking, value: &Value) -> Value {
    let text = match value {
        Value::Null => return Value::Null,
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Value::String(match rule {
        Masking::IdNumber => id_number(&text),
        Masking::Phone => phone(&text),
        Masking::Name => name(&text),
        Masking::Address => address(&text),
        Masking::None => "******".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_rules() {
        assert_eq!(id_number("440402198503120024"), "440402********0024");
        assert_eq!(id_number("11010119900307123X"), "110101********123X");
        assert_eq!(phone("13812345678"), "138****5678");
        assert_eq!(phone("0756-2123456"), "0756-***3456");
        assert_eq!(name("张三"), "张*");
        assert_eq!(name("陈晓红"), "陈**");
        assert_eq!(name("欧阳娜娜"), "欧阳**");
        assert_eq!(name("欧阳"), "欧*");
        assert_eq!(name("王"), "*");
        assert_eq!(address("广东省珠海市香洲区拱北街道迎宾南路1001号"), "广东省珠海市香洲区拱北街道****");
        assert_eq!(address("珠海市斗门区白蕉镇新环路8号"), "珠海市斗门区白蕉镇****");
        assert_eq!(address("珠海市金湾区机场东路288号"), "珠海市金湾区****");
        assert_eq!(address("某地某号"), "某地某*");
        assert_eq!(mask(Masking::None, &Value::from("secret")), Value::from("******"));
        assert_eq!(mask(Masking::Phone, &Value::Null), Value::Null);
    }

    #[test]
    fn never_shows_a_short_value_whole() {
        assert_eq!(id_number("1234"), "****");
        assert_eq!(phone("110"), "***");
    }
}
