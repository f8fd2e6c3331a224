//! The facts about a job that a policy decides on.

use super::condition::Facts;
use super::error::PolicyError;

/// The urgency levels a job can have, as written in conditions and accepted by
/// [`PolicyInput::new`].
pub const URGENCY_LEVELS: [&str; 3] = ["critical", "normal", "flexible"];

/// A job's urgency, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Urgency {
    Critical,
    Normal,
    Flexible,
}

impl Urgency {
    /// Every level, in the order of [`URGENCY_LEVELS`].
    pub(crate) const ALL: [Self; 3] = [Self::Critical, Self::Normal, Self::Flexible];

    /// The level's name, one of [`URGENCY_LEVELS`].
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Critical => URGENCY_LEVELS[0],
            Self::Normal => URGENCY_LEVELS[1],
            Self::Flexible => URGENCY_LEVELS[2],
        }
    }

    /// The level with this exact (lowercase) name.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|level| level.as_str() == name)
    }
}

/// What [`Policy::decide`](super::Policy::decide) needs to know about a job.
///
/// Built with [`PolicyInput::new`], which validates the values once so that
/// evaluating the rules afterwards neither fails nor allocates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PolicyInput<'a> {
    carbon_intensity: f64,
    urgency: Urgency,
    job_type: &'a str,
}

impl<'a> PolicyInput<'a> {
    /// Validates and bundles a job's facts.
    ///
    /// `carbon_intensity` is the grid's current intensity in gCO2/kWh and must
    /// be finite; `urgency` must be one of [`URGENCY_LEVELS`] (lowercase);
    /// `job_type` is free text such as `training` or `batch_inference`.
    ///
    /// # Errors
    /// [`PolicyError::InvalidInput`] when the intensity is NaN or infinite, or
    /// the urgency is not a known level.
    pub fn new(
        carbon_intensity: f64,
        urgency: &str,
        job_type: &'a str,
    ) -> Result<Self, PolicyError> {
        if !carbon_intensity.is_finite() {
            return Err(PolicyError::InvalidInput {
                message: format!(
                    "carbon intensity must be a finite number, got {carbon_intensity}"
                ),
            });
        }
        let urgency = Urgency::from_name(urgency).ok_or_else(|| PolicyError::InvalidInput {
            message: format!(
                "unknown urgency `{urgency}`; expected {}",
                URGENCY_LEVELS.join(", ")
            ),
        })?;
        Ok(Self {
            carbon_intensity,
            urgency,
            job_type,
        })
    }

    /// The grid's carbon intensity in gCO2/kWh.
    pub fn carbon_intensity(&self) -> f64 {
        self.carbon_intensity
    }

    /// The job's urgency, one of [`URGENCY_LEVELS`].
    pub fn urgency(&self) -> &'static str {
        self.urgency.as_str()
    }

    /// The job's type.
    pub fn job_type(&self) -> &'a str {
        self.job_type
    }

    /// The job's urgency as a level.
    pub(crate) fn urgency_level(&self) -> Urgency {
        self.urgency
    }
}

impl Facts for PolicyInput<'_> {
    fn carbon_intensity(&self) -> f64 {
        self.carbon_intensity
    }

    fn urgency(&self) -> Urgency {
        self.urgency
    }

    fn job_type_is(&self, value: &str) -> bool {
        self.job_type == value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_urgency_level_is_accepted() {
        for name in URGENCY_LEVELS {
            let input = PolicyInput::new(250.0, name, "training").unwrap();
            assert_eq!(input.urgency(), name);
            assert_eq!(input.carbon_intensity(), 250.0);
            assert_eq!(input.job_type(), "training");
        }
    }

    #[test]
    fn unknown_urgency_is_rejected() {
        let error = PolicyInput::new(250.0, "Critical", "training").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid policy input: unknown urgency `Critical`; expected critical, normal, flexible"
        );
    }

    #[test]
    fn non_finite_carbon_intensity_is_rejected() {
        for value in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let error = PolicyInput::new(value, "normal", "training").unwrap_err();
            assert!(error
                .to_string()
                .starts_with("invalid policy input: carbon intensity must be a finite number"));
        }
    }
}
