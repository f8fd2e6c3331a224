//! The event log in a Redis stream.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, Client, Script, Value};
use uuid::Uuid;

use super::entry::RawFields;
use super::{AppendRequest, Entry, KeySpace, Lease, Stamper, StoreError};
use crate::clock::format_time;
use crate::events::{encode, EventMeta, RecordedEvent, StreamId};

/// How long connecting may take before Redis counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The connection every task shares: multiplexed (commands from many tasks share one socket),
/// and made anew when Redis goes away and comes back. The command that finds the connection
/// lost fails (the caller sees Redis as unavailable); the next ones use the new connection.
pub type Connection = ConnectionManager;

/// Attempts to connect, after the first, before a command that needs a connection fails; the
/// next command starts over. Few, so that an unreachable Redis is reported within a second.
const CONNECT_RETRIES: usize = 2;

/// How long a command may wait for Redis's answer unless configured
/// (`redis.command_timeout_ms`): past it the command fails as unavailable, so a frozen Redis
/// gives a 503 within seconds instead of hanging every request.
pub const DEFAULT_COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

/// Connects to Redis, turning failure into [`StoreError::Unavailable`] naming the URL; each
/// command waits at most `command_timeout` for its answer.
pub async fn connect(
    url: &str,
    command_timeout: Duration,
) -> Result<(Client, Connection), StoreError> {
    let unavailable = |source| StoreError::Unavailable {
        url: redact(url),
        source,
    };
    let client = Client::open(url).map_err(unavailable)?;
    let conn = manage(&client, command_timeout)
        .await
        .map_err(unavailable)?;
    Ok((client, conn))
}

/// A connection of its own to `client`'s Redis, made anew when lost.
async fn manage(client: &Client, command_timeout: Duration) -> redis::RedisResult<Connection> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(command_timeout))
        .set_number_of_retries(CONNECT_RETRIES)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_with_config(client.clone(), config).await
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***{}", &url[..scheme], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// A job's version is the length of its index list (the append script's rule): one entry that
/// is no stream id makes it 1, so that an append of the job as new (expected 0) conflicts.
fn abandon_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| {
        Script::new(
            r"local n = redis.call('LLEN', KEYS[1])
              if n == 0 then redis.call('RPUSH', KEYS[1], 'abandoned') end
              return n",
        )
    })
}

fn append_script() -> &'static Script {
    static SCRIPT: OnceLock<Script> = OnceLock::new();
    SCRIPT.get_or_init(|| Script::new(include_str!("append.lua")))
}

/// The log in one Redis stream.
#[derive(Clone)]
pub struct RedisStore {
    client: Arc<Client>,
    conn: Connection,
    keys: Arc<KeySpace>,
    stamper: Stamper,
    /// The writer lease every append is fenced by; none: appends are not fenced.
    lease: Option<Arc<Lease>>,
    /// How long a command waits for Redis's answer.
    command_timeout: Duration,
    /// The newest entry this process appended or read, and whether the log was found behind it.
    floor: Arc<Floor>,
}

/// What a process has seen of its log, so that it notices the log going back in time.
#[derive(Default)]
struct Floor {
    /// The newest entry appended or read; appends are refused while the log ends before it.
    newest: std::sync::Mutex<Option<StreamId>>,
    /// Set once the log is found behind `newest`: that entry, and the log's last one then.
    rewound: OnceLock<(String, String)>,
    /// Woken when `rewound` is set.
    noticed: tokio::sync::Notify,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("keys", &self.keys)
            .finish()
    }
}

impl RedisStore {
    /// Connects to `url` and uses the keys of `keys`; commands time out after
    /// [`DEFAULT_COMMAND_TIMEOUT`].
    pub async fn open(url: &str, keys: KeySpace, stamper: Stamper) -> Result<Self, StoreError> {
        Self::open_with_timeout(url, keys, stamper, DEFAULT_COMMAND_TIMEOUT).await
    }

    /// [`RedisStore::open`], each command waiting at most `command_timeout` for its answer.
    pub async fn open_with_timeout(
        url: &str,
        keys: KeySpace,
        stamper: Stamper,
        command_timeout: Duration,
    ) -> Result<Self, StoreError> {
        let (client, conn) = connect(url, command_timeout).await?;
        Ok(RedisStore {
            client: Arc::new(client),
            conn,
            keys: Arc::new(keys),
            stamper,
            lease: None,
            command_timeout,
            floor: Arc::default(),
        })
    }

