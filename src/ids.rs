//! Injected id generation: random UUID v7 in `serve`, seeded in `simulate` so runs repeat.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

/// Makes UUID v7 ids whose time part is the given instant.
#[derive(Debug)]
pub enum IdGen {
    /// Random bits from the OS.
    Random,
    /// Random bits from a seeded generator: the same seed and times give the same ids.
    Seeded(Box<Mutex<ChaCha8Rng>>),
}

impl IdGen {
    /// A generator that repeats for the same seed.
    pub fn seeded(seed: u64) -> Self {
        IdGen::Seeded(Box::new(Mutex::new(ChaCha8Rng::seed_from_u64(seed))))
    }

    /// A new UUID v7 stamped with `at`.
    pub fn next(&self, at: DateTime<Utc>) -> Uuid {
        let mut bytes = [0u8; 10];
        match self {
            IdGen::Random => rand::rng().fill_bytes(&mut bytes),
            IdGen::Seeded(rng) => rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .fill_bytes(&mut bytes),
        }
        let ms = u64::try_from(at.timestamp_millis()).unwrap_or(0);
        uuid::Builder::from_unix_timestamp_millis(ms, &bytes).into_uuid()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_ids_repeat_and_carry_their_time() {
        let t = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap();
        let (a, b) = (IdGen::seeded(7), IdGen::seeded(7));
        let id = a.next(t);
        assert_eq!(id, b.next(t));
        assert_eq!(id.get_version_num(), 7);
        let (secs, nanos) = id.get_timestamp().unwrap().to_unix();
        assert_eq!(
            secs * 1000 + u64::from(nanos) / 1_000_000,
            1_700_000_000_123
        );
        assert_ne!(a.next(t), id);
    }
}
