//! A Unix-socket proxy in front of a test Redis that can cut Redis's answers: a command still
//! reaches Redis and runs, but its answer never comes back and the connection is closed, as
//! when Redis goes away between storing a commit and answering it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};

/// The proxy; it stops with the runtime that started it.
pub struct AnswerCutter {
    socket: PathBuf,
    cut: Arc<AtomicBool>,
    _dir: TempDir,
}

impl AnswerCutter {
    /// Listens on a socket of its own and forwards every connection to `upstream`.
    pub fn start(upstream: &Path) -> AnswerCutter {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("cutter.sock");
        let listener = UnixListener::bind(&socket).expect("bind the proxy socket");
        let cut = Arc::new(AtomicBool::new(false));
        let (upstream, flag) = (upstream.to_owned(), Arc::clone(&cut));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = UnixStream::connect(&upstream).await else {
                    continue;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
                });
                let cut = Arc::clone(&flag);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match from_server.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        // Cutting drops both halves here: the client reads the end of the stream.
                        if cut.load(Ordering::SeqCst)
                            || to_client.write_all(&buf[..n]).await.is_err()
                        {
                            break;
                        }
                    }
                });
            }
        });
        AnswerCutter {
            socket,
            cut,
            _dir: dir,
        }
    }

    /// The `unix://` URL to connect to instead of Redis's.
    pub fn url(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// From now on, cut (`true`) or pass (`false`) Redis's answers.
    pub fn cut_answers(&self, cut: bool) {
        self.cut.store(cut, Ordering::SeqCst);
    }
}
