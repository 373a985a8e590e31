//! Sensor alarms (物联感知): a registered device reports a reading over the JSON API; a reading at
//! or above its kind's threshold opens a work order at the device's place, and further readings
//! of a continuing alarm are added to that order's timeline instead of opening new ones.

use serde::{Deserialize, Serialize};

use super::model::{Channel, RequestType};
use super::{Context, Intake, NewWorkOrder, Result, WorkOrderError, invalid, record, store};
use crate::grid::LatLon;
use crate::identity::Principal;
use crate::store::Store;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct Reading {
    pub device_id: String,
    /// What is measured, e.g. `water_level`, `manhole_tilt`, `smoke`, `noise`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: f64,
    /// Where the device is, when it moves; else its registered place.
    #[serde(default)]
    pub location: Option<LatLon>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReadingOutcome {
    /// `below_threshold`, `opened` (a new work order) or `continuing` (added to the open one).
    pub outcome: String,
    pub workorder: Option<String>,
    pub threshold: f64,
}

/// (kind, name, address, lat, lon, account)
async fn device(store: &Store, id: &str) -> Result<Option<(String, String, String, i64, i64, i64)>> {
    Ok(sqlx::query_as(
        "SELECT kind, name, address, lat_e6, lon_e6, account_id FROM sensor_devices WHERE device_id = $1",
    )
    .bind(id)
    .fetch_optional(store.pool())
    .await?)
}

/// (unit, threshold in thousandths, category, title)
async fn threshold(store: &Store, kind: &str) -> Result<Option<(String, i64, String, String)>> {
    Ok(sqlx::query_as("SELECT unit, above_milli, category_code, title FROM sensor_thresholds WHERE kind = $1")
        .bind(kind)
        .fetch_optional(store.pool())
        .await?)
}

pub async fn report(store: &Store, at: &Context<'_>, actor: &Principal, reading: Reading) -> Result<ReadingOutcome> {
    if !reading.value.is_finite() {
        return Err(invalid("value", "读数无效 / not a number"));
    }
    let (kind, name, address, lat, lon, account) = device(store, &reading.device_id)
        .await?
        .ok_or_else(|| invalid("device_id", "未登记的设备 / unknown device"))?;
    if account != actor.account_id {
        return Err(WorkOrderError::Forbidden);
    }
    if kind != reading.kind {
        return Err(invalid("type", format!("该设备报告 {kind} / this device reports {kind}")));
    }
    let (unit, above_milli, category, title) =
        threshold(store, &kind).await?.ok_or_else(|| invalid("type", "该类型未设阈值 / no threshold for this type"))?;
    let limit = above_milli as f64 / 1000.0;
    let key = format!("{}:{kind}", reading.device_id);
    let open = store::open_alarm(&mut *store.pool().acquire().await?, &key).await?;
    if reading.value < limit {
        return Ok(ReadingOutcome {
            outcome: "below_threshold".into(),
            workorder: open.map(|r| r.number),
            threshold: limit,
        });
    }
    let note = format!("{name}：{} {unit}（阈值 {limit} {unit}）", reading.value);
    if let Some(row) = open {
        add_reading(store, at, &row, &note).await?;
        return Ok(ReadingOutcome { outcome: "continuing".into(), workorder: Some(row.number), threshold: limit });
    }
    let location = reading.location.unwrap_or(LatLon::from_e6(lat, lon));
    let new = NewWorkOrder {
        request_type: RequestType::Help,
        title: Some(title),
        text: format!("物联感知告警 / sensor alarm. {note}"),
        category: Some(category),
        address: Some(address),
        location: Some(location),
        caller: None,
        photos: Vec::new(),
        answer: None,
        attributes: serde_json::Map::from_iter([
            ("device_id".to_owned(), reading.device_id.clone().into()),
            ("reading".to_owned(), reading.value.into()),
        ]),
    };
    let intake = Intake { alarm_key: Some(&key), ..Intake::channel(Channel::Sensor) };
    match super::intake(store, at, Some(actor), intake, new).await {
        Ok(order) => Ok(ReadingOutcome { outcome: "opened".into(), workorder: Some(order.number), threshold: limit }),
        // Another reading of the same alarm opened it a moment ago.
        Err(WorkOrderError::Db(e)) if crate::store::unique_violation(&e).is_some() => {
            let row =
                store::open_alarm(&mut *store.pool().acquire().await?, &key).await?.ok_or(WorkOrderError::Conflict)?;
            add_reading(store, at, &row, &note).await?;
            Ok(ReadingOutcome { outcome: "continuing".into(), workorder: Some(row.number), threshold: limit })
        }
        Err(other) => Err(other),
    }
}

async fn add_reading(store: &Store, at: &Context<'_>, row: &store::Row, note: &str) -> Result<()> {
    let mut tx = store.begin_write().await?;
    let event = store::EventRow {
        workorder_id: row.id,
        action: "reading",
        from_state: Some(&row.state),
        to_state: &row.state,
        actor_id: None,
        department_id: None,
        note,
        details: "{}",
    };
    store::insert_event(&mut tx, event, at.now.timestamp_millis()).await?;
    record(&mut tx, &row.number, "workorder.reading", None, &serde_json::json!({"number": row.number, "note": note}))?;
    tx.commit().await?;
    Ok(())
}
