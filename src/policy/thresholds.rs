//! Carbon-intensity thresholds that conditions refer to as `low` and `high`.

use serde::{Deserialize, Serialize};

/// The policy's carbon-intensity thresholds, in gCO2/kWh.
///
/// A loaded policy always has `low <= high`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Below this intensity the grid counts as clean (`low` in conditions).
    pub low: f64,
    /// Above this intensity the grid counts as dirty (`high` in conditions).
    pub high: f64,
}

impl Thresholds {
    /// The value of a threshold named in a condition.
    pub(crate) fn value(&self, threshold: Threshold) -> f64 {
        match threshold {
            Threshold::Low => self.low,
            Threshold::High => self.high,
        }
    }
}

/// One of the two named thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Threshold {
    /// `low`
    Low,
    /// `high`
    High,
}

impl Threshold {
    /// The name used for the threshold in conditions.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::High => "high",
        }
    }

    /// The threshold a condition name stands for, if any.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        match name {
            "low" => Some(Self::Low),
            "high" => Some(Self::High),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_names_resolve_to_their_values() {
        let thresholds = Thresholds {
            low: 200.0,
            high: 400.0,
        };
        for threshold in [Threshold::Low, Threshold::High] {
            assert_eq!(Threshold::from_name(threshold.name()), Some(threshold));
        }
        assert_eq!(thresholds.value(Threshold::Low), 200.0);
        assert_eq!(thresholds.value(Threshold::High), 400.0);
        assert_eq!(Threshold::from_name("medium"), None);
    }
}
