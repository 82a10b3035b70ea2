//! Shared test support: child processes on loopback that die with the test,
//! free ports, temporary directories and bounded polling (never blind sleeps).

#![allow(dead_code)]

pub mod prometheus;
pub mod sim;
pub mod webhook;

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (bound and released; the child binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A loopback address with a free port.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// An HTTP client that never uses a proxy and gives up after 10 s.
pub fn http() -> reqwest::Client {
    gameday::tls::http_builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("http client")
}

/// Poll `check` every 100 ms until it returns `Some`, or fail after `timeout`
/// with `what` in the message.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A child process with its own temporary directory, listening on
/// 127.0.0.1:`port`; killed by PID (and reaped) on drop.
pub struct Proc {
    pub name: String,
    pub port: u16,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Proc {
    /// Spawn `program` with `args` (which may mention `{dir}` and `{port}`).
    pub fn spawn(name: &str, program: &str, args: &[&str]) -> Proc {
        let dir = tempfile::tempdir().expect("temp dir");
        Self::spawn_in(name, program, args, dir)
    }

    /// Like [`Proc::spawn`] with a directory prepared by the caller.
    pub fn spawn_in(name: &str, program: &str, args: &[&str], dir: tempfile::TempDir) -> Proc {
        let port = free_port();
        let d = dir.path().display().to_string();
        let args: Vec<String> = args
            .iter()
            .map(|a| a.replace("{dir}", &d).replace("{port}", &port.to_string()))
            .collect();
        let log = std::fs::File::create(dir.path().join("output.log")).expect("log file");
        let log2 = log.try_clone().expect("log file");
        let child = Command::new(program)
            .args(&args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        Proc {
            name: name.to_string(),
            port,
            dir,
            child,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The child's combined output so far (for failure messages).
    pub fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("output.log")).unwrap_or_default()
    }

    /// Fail with the child's output if it has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited with {status}:\n{}", self.name, self.output());
        }
    }

    /// Wait until `GET {base}{path}` answers 200.
    pub async fn wait_ready(&mut self, path: &str, timeout: Duration) {
        let url = format!("{}{}", self.base_url(), path);
        let client = http();
        let deadline = Instant::now() + timeout;
        loop {
            self.assert_running();
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} not ready at {url} after {timeout:?}:\n{}",
                    self.name,
                    self.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
