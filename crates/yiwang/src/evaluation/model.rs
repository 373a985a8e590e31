//! Evaluation types: the five rating levels with the two national code tables, the national
//! channel codes, the tags, the kinds of service event and the steps of a rectification.

use serde::{Deserialize, Serialize};

text_enum!(
    /// The five national rating levels (好差评), best first. One internal type; each outside
    /// interface has its own code table ([`Level::gbt_code`], [`Level::interface_code`]).
    Level {
        VerySatisfied = "very_satisfied" / "非常满意",
        Satisfied = "satisfied" / "满意",
        BasicallySatisfied = "basically_satisfied" / "基本满意",
        Dissatisfied = "dissatisfied" / "不满意",
        VeryDissatisfied = "very_dissatisfied" / "非常不满意",
    }
);

impl Level {
    /// A positive rating (好评): 非常满意, 满意 or 基本满意.
    pub fn is_positive(self) -> bool {
        !self.is_bad()
    }

    /// A bad rating (差评), which opens a rectification.
    pub fn is_bad(self) -> bool {
        matches!(self, Level::Dissatisfied | Level::VeryDissatisfied)
    }

    /// The code in GB/T 39046 (政务服务评价工作指南): 1 = 非常满意 … 5 = 非常不满意.
    pub fn gbt_code(self) -> u8 {
        match self {
            Level::VerySatisfied => 1,
            Level::Satisfied => 2,
            Level::BasicallySatisfied => 3,
            Level::Dissatisfied => 4,
            Level::VeryDissatisfied => 5,
        }
    }

    pub fn from_gbt_code(code: u8) -> Option<Level> {
        Level::ALL.iter().copied().find(|l| l.gbt_code() == code)
    }

    /// The code of the national rating interface (全国一体化政务服务平台好差评接口):
    /// 1 = 非常不满意 … 5 = 非常满意, the reverse of GB/T 39046.
    pub fn interface_code(self) -> u8 {
        match self {
            Level::VeryDissatisfied => 1,
            Level::Dissatisfied => 2,
            Level::BasicallySatisfied => 3,
            Level::Satisfied => 4,
            Level::VerySatisfied => 5,
        }
    }

    pub fn from_interface_code(code: u8) -> Option<Level> {
        Level::ALL.iter().copied().find(|l| l.interface_code() == code)
    }
}

text_enum!(
    /// Where a rating came from, with the national channel codes ([`RatingChannel::code`]).
    RatingChannel {
        Pc = "pc" / "PC端",
        Mobile = "mobile" / "移动端",
        QrCode = "qr_code" / "二维码",
        HallTablet = "hall_tablet" / "政务大厅平板",
        OtherTerminal = "other_terminal" / "其他终端",
        Phone = "phone" / "电话",
        Sms = "sms" / "短信",
    }
);

impl RatingChannel {
    /// The national channel code: 1 PC, 2 mobile, 3 QR code, 4 hall tablet, 5 other terminal,
    /// 6 phone, 7 SMS.
    pub fn code(self) -> u8 {
        match self {
            RatingChannel::Pc => 1,
            RatingChannel::Mobile => 2,
            RatingChannel::QrCode => 3,
            RatingChannel::HallTablet => 4,
            RatingChannel::OtherTerminal => 5,
            RatingChannel::Phone => 6,
            RatingChannel::Sms => 7,
        }
    }

    pub fn from_code(code: u8) -> Option<RatingChannel> {
        RatingChannel::ALL.iter().copied().find(|c| c.code() == code)
    }
}

text_enum!(
    /// What a rating is about.
    Tag {
        Attitude = "attitude" / "态度",
        Efficiency = "efficiency" / "效率",
        Process = "process" / "流程",
        Materials = "materials" / "材料",
        System = "system" / "系统",
    }
);

