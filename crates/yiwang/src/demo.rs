//! The demo city: a Zhuhai-like city with three districts, their streets and communities, about
//! twenty departments, one account for every role, and some residents and enterprises.
//!
//! City and district codes are the real national division codes; street and community codes
//! follow the 9- and 12-digit structure but are illustrative. ID numbers and credit codes are
//! made up with valid check characters. Every demo account's password is [`DEMO_PASSWORD`].

use crate::AppState;
use crate::catalog::model::ItemDocument;
use crate::identity::{
    self, CreditCode, IdentityError, NewEnterprise, NewResident, NewStaff, PhoneNumber, RegionLevel, ResidentIdNumber,
    Role, password,
};

pub const DEMO_PASSWORD: &str = "Yiwang@2026";

const REGIONS: &[(&str, &str, RegionLevel, Option<&str>)] = &[
    ("440400", "珠海市", RegionLevel::City, None),
    ("440402", "香洲区", RegionLevel::District, Some("440400")),
    ("440403", "斗门区", RegionLevel::District, Some("440400")),
    ("440404", "金湾区", RegionLevel::District, Some("440400")),
    ("440402001", "拱北街道", RegionLevel::Street, Some("440402")),
    ("440402002", "吉大街道", RegionLevel::Street, Some("440402")),
    ("440402100", "南屏镇", RegionLevel::Street, Some("440402")),
    ("440403100", "井岸镇", RegionLevel::Street, Some("440403")),
    ("440403101", "白蕉镇", RegionLevel::Street, Some("440403")),
    ("440404100", "三灶镇", RegionLevel::Street, Some("440404")),
    ("440404101", "红旗镇", RegionLevel::Street, Some("440404")),
    ("440402001001", "拱北社区", RegionLevel::Community, Some("440402001")),
    ("440402001002", "夏湾社区", RegionLevel::Community, Some("440402001")),
    ("440402002001", "海滨社区", RegionLevel::Community, Some("440402002")),
    ("440402100001", "南屏社区", RegionLevel::Community, Some("440402100")),
    ("440403100001", "井岸社区", RegionLevel::Community, Some("440403100")),
    ("440403101001", "白蕉社区", RegionLevel::Community, Some("440403101")),
    ("440404100001", "三灶社区", RegionLevel::Community, Some("440404100")),
    ("440404101001", "红旗社区", RegionLevel::Community, Some("440404101")),
];

/// (code, name, region)
pub const DEMO_DEPARTMENTS: &[(&str, &str, &str)] = &[
    ("440400-ZSJ", "珠海市政务服务数据管理局", "440400"),
    ("440400-12345", "珠海市12345政务服务便民热线中心", "440400"),
    ("440400-GAJ", "珠海市公安局", "440400"),
    ("440400-RSJ", "珠海市人力资源和社会保障局", "440400"),
    ("440400-ZJJ", "珠海市住房和城乡建设局", "440400"),
    ("440400-WJJ", "珠海市卫生健康局", "440400"),
    ("440400-JYJ", "珠海市教育局", "440400"),
    ("440400-SCJ", "珠海市市场监督管理局", "440400"),
    ("440400-SHJ", "珠海市生态环境局", "440400"),
    ("440400-JTJ", "珠海市交通运输局", "440400"),
    ("440400-MZJ", "珠海市民政局", "440400"),
    ("440400-ZRJ", "珠海市自然资源局", "440400"),
    ("440400-CGJ", "珠海市城市管理和综合执法局", "440400"),
    ("440400-SWJ", "珠海市水务局", "440400"),
    ("440400-SWUJ", "珠海市商务局", "440400"),
    ("440400-FGJ", "珠海市发展和改革局", "440400"),
    ("440400-YJJ", "珠海市应急管理局", "440400"),
    ("440400-WLJ", "珠海市文化广电旅游体育局", "440400"),
    ("440400-NYJ", "珠海市农业农村局", "440400"),
    ("440402-ZSJ", "香洲区政务服务数据管理局", "440402"),
    ("440402-CGJ", "香洲区城市管理和综合执法局", "440402"),
    ("440403-ZSJ", "斗门区政务服务数据管理局", "440403"),
    ("440403-CGJ", "斗门区城市管理和综合执法局", "440403"),
    ("440404-ZSJ", "金湾区政务服务数据管理局", "440404"),
    ("440402001-JB", "拱北街道办事处", "440402001"),
    ("440403100-ZF", "井岸镇人民政府", "440403100"),
];

