//! Grid carbon intensity: real traces, forecasts and the "best time to run" primitive.
//!
//! Principle: **decide on forecasts, account on actuals.** A scheduler sees a
//! [`Forecast`]; emissions are always integrated over the actual [`Trace`].
//!
//! | file | contents |
//! |---|---|
//! | `trace.rs` | [`Trace`]: actual intensity series, O(1) lookups and integrals (prefix sums) |
//! | `region.rs` | [`Region`]: traces embedded in the binary (`gb`, `de`, `caiso`, `no`, `de2020`, `gb-neso`) |
//! | `forecast.rs` | [`Forecast`] (perfect / noisy / published), [`NoisyForecast`], [`PublishedForecasts`], [`ForecastView`] |
//! | `signal.rs` | [`GridSignal`]: fixed value or trace replayed on the wall clock ([`ClockMapping`]) |
//! | `window.rs` | [`best_window`], [`rolling_means`], [`Window`] |
//! | `error.rs` | [`GridError`] |
//!
//! Units: intensities in gCO₂(-eq)/kWh, power in W, integrals in g·h/kWh,
//! emissions in g (or kg). Timestamps are UTC and mark the **start** of an interval.
//! Data sources, licences and attribution: `data/grid/README.md`.

mod error;
mod forecast;
mod region;
mod signal;
mod trace;
mod window;

pub use error::GridError;
pub use forecast::{Forecast, ForecastView, NoisyForecast, PublishedForecasts};
pub use region::Region;
pub use signal::{ClockMapping, GridSignal};
pub use trace::Trace;
pub use window::{best_window, rolling_means, Window};
