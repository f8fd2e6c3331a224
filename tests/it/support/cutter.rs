//! A Unix-socket proxy in front of a test Redis that can cut Redis's answers: a command still
//! reaches Redis and runs, but its answer never comes back and the connection is closed, as
//! when Redis goes away between storing a commit and answering it. It can also sever the link
//! both ways: connections are closed and new ones refused until it is restored, as when the
//! network between a client and Redis fails while Redis itself goes on serving others.

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
    severed: Arc<AtomicBool>,
    _dir: TempDir,
}

impl AnswerCutter {
    /// Listens on a socket of its own and forwards every connection to `upstream`.
    pub fn start(upstream: &Path) -> AnswerCutter {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("cutter.sock");
        let listener = UnixListener::bind(&socket).expect("bind the proxy socket");
        let cut = Arc::new(AtomicBool::new(false));
        let severed = Arc::new(AtomicBool::new(false));
        let (upstream, flag, sever) = (upstream.to_owned(), Arc::clone(&cut), Arc::clone(&severed));
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if sever.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let Ok(server) = UnixStream::connect(&upstream).await else {
                    continue;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let severed = Arc::clone(&sever);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match from_client.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if severed.load(Ordering::SeqCst)
                            || to_server.write_all(&buf[..n]).await.is_err()
                        {
                            break;
                        }
                    }
                });
                let (cut, severed) = (Arc::clone(&flag), Arc::clone(&sever));
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = tokio::select! {
                            read = from_server.read(&mut buf) => match read {
                                Ok(0) | Err(_) => break,
                                Ok(n) => n,
                            },
                            // Severing closes idle connections too, not only busy ones.
                            _ = until(&severed) => break,
                        };
                        // Cutting drops both halves here: the client reads the end of the stream.
                        if cut.load(Ordering::SeqCst)
                            || severed.load(Ordering::SeqCst)
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
            severed,
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

    /// Severs (`true`) or restores (`false`) the link: while severed, every connection through
    /// the proxy is closed and new ones are closed at once.
    pub fn sever(&self, severed: bool) {
        self.severed.store(severed, Ordering::SeqCst);
    }
}

/// Resolves once `flag` is set (polled: the proxy is test scaffolding).
async fn until(flag: &AtomicBool) {
    while !flag.load(Ordering::SeqCst) {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
