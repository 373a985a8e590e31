//! Emergencies (police, fire, ambulance, traffic accidents) do not belong in a work-order queue:
//! they are recognised from the text at intake and redirected to 110/119/120/122 at once.
//!
//! Recognition is by phrases of something happening now, not by topic words: "消防通道被占用"
//! (a blocked fire lane) is a work order for the fire brigade's inspectors, "着火了" is a call to
//! 119. A phrase preceded by a negation or a past marker within a few characters does not count.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Emergency {
    /// The number to call: 110, 119, 120 or 122.
    pub number: &'static str,
    pub service_zh: &'static str,
    pub service_en: &'static str,
}

const POLICE: Emergency = Emergency { number: "110", service_zh: "公安报警", service_en: "police" };
const FIRE: Emergency = Emergency { number: "119", service_zh: "消防救援", service_en: "fire and rescue" };
const AMBULANCE: Emergency = Emergency { number: "120", service_zh: "医疗急救", service_en: "ambulance" };
const TRAFFIC: Emergency =
    Emergency { number: "122", service_zh: "交通事故报警", service_en: "traffic accident" };

/// Phrases, most specific first: a traffic accident with injuries still goes to 122, which calls
/// the ambulance itself.
const PHRASES: &[(&str, Emergency)] = &[
    ("车祸", TRAFFIC),
    ("交通事故", TRAFFIC),
    ("撞车", TRAFFIC),
    ("追尾", TRAFFIC),
    ("撞人", TRAFFIC),
    ("被车撞", TRAFFIC),
    ("肇事逃逸", TRAFFIC),
    ("着火", FIRE),
    ("起火", FIRE),
    ("失火", FIRE),
    ("火灾", FIRE),
    ("烧起来", FIRE),
    ("浓烟", FIRE),
    ("煤气泄漏", FIRE),
    ("燃气泄漏", FIRE),
    ("被困电梯", FIRE),
    ("困在电梯", FIRE),
    ("有人落水", FIRE),
    ("晕倒", AMBULANCE),
    ("昏迷", AMBULANCE),
    ("休克", AMBULANCE),
    ("心脏骤停", AMBULANCE),
    ("没有呼吸", AMBULANCE),
    ("大出血", AMBULANCE),
    ("呼吸困难", AMBULANCE),
    ("中毒", AMBULANCE),
    ("抢劫", POLICE),
    ("持刀", POLICE),
    ("砍人", POLICE),
    ("杀人", POLICE),
    ("绑架", POLICE),
    ("打架斗殴", POLICE),
    ("正在打人", POLICE),
    ("家暴", POLICE),
    ("入室盗窃", POLICE),
    ("有人跳楼", POLICE),
    ("要跳楼", POLICE),
];

/// Words that, just before a phrase, say it is not happening now.
const NOT_NOW: &[&str] =
    &["没有", "没", "不是", "防止", "预防", "以前", "去年", "曾经", "上次", "演练", "隐患", "宣传"];

/// Words that, just after a phrase, make it a topic: "火灾隐患" (a fire hazard), "中毒事件调查".
const TOPIC_AFTER: &[&str] = &["隐患", "风险", "演练", "宣传", "预防", "通道", "报警器", "事件", "处理结果", "赔偿"];

/// How far (in characters) a marker is looked for before or after a phrase.
const NEAR: usize = 6;

pub fn detect(text: &str) -> Option<Emergency> {
    PHRASES.iter().find(|(phrase, _)| happening(text, phrase)).map(|(_, emergency)| *emergency)
}

fn happening(text: &str, phrase: &str) -> bool {
    text.match_indices(phrase).any(|(at, _)| {
        let before: String = text[..at].chars().rev().take(NEAR).collect::<Vec<_>>().into_iter().rev().collect();
        let after: String = text[at + phrase.len()..].chars().take(NEAR).collect();
        !NOT_NOW.iter().any(|marker| before.contains(marker)) && !TOPIC_AFTER.iter().any(|m| after.starts_with(m))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(text: &str) -> Option<&'static str> {
        detect(text).map(|e| e.number)
    }

    #[test]
    fn recognises_each_service() {
        assert_eq!(number("香洲区凤凰路一栋居民楼着火了，冒着浓烟"), Some("119"));
        assert_eq!(number("我妈突然晕倒了，叫不醒"), Some("120"));
        assert_eq!(number("楼下有人持刀抢劫"), Some("110"));
        assert_eq!(number("情侣路上两辆车追尾，有人受伤"), Some("122"));
        assert_eq!(number("我被困电梯里了"), Some("119"));
    }

    #[test]
    fn topics_and_past_events_are_not_emergencies() {
        assert_eq!(number("小区消防通道被车辆长期占用，存在火灾隐患"), None);
        assert_eq!(number("去年小区发生火灾后至今没有修复外墙"), None);
        assert_eq!(number("希望加强防止煤气泄漏的宣传"), None);
        assert_eq!(number("咨询社保卡补办需要什么材料"), None);
        assert_eq!(number("路灯不亮，晚上很黑"), None);
    }
}
