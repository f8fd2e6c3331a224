//! [`Region`]: the real grid traces shipped inside the carbonq binary.
//!
//! The CSV files under `data/grid/` are embedded with `include_str!`, so
//! `carbonq simulate --region gb` works from any directory. Each trace is parsed
//! on first use and cached for the life of the process (`OnceLock`). Sources,
//! licences and attribution are in `data/grid/README.md` and [`Region::attribution`].

use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::error::GridError;
use super::forecast::PublishedForecasts;
use super::trace::Trace;

const ELECTRICITY_MAPS_ATTRIBUTION: &str = "Contains data from Electricity Maps \
(https://www.electricitymaps.com), 2023 hourly carbon-intensity dataset, made available \
under the Open Database License (ODbL) v1.0.";

const LETS_WAIT_AWHILE_ATTRIBUTION: &str = "Carbon-intensity data from P. Wiesner et al., \
Let's Wait Awhile (Middleware '21), redistributed in dos-group/vessim under the MIT License; \
derived from ENTSO-E Transparency Platform generation data.";

const NESO_ATTRIBUTION: &str = "Contains data from the NESO Carbon Intensity API \
(https://carbonintensity.org.uk), licensed under CC BY 4.0; forecast snapshots collected by \
nmpowell/carbon-intensity-forecast-tracking.";

const GB_2023: &str = include_str!("../../data/grid/gb_2023_electricitymaps_lca.csv");
const DE_2023: &str = include_str!("../../data/grid/de_2023_electricitymaps_lca.csv");
const CAISO_2023: &str = include_str!("../../data/grid/us-caiso_2023_electricitymaps_lca.csv");
const NO_2023: &str = include_str!("../../data/grid/no_2023_electricitymaps_lca.csv");
const DE_2020: &str = include_str!("../../data/grid/de_2020_letswaitawhile_15min.csv");
const GB_NESO_ACTUAL: &str =
    include_str!("../../data/grid/gb_neso_national_actual_2023-03-14_2023-03-18.csv");
const GB_NESO_FORECAST: &str =
    include_str!("../../data/grid/gb_neso_national_forecast_2023-03-14_2023-03-19.csv");

/// A grid region whose carbon-intensity trace ships with carbonq.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "&'static str")]
pub enum Region {
    /// Great Britain 2023, hourly, Electricity Maps life-cycle (`gb`).
    Gb,
    /// Germany 2023, hourly, Electricity Maps life-cycle (`de`).
    De,
    /// California ISO 2023, hourly, Electricity Maps life-cycle (`caiso`, `california`, `us-caiso`).
    Caiso,
    /// Norway 2023, hourly, Electricity Maps life-cycle (`no`, `norway`).
    No,
    /// Germany 2020, 15 min, the "Let's Wait Awhile" trace (`de2020`).
    De2020,
    /// Great Britain national, NESO, 2023-03-14 … 03-18, 30 min, with published forecasts (`gb-neso`).
    GbNeso,
}

/// Parsed traces, one slot per region (index = [`Region::index`]).
static TRACES: [OnceLock<Result<Arc<Trace>, String>>; 6] = [const { OnceLock::new() }; 6];

/// Parsed published forecasts (only `gb-neso` has them).
static GB_NESO_FORECASTS: OnceLock<Result<Arc<PublishedForecasts>, String>> = OnceLock::new();

impl Region {
    /// Every shipped region, in display order.
    pub const ALL: [Region; 6] = [
        Region::Gb,
        Region::De,
        Region::Caiso,
        Region::No,
        Region::De2020,
        Region::GbNeso,
    ];

    fn index(self) -> usize {
        match self {
            Region::Gb => 0,
            Region::De => 1,
            Region::Caiso => 2,
            Region::No => 3,
            Region::De2020 => 4,
            Region::GbNeso => 5,
        }
    }

