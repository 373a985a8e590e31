//! Alerts on unusual use of shared data, raised by a job from the call log for the stewards of
//! the resource's department: a volume spike against the app's own baseline, bulk enumeration
//! (many distinct keys in a short window), and many calls outside working hours.

use chrono::{DateTime, Duration, Timelike, Utc};
use serde::Serialize;
use yiwang_calendar::Calendar;

use super::store::{self, HOUR_MS};
use super::{ExchangeError, Result, managed_departments};
use crate::identity::Principal;
use crate::store::{Store, from_ms, outbox};

/// What counts as unusual use; `[exchange_alerts]` in the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Thresholds {
    /// Distinct keys one app looks up in one resource within `enumeration_window_minutes` that
    /// count as enumerating it.
    pub enumeration_keys: i64,
    pub enumeration_window_minutes: i64,
    /// Calls in this hour (so far) and the one before that count as a spike, when also
    /// `spike_factor` times the app's average for two hours over the week before.
    pub spike_min_calls: i64,
    pub spike_factor: f64,
    /// Calls outside working hours (08:00-20:00 on working days, China time) in the last 24 hours
    /// (whole hours, this one included) that raise an alert.
    pub off_hours_calls: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            enumeration_keys: 50,
            enumeration_window_minutes: 10,
            spike_min_calls: 200,
            spike_factor: 5.0,
            off_hours_calls: 50,
        }
    }
}

impl Thresholds {
    /// Refuses thresholds that would raise an alert on every call, or never.
    pub fn check(&self) -> std::result::Result<(), String> {
        let counts = [
            ("enumeration_keys", self.enumeration_keys),
            ("spike_min_calls", self.spike_min_calls),
            ("off_hours_calls", self.off_hours_calls),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, n)| *n < 2) {
            return Err(format!("[exchange_alerts] {name} must be at least 2"));
        }
        if !(1..=1440).contains(&self.enumeration_window_minutes) {
            return Err("[exchange_alerts] enumeration_window_minutes must be 1-1440".into());
        }
        if !(self.spike_factor.is_finite() && self.spike_factor >= 1.0) {
            return Err("[exchange_alerts] spike_factor must be at least 1".into());
        }
        Ok(())
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: i64,
    /// `volume_spike`, `bulk_enumeration` or `off_hours`
    pub kind: String,
    pub app_name: String,
    pub app_department: String,
    pub resource_code: String,
    pub resource_name: String,
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
    pub raised_at: DateTime<Utc>,
}

fn off_hours(calendar: &Calendar, hour_start: DateTime<Utc>) -> bool {
    let china = hour_start + Duration::hours(8);
    !calendar.is_working_day(china.date_naive()) || !(8..20).contains(&china.hour())
}

/// Looks at the call log as of `now` and raises the alerts it shows (each once per window);
/// returns how many are new. Run by the `exchange.detect_alerts` job every minute.
pub async fn detect(store: &Store, calendar: &Calendar, now: DateTime<Utc>, limits: &Thresholds) -> Result<usize> {
    let now_ms = now.timestamp_millis();
    let this_hour = now_ms.div_euclid(HOUR_MS);
    let hour_key = format!("hour:{this_hour}");
    let mut found: Vec<((i64, i64), &'static str, String, serde_json::Value)> = Vec::new();
    let mut conn = store.pool().acquire().await?;
    let since = now_ms - limits.enumeration_window_minutes * 60_000;
    for (app, resource, keys) in store::distinct_keys_since(&mut conn, since, limits.enumeration_keys, now_ms).await? {
        let detail = serde_json::json!({"distinct_keys": keys, "minutes": limits.enumeration_window_minutes});
        found.push(((app, resource), "bulk_enumeration", hour_key.clone(), detail));
    }
    // Counted in whole hours: this hour (so far) and the one before, against the week before them.
    let recent_from = this_hour - 1;
    for (app, resource, recent, before) in
        store::volumes(&mut conn, recent_from, recent_from - 7 * 24, this_hour).await?
    {
        let baseline = before as f64 / (7.0 * 24.0 / 2.0);
        if recent >= limits.spike_min_calls && recent as f64 > limits.spike_factor * baseline {
            let detail = serde_json::json!({
                "calls_last_two_hours": recent, "two_hour_baseline": (baseline * 10.0).round() / 10.0
            });
            found.push(((app, resource), "volume_spike", hour_key.clone(), detail));
        }
    }
    let mut late: std::collections::BTreeMap<(i64, i64), i64> = Default::default();
    for (app, resource, hour, calls) in store::hourly_calls(&mut conn, this_hour - 23, this_hour).await? {
        if off_hours(calendar, from_ms(hour * HOUR_MS)) {
            *late.entry((app, resource)).or_default() += calls;
        }
    }
    let day_key = format!("day:{}", yiwang_calendar::china_date(now));
    for (pair, calls) in late.into_iter().filter(|(_, calls)| *calls >= limits.off_hours_calls) {
        found.push((pair, "off_hours", day_key.clone(), serde_json::json!({"off_hours_calls_24h": calls})));
    }
    drop(conn);
    if found.is_empty() {
        return Ok(0);
    }
    store
        .write(move |tx| {
            Box::pin(async move {
                let mut raised = 0;
                for (pair, kind, window, detail) in found {
                    if store::insert_alert(tx, pair, kind, &window, &detail.to_string(), now_ms).await? {
                        let event =
                            serde_json::json!({"app": pair.0, "resource": pair.1, "kind": kind, "detail": detail});
                        outbox::append(tx, "exchange.alert_raised", &event)?;
                        raised += 1;
                    }
                }
                Ok::<_, ExchangeError>(raised)
            })
        })
        .await
}

/// The alerts on the resources of the departments the actor manages, newest first.
pub async fn alerts(store: &Store, actor: &Principal) -> Result<Vec<Alert>> {
    let managed = managed_departments(store, actor).await?;
    if managed.is_empty() {
        return Err(ExchangeError::Forbidden);
    }
    let mut conn = store.pool().acquire().await?;
    Ok(store::alerts(&mut conn, 500)
        .await?
        .into_iter()
        .filter(|row| managed.contains(&row.5))
        .map(|(id, app_name, app_department, resource_code, resource_name, _, kind, detail, at)| Alert {
            id,
            kind,
            app_name,
            app_department,
            resource_code,
            resource_name,
            detail: serde_json::from_str(&detail).unwrap_or_default(),
            raised_at: from_ms(at),
        })
        .collect())
}
