//! The envelope the store wraps around every event: where and when it was recorded, and why.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::JobEvent;

/// A Redis stream entry id, `<milliseconds>-<sequence>`, ordered as Redis orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence within the millisecond.
    pub seq: u64,
}

impl StreamId {
    /// The id before every entry (`0-0`).
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };

    /// Builds an id from its two parts.
    pub fn new(ms: u64, seq: u64) -> Self {
        StreamId { ms, seq }
    }

    /// The smallest id recorded at or after `t`.
    pub fn at_time(t: DateTime<Utc>) -> Self {
        StreamId::new(u64::try_from(t.timestamp_millis()).unwrap_or(0), 0)
    }

    /// The id right after this one.
    pub fn successor(self) -> Self {
        match self.seq.checked_add(1) {
            Some(seq) => StreamId::new(self.ms, seq),
            None => StreamId::new(self.ms + 1, 0),
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A string that is not a stream id.
#[derive(Debug, thiserror::Error)]
#[error("invalid stream id {0:?} (expected <ms>-<seq>)")]
pub struct InvalidStreamId(pub String);

impl FromStr for StreamId {
    type Err = InvalidStreamId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidStreamId(s.to_owned());
        match s.split_once('-') {
            Some((ms, seq)) => Ok(StreamId::new(
                ms.parse().map_err(|_| bad())?,
                seq.parse().map_err(|_| bad())?,
            )),
            None => Ok(StreamId::new(s.parse().map_err(|_| bad())?, 0)),
        }
    }
}

/// Everything the store records about an event besides the event itself.
#[derive(Debug, Clone, PartialEq)]
pub struct EventMeta {
    /// Unique id of this event (UUID v7).
    pub event_id: Uuid,
    /// The job the event belongs to.
    pub job_id: Uuid,
    /// The job's version after this event: 1 for its first event.
    pub job_version: u64,
    /// Schema version of the payload as stored.
    pub schema_version: u16,
    /// When the event was recorded, by the store's clock.
    pub recorded_at: DateTime<Utc>,
    /// The request or run this event is part of.
    pub correlation_id: Uuid,
    /// The event or command that caused this one.
    pub causation_id: Option<Uuid>,
}

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedEvent {
    /// Position in the stream.
    pub stream_id: StreamId,
    /// The envelope.
    pub meta: EventMeta,
    /// The event, upcast to the current schema.
    pub event: JobEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_order_like_redis_and_round_trip_through_text() {
        let a: StreamId = "1700000000000-3".parse().unwrap();
        let b: StreamId = "1700000000001-0".parse().unwrap();
        assert!(a < b);
        assert_eq!(a.to_string(), "1700000000000-3");
        assert_eq!("42".parse::<StreamId>().unwrap(), StreamId::new(42, 0));
        assert!("x-1".parse::<StreamId>().is_err());
        assert_eq!(a.successor(), StreamId::new(1_700_000_000_000, 4));
    }
}