/// (login, name, role, department code)
pub const DEMO_STAFF: &[(&str, &str, Role, &str)] = &[
    ("admin", "管理员 王敏", Role::PlatformAdmin, "440400-ZSJ"),
    ("clerk", "窗口 李娜", Role::WindowClerk, "440402-ZSJ"),
    ("reviewer", "审批 张伟", Role::Reviewer, "440400-SCJ"),
    ("operator", "话务 陈静", Role::HotlineOperator, "440400-12345"),
    ("dispatcher", "派单 刘洋", Role::Dispatcher, "440400-12345"),
    ("handler", "承办 黄磊", Role::DepartmentHandler, "440400-CGJ"),
    ("supervisor", "督办 周芳", Role::Supervisor, "440400-ZSJ"),
    ("grid", "网格员 吴强", Role::GridWorker, "440402001-JB"),
    ("steward", "数据 郑丽", Role::DataSteward, "440400-ZSJ"),
    ("auditor", "审计 孙杰", Role::Auditor, "440400-ZSJ"),
    ("doumen_admin", "斗门管理员 何军", Role::PlatformAdmin, "440403-ZSJ"),
    ("doumen_clerk", "斗门窗口 林霞", Role::WindowClerk, "440403-ZSJ"),
    ("xiangzhou_handler", "香洲承办 高峰", Role::DepartmentHandler, "440402-CGJ"),
    ("police_editor", "公安事项 赵磊", Role::CatalogEditor, "440400-GAJ"),
    ("city_clerk", "市中心窗口 孙丽", Role::WindowClerk, "440400-ZSJ"),
    ("police_reviewer", "公安审批 钱进", Role::Reviewer, "440400-GAJ"),
    ("housing_reviewer", "住建审批 冯涛", Role::Reviewer, "440400-ZJJ"),
    ("hrss_editor", "人社事项 钱敏", Role::CatalogEditor, "440400-RSJ"),
    ("housing_handler", "住建承办 马超", Role::DepartmentHandler, "440400-ZJJ"),
    ("gongbei_handler", "拱北街道承办 邓颖", Role::DepartmentHandler, "440402001-JB"),
    ("iot", "物联感知平台", Role::SensorClient, "440400-CGJ"),
    ("police_steward", "公安数据 罗晨", Role::DataSteward, "440400-GAJ"),
    ("market_steward", "市监数据 许琳", Role::DataSteward, "440400-SCJ"),
    ("hrss_steward", "人社数据 蔡宁", Role::DataSteward, "440400-RSJ"),
    ("housing_steward", "住建数据 严华", Role::DataSteward, "440400-ZJJ"),
    ("police_handler", "公安承办 吴敏", Role::DepartmentHandler, "440400-GAJ"),
];

/// (ID number, name, phone, community)
pub const DEMO_RESIDENTS: &[(&str, &str, &str, &str)] = &[
    ("440402198503120024", "陈晓红", "13800138001", "440402001001"),
    ("440402199207180043", "李明", "13800138002", "440402002001"),
    ("440403197811050031", "黄建国", "13800138003", "440403100001"),
    ("440404200102200018", "梁嘉欣", "13800138004", "440404100001"),
    ("440402196509090058", "王秀英", "0756-2123456", "440402100001"),
    ("440403200001010067", "赵子豪", "13800138006", "440403101001"),
];