    /// Canonical name, as accepted by `--region`.
    pub fn name(self) -> &'static str {
        match self {
            Region::Gb => "gb",
            Region::De => "de",
            Region::Caiso => "caiso",
            Region::No => "no",
            Region::De2020 => "de2020",
            Region::GbNeso => "gb-neso",
        }
    }

    /// Other accepted names.
    pub fn aliases(self) -> &'static [&'static str] {
        match self {
            Region::Caiso => &["california", "us-caiso"],
            Region::No => &["norway"],
            Region::Gb | Region::De | Region::De2020 | Region::GbNeso => &[],
        }
    }

    /// One-line human description (zone, period, resolution, signal).
    pub fn description(self) -> &'static str {
        match self {
            Region::Gb => {
                "Great Britain, 2023, hourly, life-cycle average intensity (Electricity Maps); \
                 wind-driven, evening peak"
            }
            Region::De => {
                "Germany, 2023, hourly, life-cycle average intensity (Electricity Maps); \
                 midday solar dip, evening peak"
            }
            Region::Caiso => {
                "California ISO, 2023, hourly, life-cycle average intensity (Electricity Maps); \
                 deep midday solar trough"
            }
            Region::No => {
                "Norway, 2023, hourly, life-cycle average intensity (Electricity Maps); \
                 hydro, flat and low"
            }
            Region::De2020 => {
                "Germany, 2020, 15 min, life-cycle intensity from ENTSO-E generation \
                 (Let's Wait Awhile trace)"
            }
            Region::GbNeso => {
                "Great Britain national, 2023-03-14 13:00 to 2023-03-18 11:30 UTC, 30 min, \
                 operational intensity (NESO Carbon Intensity API) with 12 published 48 h forecasts"
            }
        }
    }

    /// Attribution text that must accompany any use or display of the data.
    pub fn attribution(self) -> &'static str {
        match self {
            Region::Gb | Region::De | Region::Caiso | Region::No => ELECTRICITY_MAPS_ATTRIBUTION,
            Region::De2020 => LETS_WAIT_AWHILE_ATTRIBUTION,
            Region::GbNeso => NESO_ATTRIBUTION,
        }
    }

    /// Licence of the data.
    pub fn licence(self) -> &'static str {
        match self {
            Region::Gb | Region::De | Region::Caiso | Region::No => "ODbL-1.0",
            Region::De2020 => "MIT",
            Region::GbNeso => "CC-BY-4.0",
        }
    }

    /// File name of the actuals under `data/grid/`.
    pub fn file_name(self) -> &'static str {
        match self {
            Region::Gb => "gb_2023_electricitymaps_lca.csv",
            Region::De => "de_2023_electricitymaps_lca.csv",
            Region::Caiso => "us-caiso_2023_electricitymaps_lca.csv",
            Region::No => "no_2023_electricitymaps_lca.csv",
            Region::De2020 => "de_2020_letswaitawhile_15min.csv",
            Region::GbNeso => "gb_neso_national_actual_2023-03-14_2023-03-18.csv",
        }
    }

    /// The embedded CSV text of the actuals.
    pub fn csv(self) -> &'static str {
        match self {
            Region::Gb => GB_2023,
            Region::De => DE_2023,
            Region::Caiso => CAISO_2023,
            Region::No => NO_2023,
            Region::De2020 => DE_2020,
            Region::GbNeso => GB_NESO_ACTUAL,
        }
    }

    /// Whether published forecasts ship with this region.
    pub fn has_published_forecasts(self) -> bool {
        self == Region::GbNeso
    }

    /// The actual trace, parsed on first use and cached for the process lifetime.
    pub fn trace(self) -> Result<&'static Trace, GridError> {
        self.cached_trace().map(|t| &**t)
    }

    /// The actual trace as a shared handle (for [`Forecast`] and [`GridSignal`]).
    ///
    /// [`Forecast`]: super::Forecast
    /// [`GridSignal`]: super::GridSignal
    pub fn shared_trace(self) -> Result<Arc<Trace>, GridError> {
        self.cached_trace().map(Arc::clone)
    }

    fn cached_trace(self) -> Result<&'static Arc<Trace>, GridError> {
        TRACES[self.index()]
            .get_or_init(|| {
                Trace::from_csv_str(self.file_name(), self.csv())
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|message| GridError::Embedded {
                region: self.name(),
                message: message.clone(),
            })
    }

    /// Published forecasts shipped with the region (`Ok(None)` if it has none).
    pub fn published_forecasts(self) -> Result<Option<&'static PublishedForecasts>, GridError> {
        Ok(self.cached_forecasts()?.map(|f| &**f))
    }

    /// [`Region::published_forecasts`] as a shared handle.
    pub fn shared_published_forecasts(self) -> Result<Option<Arc<PublishedForecasts>>, GridError> {
        Ok(self.cached_forecasts()?.map(Arc::clone))
    }

    fn cached_forecasts(self) -> Result<Option<&'static Arc<PublishedForecasts>>, GridError> {
        if !self.has_published_forecasts() {
            return Ok(None);
        }
        GB_NESO_FORECASTS
            .get_or_init(|| {
                PublishedForecasts::from_csv_str(
                    "gb_neso_national_forecast_2023-03-14_2023-03-19.csv",
                    GB_NESO_FORECAST,
                )
                .map(Arc::new)
                .map_err(|e| e.to_string())
            })
            .as_ref()
            .map(Some)
            .map_err(|message| GridError::Embedded {
                region: self.name(),
                message: message.clone(),
            })
    }

    /// Looks a region up by name or alias (case-insensitive, surrounding spaces ignored).
    pub fn from_name(name: &str) -> Result<Region, GridError> {
        let wanted = name.trim().to_ascii_lowercase();
        Region::ALL
            .into_iter()
            .find(|r| r.name() == wanted || r.aliases().contains(&wanted.as_str()))
            .ok_or_else(|| GridError::UnknownRegion {
                name: name.to_owned(),
                valid: Region::valid_names(),
            })
    }

    /// `gb, de, caiso (california, us-caiso), no (norway), de2020, gb-neso`.
    pub fn valid_names() -> String {
        Region::ALL
            .iter()
            .map(|r| match r.aliases() {
                [] => r.name().to_owned(),
                aliases => format!("{} ({})", r.name(), aliases.join(", ")),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Region {
    type Err = GridError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Region::from_name(s)
    }
}

impl TryFrom<String> for Region {
    type Error = GridError;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Region::from_name(&s)
    }
}

impl From<Region> for &'static str {
    fn from(r: Region) -> Self {
        r.name()
    }
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeDelta, Utc};

    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn each_hourly_2023_region_parses_to_8760_hours() {
        for r in [Region::Gb, Region::De, Region::Caiso, Region::No] {
            let tr = r.trace().unwrap();
            assert_eq!(tr.len(), 8760, "{r}");
            assert_eq!(tr.resolution(), TimeDelta::hours(1), "{r}");
            assert_eq!(tr.start(), t("2023-01-01T00:00:00Z"), "{r}");
            assert_eq!(tr.end(), t("2024-01-01T00:00:00Z"), "{r}");
            assert!(tr.filled_slots().is_empty(), "{r}");
        }
        assert_eq!(Region::Gb.trace().unwrap().values()[0], 91.44);
        // Documented shapes: Norway is flat and low, CAISO has a lower midday (UTC 17–21).
        assert!(Region::No.trace().unwrap().mean() < 60.0);
    }

    #[test]
    fn de2020_parses_with_its_two_missing_slots_filled() {
        let tr = Region::De2020.trace().unwrap();
        assert_eq!(tr.resolution(), TimeDelta::minutes(15));
        assert_eq!(tr.len(), 35_136);
        assert_eq!(tr.len() - tr.filled_slots().len(), 35_134);
        assert_eq!(
            tr.filled_slots(),
            &[t("2020-12-19T23:15:00Z"), t("2020-12-19T23:45:00Z")]
        );
        assert_eq!(tr.intensity_at(t("2020-12-19T23:15:00Z")), Some(280.37));
        assert_eq!(tr.intensity_at(t("2020-12-19T23:45:00Z")), Some(283.69));
        assert_eq!(tr.start(), t("2020-01-01T00:00:00Z"));
        assert_eq!(tr.end(), t("2021-01-01T00:00:00Z"));
    }

    #[test]
    fn gb_neso_parses_its_actuals_and_twelve_forecast_issues() {
        let tr = Region::GbNeso.trace().unwrap();
        assert_eq!(tr.len(), 189);
        assert_eq!(tr.resolution(), TimeDelta::minutes(30));
        assert_eq!(tr.start(), t("2023-03-14T13:00:00Z"));
        assert_eq!(tr.end(), t("2023-03-18T11:30:00Z"));
        let f = Region::GbNeso.published_forecasts().unwrap().unwrap();
        assert_eq!(f.len(), 12);
        assert!(f.issues().all(|v| v.trace.len() == 96));
        assert_eq!(f.issues().map(|v| v.trace.len()).sum::<usize>(), 1152);
        let last = f.latest_at(t("2030-01-01T00:00:00Z")).unwrap();
        assert_eq!(last.issued_at, t("2023-03-17T18:01:00Z"));
        assert_eq!(last.horizon_end(), t("2023-03-19T18:00:00Z"));
        assert!(Region::Gb.published_forecasts().unwrap().is_none());
    }

    #[test]
    fn region_names_and_aliases_resolve() {
        assert_eq!("gb".parse::<Region>().unwrap(), Region::Gb);
        assert_eq!(" California ".parse::<Region>().unwrap(), Region::Caiso);
        assert_eq!("us-caiso".parse::<Region>().unwrap(), Region::Caiso);
        assert_eq!("norway".parse::<Region>().unwrap(), Region::No);
        assert_eq!("GB-NESO".parse::<Region>().unwrap(), Region::GbNeso);
        for r in Region::ALL {
            assert_eq!(r.name().parse::<Region>().unwrap(), r);
            assert!(!r.description().is_empty() && !r.attribution().is_empty());
        }
    }

    #[test]
    fn unknown_region_error_lists_the_valid_names() {
        let e = "mars".parse::<Region>().unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown region 'mars'; valid regions: gb, de, caiso (california, us-caiso), \
             no (norway), de2020, gb-neso"
        );
    }

    #[test]
    fn shared_and_static_traces_are_the_same_data() {
        let a = Region::No.shared_trace().unwrap();
        let b = Region::No.trace().unwrap();
        assert!(std::ptr::eq(&*a, b));
    }
}