text_enum!(
    /// What was rated.
    EventKind {
        Application = "application" / "办件",
        WorkOrder = "workorder" / "工单",
        Window = "window" / "窗口服务",
    }
);

text_enum!(
    /// A supervisor's ruling that takes a rating out of the figures.
    Ruling {
        Malicious = "malicious" / "恶意差评",
        Unfounded = "unfounded" / "不实差评",
    }
);

text_enum!(
    /// The steps of a rectification (整改), in order; each needs a note.
    RectificationStep {
        Verify = "verify" / "核实",
        Contact = "contact" / "联系回访",
        Rectify = "rectify" / "整改",
        Reply = "reply" / "答复",
    }
);

text_enum!(
    /// Where a rectification stands: waiting for its next step, or replied (done).
    RectificationState {
        Opened = "opened" / "待核实",
        Verified = "verified" / "待联系",
        Contacted = "contacted" / "待整改",
        Rectified = "rectified" / "待答复",
        Replied = "replied" / "已答复",
    }
);

impl RectificationStep {
    /// The state a step moves from and the state it leaves.
    pub fn moves(self) -> (RectificationState, RectificationState) {
        use RectificationState as S;
        match self {
            RectificationStep::Verify => (S::Opened, S::Verified),
            RectificationStep::Contact => (S::Verified, S::Contacted),
            RectificationStep::Rectify => (S::Contacted, S::Rectified),
            RectificationStep::Reply => (S::Rectified, S::Replied),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_two_national_code_tables_run_opposite_ways() {
        assert_eq!(Level::VerySatisfied.gbt_code(), 1);
        assert_eq!(Level::VerySatisfied.interface_code(), 5);
        assert_eq!(Level::VeryDissatisfied.gbt_code(), 5);
        assert_eq!(Level::VeryDissatisfied.interface_code(), 1);
        assert_eq!(Level::from_gbt_code(1), Some(Level::VerySatisfied));
        assert_eq!(Level::from_interface_code(1), Some(Level::VeryDissatisfied));
        assert_eq!(Level::from_gbt_code(4), Some(Level::Dissatisfied));
        assert_eq!(Level::from_interface_code(4), Some(Level::Satisfied));
        for level in Level::ALL {
            assert_eq!(Level::from_gbt_code(level.gbt_code()), Some(*level));
            assert_eq!(Level::from_interface_code(level.interface_code()), Some(*level));
            assert_eq!(level.gbt_code() + level.interface_code(), 6);
        }
        assert_eq!(Level::from_gbt_code(0), None);
        assert_eq!(Level::from_interface_code(6), None);
    }

    #[test]
    fn only_the_two_lowest_levels_are_bad() {
        let bad: Vec<Level> = Level::ALL.iter().copied().filter(|l| l.is_bad()).collect();
        assert_eq!(bad, [Level::Dissatisfied, Level::VeryDissatisfied]);
        assert!(Level::BasicallySatisfied.is_positive());
    }

    #[test]
    fn channels_carry_the_national_codes() {
        let codes: Vec<u8> = RatingChannel::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes, [1, 2, 3, 4, 5, 6, 7]);
        assert_eq!(RatingChannel::from_code(3), Some(RatingChannel::QrCode));
        assert_eq!(RatingChannel::from_code(6), Some(RatingChannel::Phone));
        assert_eq!(RatingChannel::from_code(8), None);
    }

    #[test]
    fn rectification_steps_follow_each_other() {
        let mut state = RectificationState::Opened;
        for step in RectificationStep::ALL {
            let (from, to) = step.moves();
            assert_eq!(from, state, "{step}");
            state = to;
        }
        assert_eq!(state, RectificationState::Replied);
    }

    #[test]
    fn texts_round_trip() {
        for l in Level::ALL {
            assert_eq!(Level::parse(l.as_str()), Some(*l));
        }
        for t in Tag::ALL {
            assert_eq!(Tag::parse(t.as_str()), Some(*t));
        }
    }
}
