//! PostgreSQL for the stateful tests: a fresh database per test on the
//! shared server, a TCP proxy that can cut the line, and a temporary TLS
//! server of the test's own.
//!
//! The shared server is the one CI starts: 127.0.0.1:5432, user `postgres`,
//! trust authentication. When it is missing a test is skipped with a
//! message, except under `CI=true`, where it fails.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Host and port of the shared test server.
pub const SHARED_SERVER: (&str, u16) = ("127.0.0.1", 5432);

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Run `psql` against `db` on `port` and return its unaligned output.
pub fn psql(port: u16, db: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
        .args(["-d", db, "-c", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether the shared server answers; panics under `CI=true` when not.
pub fn shared_server_available() -> bool {
    let up = Command::new("pg_isready")
        .args([
            "-h",
            SHARED_SERVER.0,
            "-p",
            &SHARED_SERVER.1.to_string(),
            "-q",
        ])
        .status()
        .is_ok_and(|s| s.success());
    if !up {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PostgreSQL is not running on 127.0.0.1:5432, and CI=true needs it"
        );
        eprintln!("skipped: PostgreSQL is not running on 127.0.0.1:5432");
    }
    up
}

/// A database of its own for one test, dropped (with its connections) at
/// the end.
pub struct TestDb {
    /// The database's name.
    pub name: String,
}

impl TestDb {
    /// A fresh, empty database on the shared server, or `None` (outside CI)
    /// when there is no server.
    pub fn create() -> Option<TestDb> {
        if !shared_server_available() {
            return None;
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "qimem_test_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        psql(
            SHARED_SERVER.1,
            "postgres",
            &format!("CREATE DATABASE {name}"),
        );
        Some(TestDb { name })
    }

    /// `DATABASE_URL` for this database, through `port` (the server's own,
    /// or a proxy's).
    pub fn url_via(&self, port: u16) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{port}/{}?sslmode=disable",
            self.name
        )
    }

    /// `DATABASE_URL` for this database.
    pub fn url(&self) -> String {
        self.url_via(SHARED_SERVER.1)
    }

    /// Run SQL in this database.
    pub fn sql(&self, sql: &str) -> String {
        psql(SHARED_SERVER.1, &self.name, sql)
    }

    /// The `pg_dump` of this database (schema and data, plain SQL).
    pub fn dump(&self) -> String {
        let out = Command::new("pg_dump")
            .args(["-h", SHARED_SERVER.0, "-p", &SHARED_SERVER.1.to_string()])
            .args(["-U", "postgres", "-d", &self.name])
            .output()
            .expect("run pg_dump");
        assert!(out.status.success(), "pg_dump failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                "-X",
                "-q",
                "-h",
                "127.0.0.1",
                "-p",
                "5432",
                "-U",
                "postgres",
            ])
            .args(["-d", "postgres", "-c"])
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

/// A TCP proxy on a free loopback port that forwards to a target until
/// cut, to make a database unreachable without stopping it.
pub struct Proxy {
    /// The port the proxy listens on.
    pub port: u16,
    open: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Proxy {
    /// Forward a new loopback port to `target_port` on 127.0.0.1.
    pub fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("proxy address").port();
        let open = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (o, s, c) = (open.clone(), stop.clone(), conns.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                if !o.load(Ordering::Relaxed) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    continue;
                };
                let mut list = c.lock().expect("proxy lock");
                for stream in [&client, &server] {
                    if let Ok(clone) = stream.try_clone() {
                        list.push(clone);
                    }
                }
                drop(list);
                pipe(&client, &server);
                pipe(&server, &client);
            }
        });
        Proxy {
            port,
            open,
            stop,
            conns,
        }
    }

    /// Drop every open connection and refuse new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::Relaxed);
        for stream in self.conns.lock().expect("proxy lock").drain(..) {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Forward again.
    pub fn restore(&self) {
        self.open.store(true, Ordering::Relaxed);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.cut();
    }
}

fn pipe(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}

/// A PostgreSQL server of the test's own, in a temporary directory, with
/// `ssl = on` and the given certificate; stopped and removed on drop.
/// PostgreSQL refuses to run as root, so as root it runs as `postgres`.
pub struct TlsServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    dir: PathBuf,
    pg_ctl: PathBuf,
}

impl TlsServer {
    /// Start a server with `cert_pem` and `key_pem` on a free port.
    pub fn start(cert_pem: &str, key_pem: &str) -> TlsServer {
        let bin = pg_bin_dir();
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = std::env::temp_dir().join(format!(
            "qimem-pgtls-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("server dir");
        let data = dir.join("data");
        let as_postgres = is_root();
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir));
        }
        run(as_user(as_postgres, &bin.join("initdb"))
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(&data));

        std::fs::write(data.join("server.crt"), cert_pem).expect("write cert");
        std::fs::write(data.join("server.key"), key_pem).expect("write key");
        let conf = format!(
            "\nport = {port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n\
             fsync = off\n",
            dir.display()
        );
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("postgresql.conf");
        file.write_all(conf.as_bytes()).expect("configure");
        run(Command::new("chmod")
            .arg("600")
            .arg(data.join("server.key")));
        if as_postgres {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir));
        }

        let pg_ctl = bin.join("pg_ctl");
        run(as_user(as_postgres, &pg_ctl)
            .args(["-w", "-t", "60", "-D"])
            .arg(&data)
            .arg("-l")
            .arg(dir.join("log"))
            .arg("start"));
        TlsServer { port, dir, pg_ctl }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = as_user(is_root(), &self.pg_ctl)
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.join("data"))
            .arg("stop")
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn as_user(as_postgres: bool, program: &Path) -> Command {
    if as_postgres {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run a PostgreSQL tool");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The directory of the server programs (`initdb`, `pg_ctl`).
fn pg_bin_dir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("pg_ctl").exists() {
            return dir;
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    found.sort();
    found
        .pop()
        .filter(|d| d.join("pg_ctl").exists())
        .expect("PostgreSQL server programs (initdb, pg_ctl) are not installed")
}