    /// This store with every append fenced by `lease`: refused ([`StoreError::Fenced`]) once
    /// another process holds the log.
    pub fn fenced_by(mut self, lease: Lease) -> Self {
        self.lease = Some(Arc::new(lease));
        self
    }

    /// The key layout.
    pub fn keys(&self) -> &KeySpace {
        &self.keys
    }

    /// A clone of the shared connection.
    pub fn connection(&self) -> Connection {
        self.conn.clone()
    }

    /// A connection for one task alone (one that `WATCH`es a key must not share it).
    pub async fn dedicated_connection(&self) -> Result<Connection, StoreError> {
        Ok(manage(&self.client, self.command_timeout).await?)
    }

    /// Raises the floor to `id`, an entry this process read (or appended): from then on an
    /// append is refused, as [`StoreError::Rewound`], while the log ends before it.
    pub fn raise_floor(&self, id: StreamId) {
        let mut newest = self.floor.newest.lock().unwrap_or_else(|e| e.into_inner());
        if newest.is_none_or(|n| n < id) {
            *newest = Some(id);
        }
    }

    /// The newest entry this process appended or read.
    pub fn floor(&self) -> Option<StreamId> {
        *self.floor.newest.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Checks the log's last entry against the floor (one `XREVRANGE ... COUNT 1`), as every
    /// append does: a `serve` that appends nothing for a while still notices a lost log.
    pub async fn check_floor(&self) -> Result<(), StoreError> {
        let Some(floor) = self.floor() else {
            return Ok(());
        };
        let mut conn = self.conn.clone();
        let last: redis::streams::StreamRangeReply = redis::cmd("XREVRANGE")
            .arg(self.keys.streams())
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut conn)
            .await?;
        let found = last.ids.first().and_then(|e| e.id.parse::<StreamId>().ok());
        if found.is_some_and(|f| f >= floor) {
            return Ok(());
        }
        let found = found.map_or_else(|| "none".to_owned(), |f| f.to_string());
        Err(self.rewound(floor.to_string(), found))
    }

    /// Records that the log was found behind the floor, wakes [`RedisStore::rewound_log`], and
    /// returns the error to answer.
    fn rewound(&self, floor: String, found: String) -> StoreError {
        let _ = self.floor.rewound.set((floor.clone(), found.clone()));
        self.floor.noticed.notify_waiters();
        StoreError::Rewound { floor, found }
    }

    /// Ends once an append or [`RedisStore::check_floor`] has found the log behind the floor;
    /// answers what was found.
    pub async fn rewound_log(&self) -> StoreError {
        loop {
            let noticed = self.floor.noticed.notified();
            if let Some((floor, found)) = self.floor.rewound.get() {
                return StoreError::Rewound {
                    floor: floor.clone(),
                    found: found.clone(),
                };
            }
            noticed.await;
        }
    }

    /// The writer lease appends are fenced by, if any.
    pub fn lease(&self) -> Option<&Lease> {
        self.lease.as_deref()
    }

