//! A private `redis-server` child per test, on a Unix socket in a temp dir, killed on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running private Redis.
pub struct TestRedis {
    child: Child,
    socket: PathBuf,
    durable: bool,
    dir: TempDir,
}

impl TestRedis {
    /// Starts `redis-server` (or `$REDIS_SERVER_BIN`) keeping nothing on disk, and waits until
    /// it answers.
    pub fn start() -> TestRedis {
        Self::start_keeping(false)
    }

    /// As [`TestRedis::start`], with an append-only file synced on every write
    /// (`appendfsync always`), so that [`TestRedis::restart`] and [`TestRedis::crash`] keep every
    /// write Redis answered.
    pub fn start_durable() -> TestRedis {
        Self::start_keeping(true)
    }

    fn start_keeping(durable: bool) -> TestRedis {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("redis.sock");
        let child = spawn(&socket, dir.path(), durable);
        let redis = TestRedis {
            child,
            socket,
            durable,
            dir,
        };
        redis.wait_until_up();
        redis
    }

    /// Shuts the server down as an operator would (`SIGTERM`: it writes its data out) and starts
    /// it again on the same socket and directory.
    pub fn restart(&mut self) {
        self.stop();
        self.start_again();
    }

    /// Shuts the server down as an operator would (`SIGTERM`: it writes its data out).
    pub fn stop(&mut self) {
        let stopped = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(stopped.success(), "redis-server would not stop");
        self.child.wait().expect("redis-server exits");
    }

    /// Kills the server (`SIGKILL`: nothing is written out) and starts it again on the same
    /// socket and directory.
    pub fn crash(&mut self) {
        self.child.kill().expect("SIGKILL redis-server");
        self.child.wait().expect("redis-server exits");
        self.start_again();
    }

    /// Freezes the server (`SIGSTOP`): connections stay open and nothing is answered, as with
    /// a Redis stalled by a slow disk or a paused VM.
    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server go on (`SIGCONT`).
    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let sent = Command::new("kill")
            .args([which, &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "kill {which} failed");
    }

    /// Starts the server again after [`TestRedis::stop`], on the same socket and directory.
    pub fn start_again(&mut self) {
        self.child = spawn(&self.socket, self.dir.path(), self.durable);
        self.wait_until_up();
    }

    /// Polls until the server is up and has loaded its data (`PING` answers `PONG`, not
    /// `LOADING`): start-up only, never a sleep to wait for behaviour.
    fn wait_until_up(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.answers_ping() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    fn answers_ping(&self) -> bool {
        use std::io::{Read, Write};
        let Ok(mut conn) = std::os::unix::net::UnixStream::connect(&self.socket) else {
            return false;
        };
        let mut answer = [0u8; 5];
        conn.write_all(b"PING\r\n").is_ok()
            && conn.read_exact(&mut answer).is_ok()
            && &answer == b"+PONG"
    }

    /// The server's socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The `unix://` URL of this server.
    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

/// `redis-server` on `socket` with its files in `dir`.
fn spawn(socket: &Path, dir: &Path, durable: bool) -> Child {
    let bin = std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
    Command::new(&bin)
        .args(["--port", "0", "--unixsocket"])
        .arg(socket)
        .args(["--unixsocketperm", "700", "--save", "", "--appendonly"])
        .arg(if durable { "yes" } else { "no" })
        .args(["--appendfsync", "always"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin} (install redis-server): {e}"))
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