/// (credit code, name, legal representative, phone, region)
pub const DEMO_ENTERPRISES: &[(&str, &str, &str, &str, &str)] = &[
    ("91440400MA4UKKKK14", "珠海市海湾科技有限公司", "陈海", "13900139001", "440402001"),
    ("91440402MA55AB12C9", "珠海拱北餐饮管理有限公司", "林芳", "13900139002", "440402001"),
    ("91440403MA4W2Q8L3B", "珠海斗门白蕉海鲈养殖专业合作社", "黄伟", "13900139003", "440403101"),
    ("91440404MA53KQ7R6U", "珠海金湾航空配件有限公司", "吴刚", "13900139004", "440404100"),
];

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Identity(#[from] IdentityError),
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error(transparent)]
    Certificates(#[from] crate::certificates::CertificateError),
    #[error(transparent)]
    Applications(#[from] crate::applications::ApplicationError),
    #[error(transparent)]
    Exchange(#[from] crate::exchange::ExchangeError),
    #[error(transparent)]
    Evaluation(#[from] crate::evaluation::EvaluationError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

async fn already_loaded(conn: &mut crate::store::Conn) -> Result<bool, IdentityError> {
    Ok(identity::department_id(conn, DEMO_DEPARTMENTS[0].0).await?.is_some())
}

/// Loads the demo city (with its service catalogue) into an empty database; returns false (and
/// changes nothing) when the city is already there.
pub async fn load(state: &AppState) -> Result<bool, DemoError> {
    let store = &state.store;
    if already_loaded(&mut *store.pool().acquire().await?).await? {
        return Ok(false);
    }
    // One hash for all demo accounts, made before the write transaction: they share a password,
    // and Argon2 is slow on purpose.
    let hash = password::hash(DEMO_PASSWORD).await?;
    let mut tx = store.begin_write().await?;
    // Checked again under the write lock: another process may have loaded it meanwhile.
    if already_loaded(&mut tx).await? {
        return Ok(false);
    }
    for (code, name, level, parent) in REGIONS {
        identity::add_region(&mut tx, code, name, *level, *parent).await?;
    }
    for (code, name, region) in DEMO_DEPARTMENTS {
        identity::add_department(&mut tx, code, name, region).await?;
    }
    for (login, name, role, department) in DEMO_STAFF {
        let department_id = identity::department_id(&mut tx, department).await?.ok_or(IdentityError::NotFound)?;
        let staff =
            NewStaff { login: (*login).into(), display_name: (*name).into(), roles: vec![(department_id, *role)] };
        identity::create_staff(&mut tx, None, staff, &hash).await?;
    }
    for (id_number, name, phone, region) in DEMO_RESIDENTS {
        let resident = NewResident {
            id_number: parse::<ResidentIdNumber>(id_number, "id_number")?,
            name: (*name).into(),
            phone: Some(parse::<PhoneNumber>(phone, "phone")?),
            region_code: (*region).into(),
        };
        identity::register_resident(&mut tx, resident, &hash).await?;
    }
    for (credit_code, name, legal, phone, region) in DEMO_ENTERPRISES {
        let enterprise = NewEnterprise {
            credit_code: parse::<CreditCode>(credit_code, "credit_code")?,
            name: (*name).into(),
            legal_representative: (*legal).into(),
            phone: Some(parse(phone, "phone")?),
            region_code: (*region).into(),
        };
        identity::register_enterprise(&mut tx, enterprise, &hash).await?;
    }
    crate::catalog::load_demo(&mut tx).await?;
    crate::certificates::load_demo(&mut tx, &state.issuer).await?;
    crate::applications::instant::load_demo(&mut tx).await?;
    crate::workorders::setup::load_demo(&mut tx).await?;
    crate::exchange::demo::load_demo(&mut tx, state.exchange.pseudonyms()).await?;
    crate::evaluation::load_demo(&mut tx, chrono::Utc::now()).await?;
    tx.commit().await?;
    Ok(true)
}

fn parse<T: std::str::FromStr<Err = identity::InvalidIdentifier>>(
    value: &str,
    field: &'static str,
) -> Result<T, IdentityError> {
    value.parse().map_err(|source| IdentityError::Invalid { field, source })
}

/// The demo catalogue with each item's department name, as the search index takes it.
pub fn catalogue_with_departments() -> Result<Vec<(ItemDocument, String)>, crate::catalog::CatalogError> {
    let items: Vec<ItemDocument> = serde_json::from_str(crate::catalog::DEMO_CATALOGUE)
        .map_err(|e| crate::catalog::CatalogError::Malformed(e.to_string()))?;
    Ok(items
        .into_iter()
        .map(|item| {
            let department = DEMO_DEPARTMENTS
                .iter()
                .find(|(code, _, _)| *code == item.department_code)
                .map_or_else(String::new, |(_, name, _)| (*name).to_owned());
            (item, department)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_identifiers_are_valid() {
        for (id, ..) in DEMO_RESIDENTS {
            assert!(id.parse::<ResidentIdNumber>().is_ok(), "{id}");
        }
        for (code, ..) in DEMO_ENTERPRISES {
            assert!(code.parse::<CreditCode>().is_ok(), "{code}");
        }
    }

    #[test]
    fn every_role_has_a_demo_account() {
        for role in Role::ALL {
            assert!(DEMO_STAFF.iter().any(|(_, _, r, _)| *r == role), "{role:?}");
        }
    }
}
