//! Every Redis key carbonq uses, in one place.
//!
//! With the default empty prefix the read models have the seed ADR's names (`job:<id>`,
//! `queue:PENDING`, ...). A prefix namespaces everything, which is how `replay --rebuild` folds
//! into a scratch space beside the live one. The job → stream mapping is a function, so that the
//! log can later be split into hash-tagged partitions for Redis Cluster without touching callers.

use uuid::Uuid;

/// The queues of the seed ADR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueueName {
    /// Submitted, not yet routed (list).
    Pending,
    /// Routed to the fast pool (list).
    Fast,
    /// Routed to the efficient pool (list).
    Eco,
    /// Held for later (sorted set scored by deferral deadline, epoch seconds).
    Deferred,
}

impl QueueName {
    /// All four, in the seed's order.
    pub const ALL: [QueueName; 4] = [
        QueueName::Pending,
        QueueName::Fast,
        QueueName::Eco,
        QueueName::Deferred,
    ];

    /// `PENDING`, `FAST`, `ECO`, `DEFERRED`.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::Pending => "PENDING",
            QueueName::Fast => "FAST",
            QueueName::Eco => "ECO",
            QueueName::Deferred => "DEFERRED",
        }
    }
}

/// The names of every key, under one optional prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeySpace {
    prefix: String,
    stream: String,
}

impl Default for KeySpace {
    fn default() -> Self {
        KeySpace::new("", "events")
    }
}

impl KeySpace {
    /// Keys under `prefix`, with the log in stream `stream`.
    pub fn new(prefix: &str, stream: &str) -> Self {
        KeySpace {
            prefix: prefix.to_owned(),
            stream: format!("{prefix}{stream}"),
        }
    }

    /// The same layout under an extra prefix, for scratch rebuilds; the log stays the same.
    pub fn scratch(&self, tag: &str) -> Self {
        KeySpace {
            prefix: format!("{}{tag}:", self.prefix),
            stream: self.stream.clone(),
        }
    }

    /// The prefix every key starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The stream a job's events go to (one stream today).
    pub fn stream_for(&self, _job: &Uuid) -> &str {
        &self.stream
    }

    /// Every stream of the log, in read order.
    pub fn streams(&self) -> &str {
        &self.stream
    }

    /// List of a job's stream ids, kept by the append script; its length is the job's version.
    pub fn job_events(&self, job: &Uuid) -> String {
        format!("{}:job:{job}", self.stream)
    }

    /// The writer lease: who may append to the log (see `store::lease`).
    pub fn writer_lease(&self) -> String {
        format!("{}:writer", self.stream)
    }

    /// The `job:<id>` hash.
    pub fn job(&self, job: &Uuid) -> String {
        format!("{}job:{job}", self.prefix)
    }

    /// `queue:PENDING` and friends.
    pub fn queue(&self, queue: QueueName) -> String {
        format!("{}queue:{}", self.prefix, queue.as_str())
    }

    /// Sorted set of job ids scored by submission time (ms), for paging without `KEYS`.
    pub fn job_index(&self) -> String {
        format!("{}jobs:index", self.prefix)
    }

    /// Hash of idempotency key → job id.
    pub fn idempotency(&self) -> String {
        format!("{}jobs:idempotency", self.prefix)
    }

    /// Hash of counters behind `/stats`.
    pub fn stats(&self) -> String {
        format!("{}stats", self.prefix)
    }

    /// The stream id the projections have applied up to.
    pub fn checkpoint(&self) -> String {
        format!("{}projection:checkpoint", self.prefix)
    }

    /// How many pages the projection writers have written (each page's number), so that a page
    /// sent again after Redis applied it and went away before answering is not applied twice.
    pub fn pages_written(&self) -> String {
        format!("{}projection:pages", self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names_are_the_seed_adrs() {
        let k = KeySpace::default();
        let id = Uuid::nil();
        assert_eq!(k.job(&id), format!("job:{id}"));
        assert_eq!(k.queue(QueueName::Deferred), "queue:DEFERRED");
        assert_eq!(k.stream_for(&id), "events");
    }

    #[test]
    fn a_scratch_space_prefixes_read_models_but_reads_the_same_log() {
        let k = KeySpace::new("cq:", "events").scratch("rebuild");
        assert_eq!(k.queue(QueueName::Fast), "cq:rebuild:queue:FAST");
        assert_eq!(k.streams(), "cq:events");
    }
}
