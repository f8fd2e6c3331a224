//! MessagePack encoding of event payloads, with field names, and the upcasters from old shapes.

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::legacy::JobCompletedV1;
use super::*;

/// A payload that could not be encoded or decoded.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not a valid payload of the named type and version.
    #[error("cannot decode {type_name} v{version}")]
    Decode {
        /// Stored type name.
        type_name: String,
        /// Stored schema version.
        version: u16,
        /// What the decoder said.
        #[source]
        source: rmp_serde::decode::Error,
    },
    /// No decoder exists for this type and version.
    #[error("unknown event type {type_name} v{version}")]
    Unknown {
        /// Stored type name.
        type_name: String,
        /// Stored schema version.
        version: u16,
    },
    /// Encoding failed (a bug: every event is encodable).
    #[error("cannot encode {type_name}")]
    Encode {
        /// Type being encoded.
        type_name: &'static str,
        /// What the encoder said.
        #[source]
        source: rmp_serde::encode::Error,
    },
}

/// An event ready to store: its readable type name, schema version and bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedEvent {
    /// `JobSubmitted`, ...
    pub type_name: &'static str,
    /// Current schema version of this type.
    pub version: u16,
    /// `rmp_serde::to_vec_named` of the payload struct.
    pub data: Vec<u8>,
}

/// The schema version every variant is written with today.
pub fn current_version(type_name: &str) -> u16 {
    match type_name {
        "JobCompleted" => 2,
        _ => 1,
    }
}

fn named<T: Serialize>(type_name: &'static str, payload: &T) -> Result<EncodedEvent, CodecError> {
    let data = rmp_serde::to_vec_named(payload)
        .map_err(|source| CodecError::Encode { type_name, source })?;
    Ok(EncodedEvent {
        type_name,
        version: current_version(type_name),
        data,
    })
}

/// Encodes an event's payload with field names.
pub fn encode(event: &JobEvent) -> Result<EncodedEvent, CodecError> {
    let name = event.type_name();
    match event {
        JobEvent::Submitted(e) => named(name, e),
        JobEvent::Scheduled(e) => named(name, e),
        JobEvent::Deferred(e) => named(name, e),
        JobEvent::Released(e) => named(name, e),
        JobEvent::Started(e) => named(name, e),
        JobEvent::Completed(e) => named(name, e),
        JobEvent::Failed(e) => named(name, e),
        JobEvent::Cancelled(e) => named(name, e),
        JobEvent::DeadLettered(e) => named(name, e),
        JobEvent::Retired(e) => named(name, e),
        JobEvent::RetiredSummed(e) => named(name, e),
    }
}

/// Decodes a stored payload of any known type and version into the current shape.
pub fn decode(type_name: &str, version: u16, data: &[u8]) -> Result<JobEvent, CodecError> {
    fn de<T: DeserializeOwned>(t: &str, v: u16, data: &[u8]) -> Result<T, CodecError> {
        rmp_serde::from_slice(data).map_err(|source| CodecError::Decode {
            type_name: t.to_owned(),
            version: v,
            source,
        })
    }
    let event = match (type_name, version) {
        ("JobSubmitted", 1) => JobEvent::Submitted(de(type_name, version, data)?),
        ("JobScheduled", 1) => JobEvent::Scheduled(de(type_name, version, data)?),
        ("JobDeferred", 1) => JobEvent::Deferred(de(type_name, version, data)?),
        ("JobReleased", 1) => JobEvent::Released(de(type_name, version, data)?),
        ("JobStarted", 1) => JobEvent::Started(de(type_name, version, data)?),
        ("JobCompleted", 1) => {
            JobEvent::Completed(upcast_completed_v1(de(type_name, version, data)?))
        }
        ("JobCompleted", 2) => JobEvent::Completed(de(type_name, version, data)?),
        ("JobFailed", 1) => JobEvent::Failed(de(type_name, version, data)?),
        ("JobCancelled", 1) => JobEvent::Cancelled(de(type_name, version, data)?),
        ("JobDeadLettered", 1) => JobEvent::DeadLettered(de(type_name, version, data)?),
        ("JobRetired", 1) => JobEvent::Retired(de(type_name, version, data)?),
        ("RetiredJobsSummed", 1) => JobEvent::RetiredSummed(de(type_name, version, data)?),
        _ => {
            return Err(CodecError::Unknown {
                type_name: type_name.to_owned(),
                version,
            })
        }
    };
    Ok(event)
}

/// v1 knew neither energy nor baseline nor attempt: the run was the first attempt, its energy is
/// unknown (booked as zero) and its baseline equals what it emitted, so it claims no saving.
fn upcast_completed_v1(old: JobCompletedV1) -> JobCompleted {
    JobCompleted {
        attempt: 1,
        duration_ms: old.duration_ms,
        energy_kwh: 0.0,
        emissions_kg: old.emissions_kg,
        baseline_emissions_kg: old.emissions_kg,
        result: old.result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::sample::one_of_each;

    #[test]
    fn every_variant_round_trips_through_its_encoding() {
        for event in one_of_each() {
            let enc = encode(&event).unwrap();
            assert_eq!(enc.type_name, event.type_name());
            assert_eq!(
                decode(enc.type_name, enc.version, &enc.data).unwrap(),
                event
            );
        }
    }

    #[test]
    fn a_seed_shaped_completion_upcasts_with_no_claimed_saving() {
        let old = JobCompletedV1 {
            duration_ms: 1500,
            emissions_kg: 0.003,
            result: "ok".into(),
        };
        let bytes = rmp_serde::to_vec_named(&old).unwrap();
        let JobEvent::Completed(new) = decode("JobCompleted", 1, &bytes).unwrap() else {
            panic!("not a completion");
        };
        assert_eq!(new.duration_ms, 1500);
        assert_eq!(new.baseline_emissions_kg, new.emissions_kg);
        assert_eq!(new.attempt, 1);
    }

    #[test]
    fn garbage_and_unknown_types_are_errors_not_panics() {
        assert!(matches!(
            decode("JobStarted", 1, b"\xc1\xc1"),
            Err(CodecError::Decode { .. })
        ));
        assert!(matches!(
            decode("JobTeleported", 1, b""),
            Err(CodecError::Unknown { .. })
        ));
        assert!(matches!(
            decode("JobStarted", 9, b""),
            Err(CodecError::Unknown { .. })
        ));
    }

    #[test]
    fn field_names_are_in_the_bytes() {
        let enc = encode(&one_of_each()[4]).unwrap();
        let text = String::from_utf8_lossy(&enc.data);
        assert!(
            text.contains("worker") && text.contains("attempt"),
            "{text}"
        );
    }
}
