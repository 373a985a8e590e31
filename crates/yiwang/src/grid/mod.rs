//! Grids (网格): the smallest units of community management, each a GeoJSON polygon inside a
//! community (村居), with the grid workers (网格员) who patrol it. A point is placed in its grid
//! by point-in-polygon; the grid's community gives the street and the district.
//!
//! The polygons are held in memory ([`GridMap`]) and reloaded when changed, so locating a point
//! costs no query. Errors are [`GridError`].

pub mod store;

use std::sync::{Arc, RwLock};

use geo::{BoundingRect, Contains, MultiPolygon, Point, Rect};
use serde::{Deserialize, Serialize};

use crate::store::Store;

#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error("{field}: {message}")]
    Invalid { field: &'static str, message: String },
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// A WGS84 point.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LatLon {
    pub lat: f64,
    pub lon: f64,
}

impl LatLon {
    /// Checks the ranges; `field` names the input for the error.
    pub fn new(lat: f64, lon: f64) -> Result<Self, GridError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(GridError::Invalid {
                field: "lat", message: "纬度应在-90到90之间 / latitude -90..90".into()
            });
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(GridError::Invalid {
                field: "long",
                message: "经度应在-180到180之间 / longitude -180..180".into(),
            });
        }
        Ok(LatLon { lat, lon })
    }

    pub fn to_e6(self) -> (i64, i64) {
        ((self.lat * 1e6).round() as i64, (self.lon * 1e6).round() as i64)
    }

    pub fn from_e6(lat: i64, lon: i64) -> Self {
        LatLon { lat: lat as f64 / 1e6, lon: lon as f64 / 1e6 }
    }

    /// Great-circle distance in metres (haversine).
    pub fn distance_m(self, other: LatLon) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let (dp, dl) = ((other.lat - self.lat).to_radians(), (other.lon - self.lon).to_radians());
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * 6_371_000.0 * a.sqrt().asin()
    }
}

/// A grid as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Grid {
    pub code: String,
    pub name: String,
    pub community_code: String,
    /// The community's region path, `/440400/440402/440402001/440402001001/`.
    pub region_path: String,
    #[schema(value_type = Object)]
    pub geometry: serde_json::Value,
}

struct Placed {
    grid: Grid,
    shape: MultiPolygon<f64>,
    bounds: Rect<f64>,
}

/// Every grid's polygon, for locating points.
#[derive(Clone, Default)]
pub struct GridMap(Arc<RwLock<Arc<Vec<Placed>>>>);

impl GridMap {
    pub async fn load(store: &Store) -> Result<Self, GridError> {
        let map = GridMap::default();
        map.reload(store).await?;
        Ok(map)
    }

    pub async fn reload(&self, store: &Store) -> Result<(), GridError> {
        let grids = store::all(&mut *store.pool().acquire().await?).await?;
        let placed = grids
            .into_iter()
            .filter_map(|grid| {
                let shape = shape(&grid.geometry).ok()?;
                let bounds = shape.bounding_rect()?;
                Some(Placed { grid, shape, bounds })
            })
            .collect();
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(placed);
        Ok(())
    }

    fn snapshot(&self) -> Arc<Vec<Placed>> {
        self.0.read().map(|g| g.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    /// The grid a point lies in, if any.
    pub fn locate(&self, at: LatLon) -> Option<Grid> {
        let point = Point::new(at.lon, at.lat);
        self.snapshot().iter().find(|p| p.bounds.contains(&point) && p.shape.contains(&point)).map(|p| p.grid.clone())
    }

    pub fn grids(&self) -> Vec<Grid> {
        self.snapshot().iter().map(|p| p.grid.clone()).collect()
    }

    pub fn grid(&self, code: &str) -> Option<Grid> {
        self.snapshot().iter().find(|p| p.grid.code == code).map(|p| p.grid.clone())
    }
}

/// Reads a GeoJSON Polygon or MultiPolygon geometry.
pub fn shape(geometry: &serde_json::Value) -> Result<MultiPolygon<f64>, GridError> {
    let invalid = |message: String| GridError::Invalid { field: "geometry", message };
    let geometry: geojson::Geometry = serde_json::from_value(geometry.clone()).map_err(|e| invalid(e.to_string()))?;
    let geometry: geo::Geometry<f64> = geometry.try_into().map_err(|e: geojson::Error| invalid(e.to_string()))?;
    match geometry {
        geo::Geometry::Polygon(p) => Ok(MultiPolygon::new(vec![p])),
        geo::Geometry::MultiPolygon(m) => Ok(m),
        _ => Err(invalid("应为 Polygon 或 MultiPolygon / must be a Polygon or MultiPolygon".into())),
    }
}

/// A new grid: its polygon is checked before it is stored.
pub async fn save(
    store: &Store,
    code: &str,
    name: &str,
    community_code: &str,
    geometry: &serde_json::Value,
) -> Result<(), GridError> {
    shape(geometry)?;
    let mut tx = store.begin_write().await?;
    store::upsert(&mut tx, code, name, community_code, &geometry.to_string()).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_fall_in_their_polygon() {
        let square = serde_json::json!({"type": "Polygon", "coordinates": [[[113.0, 22.0], [113.1, 22.0], [113.1, 22.1], [113.0, 22.1], [113.0, 22.0]]]});
        let square = shape(&square).unwrap();
        assert!(square.contains(&Point::new(113.05, 22.05)));
        assert!(!square.contains(&Point::new(113.15, 22.05)));
        assert!(shape(&serde_json::json!({"type": "Point", "coordinates": [1.0, 2.0]})).is_err());
    }

    #[test]
    fn distances_are_in_metres() {
        let a = LatLon::new(22.2700, 113.5700).unwrap();
        let b = LatLon::new(22.2704, 113.5700).unwrap();
        assert!((a.distance_m(b) - 44.5).abs() < 1.0);
        assert!(LatLon::new(91.0, 0.0).is_err());
        assert!(LatLon::new(0.0, f64::NAN).is_err());
        assert_eq!(LatLon::from_e6(22_270_000, 113_570_000).to_e6(), (22_270_000, 113_570_000));
    }
}