    /// The client, for dedicated (blocking) connections.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub(super) async fn append_batch(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Result<Vec<RecordedEvent>, StoreError>>, StoreError> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.stamper.clock.now();
        let at = format_time(now);
        let mut invocation = append_script().prepare_invoke();
        // One stream today: every request's job maps to it (see `KeySpace::stream_for`).
        invocation.key(self.keys.streams());
        invocation.key(self.keys.writer_lease());
        match &self.lease {
            Some(lease) => invocation.arg(lease.value()).arg(lease.ttl_ms()),
            None => invocation.arg("").arg(0),
        };
        let floor = self.floor();
        invocation.arg(floor.map(|f| f.to_string()).unwrap_or_default());
        invocation.arg(requests.len());
        let mut metas: Vec<Vec<EventMeta>> = Vec::with_capacity(requests.len());
        for request in &requests {
            invocation
                .arg(request.job_id.to_string())
                .arg(request.expected_version)
                .arg(request.events.len())
                .arg(request.replaces.len());
            let cause = request
                .causation_id
                .map(|c| c.to_string())
                .unwrap_or_default();
            let mut request_metas = Vec::with_capacity(request.events.len());
            for (i, event) in request.events.iter().enumerate() {
                let encoded = encode(event)?;
                let event_id = self.stamper.ids.next(now);
                invocation
                    .arg(encoded.type_name)
                    .arg(encoded.version)
                    .arg(event_id.to_string())
                    .arg(&at)
                    .arg(request.correlation_id.to_string())
                    .arg(&cause)
                    .arg(encoded.data);
                request_metas.push(EventMeta {
                    event_id,
                    job_id: request.job_id,
                    job_version: request.expected_version + i as u64 + 1,
                    schema_version: encoded.version,
                    recorded_at: parse_back(&at, now),
                    correlation_id: request.correlation_id,
                    causation_id: request.causation_id,
                });
            }
            for id in &request.replaces {
                invocation.arg(id.to_string());
            }
            metas.push(request_metas);
        }
        let mut conn = self.conn.clone();
        let reply: Value = invocation.invoke_async(&mut conn).await.map_err(|e| {
            if e.code() == Some("REWOUND") {
                let found = e.detail().unwrap_or("none").to_owned();
                let floor = floor.map(|f| f.to_string()).unwrap_or_default();
                return self.rewound(floor, found);
            }
            super::lease::fenced(&e).unwrap_or(StoreError::Redis(e))
        })?;
        let Value::Array(replies) = reply else {
            return Err(StoreError::Protocol(format!("append returned {reply:?}")));
        };
        let mut out = Vec::with_capacity(requests.len());
        for ((request, reply), request_metas) in requests.into_iter().zip(replies).zip(metas) {
            out.push(append_result(request, reply, request_metas)?);
        }
        let newest = out
            .iter()
            .filter_map(|r| r.as_ref().ok()?.last().map(|e| e.stream_id))
            .max();
        if let Some(id) = newest {
            self.raise_floor(id);
        }
        Ok(out)
    }

    pub(super) async fn read_range(
        &self,
        from: StreamId,
        to: StreamId,
        count: usize,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut conn = self.conn.clone();
        let reply: Value = redis::cmd("XRANGE")
            .arg(self.keys.streams())
            .arg(from.to_string())
            .arg(to.to_string())
            .arg("COUNT")
            .arg(count.min(i64::MAX as usize))
            .query_async(&mut conn)
            .await?;
        parse_entries(reply)
    }

    pub(super) async fn read_after(
        &self,
        after: StreamId,
        count: usize,
        block: Option<Duration>,
    ) -> Result<Vec<Entry>, StoreError> {
        let mut cmd = redis::cmd("XREAD");
        cmd.arg("COUNT").arg(count);
        let Some(block) = block else {
            cmd.arg("STREAMS")
                .arg(self.keys.streams())
                .arg(after.to_string());
            let mut conn = self.conn.clone();
            return parse_xread(cmd.query_async(&mut conn).await?);
        };
        // A blocking read must not stall the shared multiplexed connection.
        cmd.arg("BLOCK")
            .arg(block.as_millis() as u64)
            .arg("STREAMS")
            .arg(self.keys.streams())
            .arg(after.to_string());
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(block + Duration::from_secs(10)));
        let mut conn = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        parse_xread(cmd.query_async(&mut conn).await?)
    }

    pub(super) async fn job_history(&self, job_id: Uuid) -> Result<Vec<Entry>, StoreError> {
        let mut conn = self.conn.clone();
        let ids: Vec<String> = redis::cmd("LRANGE")
            .arg(self.keys.job_events(&job_id))
            .arg(0)
            .arg(-1)
            .query_async(&mut conn)
            .await?;
        // An abandoned job's list holds a mark that is no stream id (see `abandon_script`).
        let ids: Vec<String> = ids
            .into_iter()
            .filter(|id| id.parse::<StreamId>().is_ok())
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in &ids {
            pipe.cmd("XRANGE").arg(self.keys.streams()).arg(id).arg(id);
        }
        let replies: Vec<Value> = pipe.query_async(&mut conn).await?;
        let mut out = Vec::with_capacity(ids.len());
        for reply in replies {
            out.extend(parse_entries(reply)?);
        }
        Ok(out)
    }

    pub(super) async fn abandon(&self, job_id: Uuid) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        Ok(abandon_script()
            .key(self.keys.job_events(&job_id))
            .invoke_async(&mut conn)
            .await?)
    }

    pub(super) async fn job_version(&self, job_id: Uuid) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        // The append script's rule: a job's version is the length of its index list.
        Ok(redis::cmd("LLEN")
            .arg(self.keys.job_events(&job_id))
            .query_async(&mut conn)
            .await?)
    }

    pub(super) async fn entry_count(&self) -> Result<u64, StoreError> {
        let mut conn = self.conn.clone();
        Ok(redis::cmd("XLEN")
            .arg(self.keys.streams())
            .query_async(&mut conn)
            .await?)
    }
}

