//! Work-order types: request types, channels, requester kinds, states, actions, satisfaction (the
//! evaluation levels), and the human number.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

text_enum!(
    /// What the requester wants (诉求类型).
    RequestType {
        Consult = "consult" / "咨询",
        Help = "help" / "求助",
        Complaint = "complaint" / "投诉",
        Report = "report" / "举报",
        Suggestion = "suggestion" / "建议",
        Praise = "praise" / "表扬",
    }
);

text_enum!(
    /// Where the order came in.
    Channel {
        Hotline = "hotline" / "12345热线",
        Web = "web" / "网站",
        App = "app" / "移动端",
        Grid = "grid" / "网格巡查",
        Sensor = "sensor" / "物联感知",
        Open311 = "open311" / "Open311接口",
    }
);

text_enum!(
    RequesterKind {
        Resident = "resident" / "个人",
        Enterprise = "enterprise" / "企业",
        Anonymous = "anonymous" / "匿名",
    }
);

text_enum!(
    /// Where a work order stands.
    #[schema(as = WorkOrderState)]
    State {
        /// Waiting for a dispatcher: the classifier was not sure, or a department returned it.
        Pending = "pending" / "待派单",
        /// Sent to its department, waiting to be signed for (签收).
        Dispatched = "dispatched" / "已派单",
        /// Being handled.
        Signed = "signed" / "办理中",
        /// The department replied with its result (答复), waiting to be closed.
        Replied = "replied" / "已答复",
        Closed = "closed" / "已办结",
        /// An emergency, redirected to 110/119/120/122 at once.
        Redirected = "redirected" / "已转紧急热线",
        /// Merged into another order on the same matter.
        Merged = "merged" / "已合并",
    }
);

impl State {
    pub fn is_open(self) -> bool {
        !matches!(self, State::Closed | State::Redirected | State::Merged)
    }

    /// The Open311 status: `open` or `closed`.
    pub fn open311_status(self) -> &'static str {
        if self.is_open() { "open" } else { "closed" }
    }
}

/// A callback's (回访) satisfaction is a rating on the five national levels: the same type as
/// every other rating, and recorded as one (see `crate::evaluation`).
pub use crate::evaluation::model::Level as Satisfaction;

text_enum!(
    /// A step taken on a work order after intake.
    #[schema(as = WorkOrderAction)]
    Action {
        Dispatch = "dispatch" / "派单",
        Sign = "sign" / "签收",
        Return = "return" / "退单",
        CoHandle = "co_handle" / "增加协办",
        Progress = "progress" / "办理进展",
        Difficult = "difficult" / "疑难标记",
        Reply = "reply" / "答复",
        Close = "close" / "办结",
        Rate = "rate" / "评价",
        Reopen = "reopen" / "重办",
        RequestExtension = "request_extension" / "申请延期",
        ApproveExtension = "approve_extension" / "批准延期",
        RefuseExtension = "refuse_extension" / "驳回延期",
        Supervise = "supervise" / "督办",
        Escalate = "escalate" / "提级督办",
        Merge = "merge" / "合并重复",
    }
);

/// A human number: the region's code, the day (China time) and the day's sequence, e.g.
/// `GD440402-20261123-00017`; `GD` marks a work order (工单) apart from an application number.
pub fn number(region_code: &str, day: NaiveDate, sequence: i64) -> String {
    format!("GD{region_code}-{}-{sequence:05}", day.format("%Y%m%d"))
}

/// A phone number with the middle hidden: `138****8001`.
pub fn mask_phone(phone: &str) -> String {
    let chars: Vec<char> = phone.chars().collect();
    if chars.len() < 7 {
        return "*".repeat(chars.len());
    }
    let keep_tail = 4;
    let keep_head = chars.len().saturating_sub(keep_tail + 4).min(3);
    let head: String = chars[..keep_head].iter().collect();
    let tail: String = chars[chars.len() - keep_tail..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - keep_head - keep_tail))
}

/// A name with all but the first character hidden: `陈**`.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count())),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_round_trip() {
        for t in RequestType::ALL {
            assert_eq!(RequestType::parse(t.as_str()), Some(*t));
        }
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(*a));
        }
        assert_eq!(State::parse("nope"), None);
    }

    #[test]
    fn numbers_sort_by_day_and_sequence() {
        let day = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(number("440402", day, 17), "GD440402-20261123-00017");
    }

    #[test]
    fn masks_keep_only_what_identifies_nobody() {
        assert_eq!(mask_phone("13800138001"), "138****8001");
        assert_eq!(mask_phone("0756-2123456"), "075*****3456");
        assert_eq!(mask_phone("12345"), "*****");
        assert_eq!(mask_name("陈晓红"), "陈**");
        assert_eq!(mask_name(""), "");
    }

    #[test]
    fn only_live_orders_are_open() {
        assert!(State::Pending.is_open() && State::Replied.is_open());
        assert!(!State::Closed.is_open() && !State::Redirected.is_open() && !State::Merged.is_open());
        assert_eq!(State::Signed.open311_status(), "open");
    }
}
