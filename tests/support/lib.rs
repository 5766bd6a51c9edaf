//! Test support: start the real `qimem` binary on a free port, talk to it
//! over HTTP, and capture everything it logs.

#![deny(unsafe_code)]
#![deny(missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

/// A master key the tests configure, so they can look for it in logs.
pub const TEST_MASTER_KEY: &str = "q1m3mTESTmasterKEYq1m3mTESTmasterKEYq1m3mTE=";

/// The `qimem` binary cargo built next to this test executable.
pub fn host_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/qimem
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target profile directory");
    let bin = dir.join("qimem");
    assert!(
        bin.exists(),
        "{} is missing: run the tests with `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// Where the tests keep wasmtime's compiled-code cache.
fn cache_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(|d| d.parent())
        .expect("target dir")
        .join("qimem-test-cache")
}

/// A running host process.
pub struct Host {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    lines: Arc<Mutex<Vec<String>>>,
    agent: ureq::Agent,
}

impl Host {
    /// Start the host with the test master key and `env` on top.
    pub fn start(env: &[(&str, &str)]) -> Host {
        let mut all = vec![("QIMEM_MASTER_KEY", TEST_MASTER_KEY)];
        all.extend_from_slice(env);
        Host::start_raw(&all)
    }

    /// Start the host with exactly `env` (plus bind, cache and log level).
    pub fn start_raw(env: &[(&str, &str)]) -> Host {
        let mut cmd = Command::new(host_binary());
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("QIMEM_BIND", "127.0.0.1:0")
            .env("QIMEM_CACHE_DIR", cache_dir())
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start qimem");

        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        for (stream, tx) in [
            (Box::new(stdout) as Box<dyn std::io::Read + Send>, Some(tx)),
            (Box::new(stderr), None),
        ] {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(tx) = &tx
                        && let Some(addr) = listening_address(&line)
                    {
                        let _ = tx.send(addr);
                    }
                    lines.lock().expect("log lock").push(line);
                }
            });
        }

        let addr = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                let logs = lines.lock().expect("log lock").join("\n");
                panic!("qimem did not start listening:\n{logs}");
            }
        };
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Host {
            child,
            base: format!("http://{addr}"),
            lines,
            agent,
        }
    }

    /// Send `body` (JSON text) with `content_type`; returns status and JSON.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> (u16, Value) {
        let url = format!("{}{}", self.base, path);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        let request = builder.body(body.to_vec()).expect("request");
        let mut resp = self
            .agent
            .run(request)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap_or_default();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path} -> {status}: not JSON: {text}"));
        (status, json)
    }

    /// POST a JSON value.
    pub fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            "POST",
            path,
            Some("application/json"),
            body.to_string().as_bytes(),
        )
    }

    /// GET a path.
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, None, b"")
    }

    /// Every line logged so far (standard output and error).
    pub fn logs(&self) -> Vec<String> {
        self.lines.lock().expect("log lock").clone()
    }

    /// Stop the process and return everything it logged.
    pub fn stop(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Give the reader threads a moment to drain the pipes.
        std::thread::sleep(Duration::from_millis(100));
        self.logs()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a `listening on http://ADDR` log line.
fn listening_address(line: &str) -> Option<String> {
    let json: Value = serde_json::from_str(line).ok()?;
    let message = json["fields"]["message"].as_str()?;
    message
        .strip_prefix("listening on http://")
        .map(str::to_string)
}

/// Run the host with `env` and expect it to exit at once; returns its exit
/// status and standard error.
pub fn run_to_exit(env: &[(&str, &str)]) -> (ExitStatus, String) {
    let out = Command::new(host_binary())
        .env_clear()
        .env("QIMEM_BIND", "127.0.0.1:0")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run qimem");
    (
        out.status,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}
