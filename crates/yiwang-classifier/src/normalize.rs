//! Text clean-up before segmentation: spreadsheet line-break artefacts dropped, full-width ASCII
//! made half-width, anonymised place codes ("A市", "A1区", "K4县") made one placeholder, letters
//! lower-cased and runs of digits folded into one, so the model learns words, not codes.

/// The placeholder an anonymised place code becomes: "A1区" → "某区".
const PLACEHOLDER: char = '某';

/// What follows a place code: 市 (city), 区 (district), 县 (county) and smaller units.
const PLACE_SUFFIXES: &[char] = &['市', '区', '县', '镇', '乡', '州', '省'];

/// Excel's escaped carriage return, left in exported texts.
const SPREADSHEET_CR: [&str; 2] = ["_x000D_", "_x000d_"];

/// How [`normalize`] treats a text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Normalization {
    /// Replace anonymised place codes by [`PLACEHOLDER`].
    pub places: bool,
    /// Fold each run of digits into a single "0".
    pub digits: bool,
}

/// The text as features see it; see the module doc.
pub(crate) fn normalize(text: &str, how: Normalization) -> String {
    let mut text = std::borrow::Cow::Borrowed(text);
    for artefact in SPREADSHEET_CR {
        if text.contains(artefact) {
            text = text.replace(artefact, " ").into();
        }
    }
    let chars: Vec<char> = text
        .chars()
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            _ => c,
        })
        .collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if how.places
            && c.is_ascii_uppercase()
            && (i == 0 || !chars[i - 1].is_ascii_alphanumeric())
            && let Some(len) = place_code_len(&chars[i..])
        {
            out.push(PLACEHOLDER);
            i += len;
            continue;
        }
        if how.digits && c.is_ascii_digit() {
            out.push('0');
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            continue;
        }
        if c.is_ascii() || ('\u{4E00}'..='\u{9FFF}').contains(&c) {
            out.push(c.to_ascii_lowercase());
        } else {
            out.extend(c.to_lowercase());
        }
        i += 1;
    }
    out
}

/// The length of the code (letter and up to two digits) if `chars` starts with a place code.
fn place_code_len(chars: &[char]) -> Option<usize> {
    let digits = chars[1..].iter().take(3).take_while(|c| c.is_ascii_digit()).count();
    (digits <= 2 && chars.get(1 + digits).is_some_and(|c| PLACE_SUFFIXES.contains(c))).then_some(1 + digits)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: Normalization = Normalization { places: true, digits: true };
    const NONE: Normalization = Normalization { places: false, digits: false };

    #[test]
    fn place_codes_become_one_placeholder() {
        assert_eq!(normalize("投诉A市A1区苑物业", ALL), "投诉某市某区苑物业");
        assert_eq!(normalize("K4县农村信用社和M13县", ALL), "某县农村信用社和某县");
        assert_eq!(normalize("A市A1区", NONE), "a市a1区");
    }

    #[test]
    fn only_codes_are_replaced() {
        // An acronym or a longer code before 区 is not a place code.
        assert_eq!(normalize("ETC区", ALL), "etc区");
        assert_eq!(normalize("A123区", ALL), "a0区");
        assert_eq!(normalize("B超检查", ALL), "b超检查");
    }

    #[test]
    fn width_case_digits_and_artefacts() {
        assert_eq!(normalize("ＥＴＣ卡，２０１９年", ALL), "etc卡,0年");
        assert_eq!(normalize("第一段_x000D_第二段", ALL), "第一段 第二段");
        assert_eq!(normalize("2019年", NONE), "2019年");
    }
}
