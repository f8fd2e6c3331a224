//! The writer lease: one `carbonq serve` writes a log at a time, and Redis enforces it.
//!
//! `serve` takes a key beside the stream (`<stream>:writer`) with `SET NX PX` before it reads or
//! writes anything, renews it while it runs and deletes it when it stops. Its value names the
//! holder (a random token, host, pid and start time), so a second `serve` is refused with a
//! message that says who holds the log. A holder that died leaves its lease to expire; one that
//! died on this host (its pid is gone, or is ours: a restarted container) is taken over at once.
//!
//! The lease is also a fencing token: the append script compares it with the key before it
//! writes (see `append.lua`), and a projection page is written only in a transaction that
//! `WATCH`es it ([`Lease::exec_fenced`]), so a holder that lost the lease (paused or cut off past
//! its expiry while another took over) can write nothing more; it gets [`StoreError::Fenced`].

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use redis::Script;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{RedisStore, StoreError};

/// Who holds a log: the lease key's value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Unique per start.
    pub token: Uuid,
    /// The host it runs on.
    pub host: String,
    /// Its process id there.
    pub pid: u32,
    /// When it took the lease.
    pub since: DateTime<Utc>,
}

impl Holder {
    /// This process, now.
    pub fn this_process() -> Holder {
        Holder {
            token: crate::ids::IdGen::Random.next(Utc::now()),
            host: this_host(),
            pid: std::process::id(),
            since: Utc::now(),
        }
    }

    /// Reads a lease value; a value that is not ours is described as it is.
    fn parse(value: &str) -> Result<Holder, String> {
        serde_json::from_str(value).map_err(|_| value.to_owned())
    }

    /// A lease value for humans: the holder it names, or the value as it is.
    pub fn describe(value: &str) -> String {
        Holder::parse(value).map_or_else(|v| v, |h| h.to_string())
    }

    fn value(&self) -> String {
        serde_json::to_string(self).expect("a holder serialises")
    }

    /// Whether `self`, found holding the lease, is known to be gone: it ran on `me`'s host and
    /// its pid is no process there, or is `me`'s own (a container restarted with the same pid).
    fn is_gone(&self, me: &Holder, alive: impl Fn(u32) -> bool) -> bool {
        self.host == me.host && (self.pid == me.pid || !alive(self.pid))
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "carbonq serve pid {} on {} since {}",
            self.pid,
            self.host,
            self.since.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }
}

fn this_host() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "unknown-host".to_owned())
}

/// Whether a process with this pid exists on this host (one we may not signal exists too).
fn process_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    !matches!(
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
        Err(nix::errno::Errno::ESRCH)
    )
}

/// Why the lease could not be taken or was lost.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// Another `serve` holds the log.
    #[error(
        "the log {stream} is being written by {holder}; stop it first \
         (one carbonq serve per log: its lease is the key {key})"
    )]
    Held {
        /// The log's stream.
        stream: String,
        /// The lease key.
        key: String,
        /// Who holds it (the key's value, if it is not a holder carbonq wrote).
        holder: String,
    },
    /// Redis could not be asked.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The lease as held by this process.
#[derive(Debug, Clone)]
pub struct Lease {
    key: String,
    value: String,
    ttl: Duration,
}

impl Lease {
    /// The key's value while this process holds it.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// How long the lease lasts unless renewed.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub(crate) fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis().max(1) as u64
    }

    /// Takes the lease if nobody holds it (`SET NX PX`); whether it was taken.
    async fn take_if_free(&self, conn: &mut super::Connection) -> Result<bool, StoreError> {
        let taken: Option<String> = redis::cmd("SET")
            .arg(&self.key)
            .arg(&self.value)
            .arg("NX")
            .arg("PX")
            .arg(self.ttl_ms())
            .query_async(conn)
            .await?;
        Ok(taken.is_some())
    }

    /// Runs `transaction` (a `MULTI`/`EXEC` pipeline) only while this process holds the lease:
    /// the key is `WATCH`ed and read first, so a takeover between the read and the `EXEC` aborts
    /// it. A renewal aborts it too, and it is sent again. `conn` must be this task's alone
    /// ([`RedisStore::dedicated_connection`]): a `WATCH` belongs to a connection.
    ///
    /// `mark` is a counter key the transaction sets and the number it sets it to: when the key
    /// holds that number or a later one, the transaction was applied already (Redis applied it
    /// and went away before answering, and this is the caller sending it again), and nothing is
    /// sent.
    pub async fn exec_fenced(
        &self,
        conn: &mut super::Connection,
        transaction: &redis::Pipeline,
        mark: (&str, u64),
    ) -> Result<(), StoreError> {
        let (mark_key, number) = mark;
        loop {
            let (holder, reached): (Option<String>, Option<u64>) = redis::pipe()
                .cmd("WATCH")
                .arg(&self.key)
                .arg(mark_key)
                .ignore()
                .get(&self.key)
                .get(mark_key)
                .query_async(conn)
                .await?;
            if reached >= Some(number) {
                let _: () = redis::cmd("UNWATCH").query_async(conn).await?;
                return Ok(());
            }
            match holder {
                Some(v) if v == self.value => {}
                Some(other) => {
                    let _: () = redis::cmd("UNWATCH").query_async(conn).await?;
                    return Err(StoreError::Fenced {
                        holder: Holder::describe(&other),
                    });
                }
                None => {
                    // Expired and nobody took it (a long outage): ours again, as a renewal would.
                    self.take_if_free(conn).await?;
                    continue;
                }
            }
            // `None`: the key changed after it was read; nothing of the transaction was applied.
            if let Some(()) = transaction.query_async::<Option<()>>(conn).await? {
                return Ok(());
            }
        }
    }
}

