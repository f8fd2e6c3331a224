//! A private `redis-server` child per test, on a Unix socket in a temp dir, killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A running private Redis.
pub struct TestRedis {
    child: Child,
    socket: PathBuf,
    _dir: TempDir,
}

impl TestRedis {
    /// Starts `redis-server` (or `$REDIS_SERVER_BIN`) and waits until it answers.
    pub fn start() -> TestRedis {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("redis.sock");
        let bin = std::env::var("REDIS_SERVER_BIN").unwrap_or_else(|_| "redis-server".into());
        let child = Command::new(&bin)
            .args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args([
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
            ])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {bin} (install redis-server): {e}"));
        let redis = TestRedis {
            child,
            socket,
            _dir: dir,
        };
        // Poll until the server is up: start-up only, never a sleep to wait for behaviour.
        let deadline = Instant::now() + Duration::from_secs(10);
        while !redis.socket.exists()
            || std::os::unix::net::UnixStream::connect(&redis.socket).is_err()
        {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        redis
    }

    /// The `unix://` URL of this server.
    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
