//! Stream entry fields ↔ envelope + event.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::events::{decode, CodecError, EventMeta, RecordedEvent, StreamId};

/// A stream entry that is not a readable event.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// A field is missing or unreadable.
    #[error("field {field:?} is missing or malformed")]
    Field {
        /// The field.
        field: &'static str,
    },
    /// The payload does not decode.
    #[error(transparent)]
    Codec(#[from] CodecError),
}

/// The readable fields of an entry, in the order they are written.
pub(crate) const FIELDS: [&str; 9] = [
    "type", "v", "job", "ver", "eid", "at", "corr", "cause", "data",
];

/// Raw field values by position in [`FIELDS`].
#[derive(Default)]
pub(crate) struct RawFields<'a>(pub [Option<&'a [u8]>; 9]);

impl<'a> RawFields<'a> {
    pub(crate) fn set(&mut self, name: &[u8], value: &'a [u8]) {
        if let Some(i) = FIELDS.iter().position(|f| f.as_bytes() == name) {
            self.0[i] = Some(value);
        }
    }

    fn text(&self, i: usize) -> Result<&'a str, EntryError> {
        self.0[i]
            .and_then(|b| std::str::from_utf8(b).ok())
            .ok_or(EntryError::Field { field: FIELDS[i] })
    }

    fn parse<T: std::str::FromStr>(&self, i: usize) -> Result<T, EntryError> {
        self.text(i)?
            .parse()
            .map_err(|_| EntryError::Field { field: FIELDS[i] })
    }

    /// Decodes the envelope and upcasts the payload.
    pub(crate) fn decode(&self, stream_id: StreamId) -> Result<RecordedEvent, EntryError> {
        let type_name = self.text(0)?;
        let version: u16 = self.parse(1)?;
        let job_id: Uuid = self.parse(2)?;
        let job_version: u64 = self.parse(3)?;
        let event_id: Uuid = self.parse(4)?;
        let recorded_at = DateTime::parse_from_rfc3339(self.text(5)?)
            .map_err(|_| EntryError::Field { field: "at" })?
            .with_timezone(&Utc);
        let correlation_id: Uuid = self.parse(6)?;
        let cause = self.text(7)?;
        let causation_id = if cause.is_empty() {
            None
        } else {
            Some(
                cause
                    .parse()
                    .map_err(|_| EntryError::Field { field: "cause" })?,
            )
        };
        let data = self.0[8].ok_or(EntryError::Field { field: "data" })?;
        let event = decode(type_name, version, data)?;
        Ok(RecordedEvent {
            stream_id,
            meta: EventMeta {
                event_id,
                job_id,
                job_version,
                schema_version: version,
                recorded_at,
                correlation_id,
                causation_id,
            },
            event,
        })
    }
}