fn renew_script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    // Ours: extend it. Expired and nobody else took it: take it again. Another's: lost (its value).
    SCRIPT.get_or_init(|| {
        Script::new(
            r"local v = redis.call('GET', KEYS[1])
              if v == ARGV[1] or not v then
                redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
                return 1
              end
              return v",
        )
    })
}

fn swap_script() -> &'static Script {
    static SCRIPT: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    // Replaces ARGV[1] (a dead holder, or ours when releasing with ARGV[2] empty) if still there.
    SCRIPT.get_or_init(|| {
        Script::new(
            r"if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
              if ARGV[2] == '' then redis.call('DEL', KEYS[1])
              else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
              return 1",
        )
    })
}

impl RedisStore {
    /// Takes the log's writer lease for `ttl`. A holder on another host that does not renew is
    /// waited for until its lease expires (at most `ttl` and a second); a live holder on this
    /// host, or one elsewhere that keeps renewing, is [`LeaseError::Held`].
    pub async fn take_lease(&self, ttl: Duration) -> Result<Lease, LeaseError> {
        let me = Holder::this_process();
        let lease = Lease {
            key: self.keys().writer_lease(),
            value: me.value(),
            ttl,
        };
        let give_up = tokio::time::Instant::now() + ttl + Duration::from_secs(1);
        let mut told = false;
        let mut conn = self.connection();
        loop {
            if lease.take_if_free(&mut conn).await? {
                return Ok(lease);
            }
            let Some(current): Option<String> = redis::cmd("GET")
                .arg(&lease.key)
                .query_async(&mut conn)
                .await
                .map_err(StoreError::from)?
            else {
                continue; // expired in between
            };
            let holder = Holder::parse(&current);
            if let Ok(h) = &holder {
                if h.is_gone(&me, process_exists) {
                    tracing::info!(previous = %h, "taking over the lease of a writer that is gone");
                    let swapped: i64 = swap_script()
                        .key(&lease.key)
                        .arg(&current)
                        .arg(&lease.value)
                        .arg(lease.ttl_ms())
                        .invoke_async(&mut conn)
                        .await
                        .map_err(StoreError::from)?;
                    if swapped == 1 {
                        return Ok(lease);
                    }
                    continue;
                }
            }
            let held = || LeaseError::Held {
                stream: self.keys().streams().to_owned(),
                key: lease.key.clone(),
                holder: Holder::describe(&current),
            };
            let elsewhere = holder.as_ref().map_or(true, |h| h.host != me.host);
            if !elsewhere || tokio::time::Instant::now() >= give_up {
                return Err(held());
            }
            if !told {
                tracing::warn!(error = %held(), "waiting for the lease to expire");
                told = true;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Who holds the log's writer lease now, for humans, and for how much longer unless renewed.
    pub async fn lease_holder(&self) -> Result<Option<(String, Duration)>, StoreError> {
        let key = self.keys().writer_lease();
        let (value, ttl_ms): (Option<String>, i64) = redis::pipe()
            .get(&key)
            .cmd("PTTL")
            .arg(&key)
            .query_async(&mut self.connection())
            .await?;
        Ok(value.map(|v| {
            let left = Duration::from_millis(u64::try_from(ttl_ms).unwrap_or(0));
            (Holder::describe(&v), left)
        }))
    }

    /// Extends the lease (or takes it again if it expired and nobody else did). `Ok(Err(holder))`:
    /// another process holds it now.
    pub async fn renew_lease(&self, lease: &Lease) -> Result<Result<(), String>, StoreError> {
        let reply: redis::Value = renew_script()
            .key(&lease.key)
            .arg(&lease.value)
            .arg(lease.ttl_ms())
            .invoke_async(&mut self.connection())
            .await?;
        Ok(match reply {
            redis::Value::Int(1) => Ok(()),
            redis::Value::BulkString(v) => {
                let v = String::from_utf8_lossy(&v).into_owned();
                Err(Holder::describe(&v))
            }
            other => return Err(StoreError::Protocol(format!("lease renewal: {other:?}"))),
        })
    }

    /// Takes the writer lease (as [`RedisStore::take_lease`]) and keeps it renewed by a task
    /// until it is given up. Returns this store with its appends fenced by the lease, the lease
    /// held, and a receiver told who took the lease over, if another process ever does.
    pub async fn hold_lease(
        &self,
        ttl: Duration,
    ) -> Result<
        (
            RedisStore,
            HeldLease,
            tokio::sync::oneshot::Receiver<String>,
        ),
        LeaseError,
    > {
        let lease = self.take_lease(ttl).await?;
        let store = self.clone().fenced_by(lease.clone());
        let (lost_tx, lost) = tokio::sync::oneshot::channel();
        let renewal = tokio::spawn(store.clone().keep_lease(lease.clone(), lost_tx));
        Ok((store, HeldLease { lease, renewal }, lost))
    }

    /// Renews the lease four times per time to live until another process holds it, which it
    /// reports on `lost`. Redis being away is retried: the lease is taken again when it is back,
    /// unless another process took it meanwhile.
    async fn keep_lease(self, lease: Lease, lost: tokio::sync::oneshot::Sender<String>) {
        let every = lease.ttl() / 4;
        loop {
            tokio::time::sleep(every).await;
            match self.renew_lease(&lease).await {
                Ok(Ok(())) => {}
                Ok(Err(holder)) => {
                    let _ = lost.send(holder);
                    return;
                }
                Err(e) => tracing::warn!(
                    error = %crate::projections::error_chain(&e),
                    "cannot renew the writer lease yet"
                ),
            }
        }
    }

    /// Gives the lease up, if this process still holds it, so that the next `serve` need not
    /// wait for it to expire.
    pub async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let _: i64 = swap_script()
            .key(&lease.key)
            .arg(&lease.value)
            .arg("")
            .arg(0)
            .invoke_async(&mut self.connection())
            .await?;
        Ok(())
    }
}

/// The writer lease as a running process holds it: renewed by a task until given up (or
/// dropped).
#[derive(Debug)]
pub struct HeldLease {
    lease: Lease,
    renewal: tokio::task::JoinHandle<()>,
}

impl HeldLease {
    /// Stops renewing and gives the lease up if this process still holds it (one that another
    /// took over is left alone), so that the next writer need not wait for it to expire.
    pub async fn give_up(self, store: &RedisStore) -> Result<(), StoreError> {
        self.renewal.abort();
        store.release_lease(&self.lease).await
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.renewal.abort();
    }
}

/// Why a fenced append was refused: the holder the append script found, from its error.
pub(super) fn fenced(e: &redis::RedisError) -> Option<StoreError> {
    (e.code() == Some("FENCED")).then(|| {
        let found = e.detail().unwrap_or_default();
        let holder = found
            .strip_prefix("held by ")
            .map(Holder::describe)
            .unwrap_or_else(|| found.to_owned());
        StoreError::Fenced { holder }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holder(host: &str, pid: u32) -> Holder {
        Holder {
            token: Uuid::nil(),
            host: host.into(),
            pid,
            since: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn a_holder_is_gone_only_when_this_host_can_tell() {
        let me = holder("a", 10);
        let alive = |pid| pid == 20;
        // Given a holder on this host whose pid is no process, it is gone.
        assert!(holder("a", 30).is_gone(&me, alive));
        // One whose pid is ours is an earlier life of this container.
        assert!(holder("a", 10).is_gone(&me, alive));
        // A live one on this host is not; nor is any on another host, live or not.
        assert!(!holder("a", 20).is_gone(&me, alive));
        assert!(!holder("b", 30).is_gone(&me, alive));
    }

    #[test]
    fn a_holder_reads_back_and_is_named_for_humans() {
        let h = holder("gpu-node-7", 4242);
        assert_eq!(Holder::parse(&h.value()), Ok(h.clone()));
        assert_eq!(
            h.to_string(),
            "carbonq serve pid 4242 on gpu-node-7 since 2023-11-14T22:13:20Z"
        );
        assert_eq!(Holder::parse("someone"), Err("someone".to_owned()));
    }

    #[test]
    fn this_process_exists_and_a_reaped_child_does_not() {
        assert!(process_exists(std::process::id()));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!process_exists(pid));
    }
}