/// The recorded time as it will read back (millisecond precision).
fn parse_back(at: &str, fallback: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&chrono::Utc))
        .unwrap_or(fallback)
}

fn append_result(
    request: AppendRequest,
    reply: Value,
    metas: Vec<EventMeta>,
) -> Result<Result<Vec<RecordedEvent>, StoreError>, StoreError> {
    let bad = || StoreError::Protocol("malformed append reply".into());
    let Value::Array(items) = reply else {
        return Err(bad());
    };
    let mut items = items.into_iter();
    match items.next() {
        Some(Value::Int(1)) => {
            let mut out = Vec::with_capacity(metas.len());
            for ((item, meta), event) in items.zip(metas).zip(request.events) {
                let stream_id = text(&item).and_then(|s| s.parse().ok()).ok_or_else(bad)?;
                out.push(RecordedEvent {
                    stream_id,
                    meta,
                    event,
                });
            }
            Ok(Ok(out))
        }
        Some(Value::Int(0)) => {
            let actual = match items.next() {
                Some(Value::Int(v)) => u64::try_from(v).map_err(|_| bad())?,
                _ => return Err(bad()),
            };
            Ok(Err(StoreError::Conflict {
                job_id: request.job_id,
                expected: request.expected_version,
                actual,
            }))
        }
        _ => Err(bad()),
    }
}

fn text(value: &Value) -> Option<&str> {
    match value {
        Value::BulkString(b) => std::str::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        _ => None,
    }
}

fn parse_xread(reply: Value) -> Result<Vec<Entry>, StoreError> {
    match reply {
        Value::Nil => Ok(Vec::new()),
        Value::Array(streams) => {
            let mut out = Vec::new();
            for stream in streams {
                // [name, entries]
                if let Value::Array(mut pair) = stream {
                    if pair.len() == 2 {
                        out.extend(parse_entries(pair.swap_remove(1))?);
                    }
                }
            }
            Ok(out)
        }
        Value::Map(streams) => {
            let mut out = Vec::new();
            for (_, entries) in streams {
                out.extend(parse_entries(entries)?);
            }
            Ok(out)
        }
        other => Err(StoreError::Protocol(format!("XREAD returned {other:?}"))),
    }
}

/// Parses an XRANGE reply: `[[id, [field, value, ...]], ...]`.
fn parse_entries(reply: Value) -> Result<Vec<Entry>, StoreError> {
    let bad = |what: &str| StoreError::Protocol(format!("stream entry: {what}"));
    let Value::Array(entries) = reply else {
        return Err(bad("not an array"));
    };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(parts) = entry else {
            return Err(bad("entry not an array"));
        };
        let [id, fields] = <[Value; 2]>::try_from(parts).map_err(|_| bad("entry not a pair"))?;
        let stream_id: StreamId = text(&id)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("id"))?;
        let Value::Array(fields) = fields else {
            return Err(bad("fields not an array"));
        };
        let mut raw = RawFields::default();
        for pair in fields.chunks_exact(2) {
            if let (Value::BulkString(name), Value::BulkString(value)) = (&pair[0], &pair[1]) {
                raw.set(name, value);
            }
        }
        out.push((stream_id, raw.decode(stream_id)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn urls_are_reported_without_their_password() {
        assert_eq!(redact("redis://:s3cret@db:6379/0"), "redis://***@db:6379/0");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
