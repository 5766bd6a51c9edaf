//! End-to-end: the real `qimem` binary in stateful mode on the real
//! PostgreSQL server (127.0.0.1:5432), each test in a database of its own.
//! Under `CI=true` a missing server fails these tests instead of skipping.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use qimem_component::model::{Algorithm, KeyRecord, KeyState};
use qimem_component::seal::{MasterKey, MasterKeys};
use qimem_tests::pg::{Proxy, SHARED_SERVER, TestDb, TlsServer, psql};
use qimem_tests::{Host, TEST_MASTER_KEY, run_to_end};
use serde_json::{Value, json};
use uuid::Uuid;

/// A second master key, for master-key rotation.
const NEXT_MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_string()
}

fn stateful(url: &str) -> [(&'static str, String); 2] {
    [
        ("QIMEM_MODE", "stateful".into()),
        ("DATABASE_URL", url.into()),
    ]
}

fn start(url: &str, extra: &[(&str, &str)]) -> Host {
    let base = stateful(url);
    let mut env: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend_from_slice(extra);
    Host::start(&env)
}

fn fingerprint(master_key: &str) -> String {
    MasterKey::parse(master_key)
        .expect("valid master key")
        .fingerprint()
        .to_string()
}

fn encrypt(host: &Host, key_id: &str, text: &str) -> String {
    let (status, enc) = host.post("/v1/encrypt", &json!({ "key_id": key_id, "input": text }));
    assert_eq!(status, 200, "{enc}");
    s(&enc["envelope"])
}

fn decrypt(host: &Host, envelope: &str) -> (u16, Value) {
    host.post("/v1/decrypt", &json!({ "input": envelope }))
}

/// The report a maintenance command prints last, after its JSON logs.
fn last_json_line(stdout: &str) -> Value {
    let line = stdout
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|_| panic!("no JSON report in {stdout}"))
}

fn create(host: &Host) -> Value {
    let (status, key) = host.post("/v1/keys", &json!({}));
    assert_eq!(status, 201, "{key}");
    key
}

#[test]
fn keys_survive_a_restart_and_three_rotations_keep_one_lineage() {
    let Some(db) = TestDb::create() else { return };
    let host = start(&db.url(), &[]);
    assert_eq!(host.get("/health"), (200, json!({ "status": "ok" })));
    let key = create(&host);
    let id = s(&key["key_id"]);
    let lineage_id = s(&key["lineage_id"]);
    let envelope = encrypt(&host, &id, "kept across restarts");
    let (status, v2) = host.post(&format!("/v1/keys/{id}/rotate"), &json!({}));
    assert_eq!(status, 200, "{v2}");
    drop(host);

    // A new process on the same database opens the old envelope and goes on
    // rotating the lineage it did not create.
    let host = start(&db.url(), &[]);
    let (status, dec) = decrypt(&host, &envelope);
    assert_eq!(
        (status, s(&dec["plaintext"])),
        (200, "kept across restarts".into())
    );
    let mut current = s(&v2["key_id"]);
    for version in [3, 4] {
        let (status, next) = host.post("/v1/rotate", &json!({ "key_id": current }));
        assert_eq!(
            (status, next["version"].clone()),
            (200, json!(version)),
            "{next}"
        );
        current = s(&next["key_id"]);
    }
    let (status, err) = host.post("/v1/rotate", &json!({ "key_id": id }));
    assert_eq!(
        (status, s(&err["error"]["current_key_id"])),
        (409, current.clone())
    );

    let (status, lineage) = host.get(&format!("/v1/keys/{current}/lineage"));
    assert_eq!(status, 200);
    let keys = lineage["keys"].as_array().expect("keys").clone();
    let versions: Vec<u64> = keys
        .iter()
        .map(|k| k["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2, 3, 4]);
    let active: Vec<&Value> = keys.iter().filter(|k| k["state"] == "active").collect();
    assert_eq!(active.len(), 1);
    assert_eq!(s(&active[0]["key_id"]), current);
    for pair in keys.windows(2) {
        assert_eq!(pair[1]["parent_id"], pair[0]["key_id"]);
    }
    assert_eq!(db.sql("SELECT COUNT(*) FROM keys"), "4");
    let (status, dec) = decrypt(&host, &envelope);
    assert_eq!(
        (status, s(&dec["plaintext"])),
        (200, "kept across restarts".into())
    );

    // The audit trail is in the database and survives the restart too.
    let (status, audit) = host.get(&format!("/v1/audit?lineage_id={lineage_id}&limit=10"));
    assert_eq!(status, 200);
    let actions: Vec<String> = audit["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| s(&e["action"]))
        .collect();
    assert_eq!(actions, ["created", "rotated", "rotated", "rotated"]);
    let (status, page) = host.get(&format!("/v1/audit?lineage_id={lineage_id}&limit=2"));
    assert_eq!(
        (status, page["events"].as_array().map(Vec::len)),
        (200, Some(2))
    );
    let next = page["next"].as_u64().expect("next");
    let (_, rest) = host.get(&format!(
        "/v1/audit?lineage_id={lineage_id}&after={next}&limit=10"
    ));
    assert_eq!(rest["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(db.sql("SELECT COUNT(*) FROM audit_events"), "4");
}

#[test]
fn two_hosts_racing_sixteen_rotations_leave_consecutive_versions_and_one_active_key() {
    let Some(db) = TestDb::create() else { return };
    let hosts = Arc::new([start(&db.url(), &[]), start(&db.url(), &[])]);
    let first = create(&hosts[0]);
    let first_id = s(&first["key_id"]);
    let lineage = s(&first["lineage_id"]);
    let envelopes = Arc::new(Mutex::new(Vec::new()));
    let conflicts = Arc::new(Mutex::new(0u32));

    let workers: Vec<_> = (0..16)
        .map(|i| {
            let (hosts, envelopes, conflicts) =
                (hosts.clone(), envelopes.clone(), conflicts.clone());
            let (lineage, first_id) = (lineage.clone(), first_id.clone());
            std::thread::spawn(move || {
                let host = &hosts[i % 2];
                let text = format!("message {i}");
                let envelope = encrypt(host, &lineage, &text);
                envelopes.lock().unwrap().push((envelope, text));
                // Rotate whatever key this worker believes is current; a
                // lost race names the winner, which is tried next.
                let mut current = first_id;
                for _ in 0..64 {
                    let (status, body) = host.post("/v1/rotate", &json!({ "key_id": current }));
                    match status {
                        200 => return,
                        409 => {
                            *conflicts.lock().unwrap() += 1;
                            current = s(&body["error"]["current_key_id"]);
                        }
                        other => panic!("rotate answered {other}: {body}"),
                    }
                }
                panic!("worker {i} never won a rotation");
            })
        })
        .collect();
    let failed = workers.into_iter().filter_map(|w| w.join().err()).count();
    if failed > 0 {
        for host in hosts.iter() {
            let logs = host.logs();
            eprintln!("{}", logs[logs.len().saturating_sub(20)..].join("\n"));
        }
        panic!("{failed} workers failed");
    }

    let (status, lin) = hosts[1].get(&format!("/v1/keys/{first_id}/lineage"));
    assert_eq!(status, 200);
    let keys = lin["keys"].as_array().expect("keys");
    let versions: Vec<u64> = keys
        .iter()
        .map(|k| k["version"].as_u64().unwrap())
        .collect();
    assert_eq!(versions, (1..=17).collect::<Vec<u64>>());
    assert_eq!(keys.iter().filter(|k| k["state"] == "active").count(), 1);
    assert_eq!(keys[16]["state"], "active");
    assert_eq!(
        db.sql("SELECT COUNT(*) FROM keys WHERE state = 'active'"),
        "1"
    );
    eprintln!("lost races: {}", conflicts.lock().unwrap());

    for (envelope, text) in envelopes.lock().unwrap().iter() {
        for host in hosts.iter() {
            let (status, dec) = decrypt(host, envelope);
            assert_eq!((status, s(&dec["plaintext"])), (200, text.clone()));
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every text form in which `bytes` could show up in a dump.
fn forms(bytes: &[u8]) -> Vec<String> {
    vec![
        hex(bytes),
        hex(bytes).to_uppercase(),
        STANDARD.encode(bytes),
    ]
}

#[test]
fn pg_dump_holds_no_key_bytes_and_no_plaintext() {
    let Some(db) = TestDb::create() else { return };
    let host = start(&db.url(), &[]);
    let key = create(&host);
    let id = s(&key["key_id"]);
    encrypt(&host, &id, "the plaintext that must stay out");

    // A key whose bytes the test chose, imported through the API.
    let known: Vec<u8> = (0u8..32)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let (status, imported) = host.post(
        "/v1/keys/import",
        &json!({ "material_b64": STANDARD.encode(&known), "algorithm": "aes-256-gcm" }),
    );
    assert_eq!(status, 201, "import: {imported}");
    let imported = Some(s(&imported["key_id"]));

    // The created key's bytes, recovered the way only a master-key holder
    // can: by unsealing its record.
    let row = db.sql(&format!(
        "SELECT lineage_id, version, algorithm, seal_key_id, encode(sealed_material, 'hex') \
         FROM keys WHERE id = '{id}'"
    ));
    let cols: Vec<&str> = row.split('|').collect();
    let sealed: Vec<u8> = (0..cols[4].len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cols[4][i..i + 2], 16).unwrap())
        .collect();
    let record = KeyRecord {
        id: Uuid::parse_str(&id).unwrap(),
        lineage_id: Uuid::parse_str(cols[0]).unwrap(),
        version: cols[1].parse().unwrap(),
        parent_id: None,
        algorithm: Algorithm::from_name(cols[2]).unwrap(),
        state: KeyState::Active,
        created_at: 0,
        labels: vec![],
        sealed,
        seal_key_id: cols[3].to_string(),
    };
    let keys = MasterKeys::new(MasterKey::parse(TEST_MASTER_KEY).unwrap(), None);
    let material = keys
        .unseal(&record)
        .expect("the test's master key opens the record");
    assert_eq!(material.expose().len(), 32);

    let dump = db.dump();
    assert!(
        dump.contains(&id),
        "the dump should hold the key's metadata"
    );
    let mut secrets = forms(material.expose());
    if imported.is_some() {
        assert!(dump.contains(imported.as_deref().unwrap()));
        secrets.extend(forms(&known));
    }
    secrets.push(TEST_MASTER_KEY.to_string());
    secrets.push("the plaintext that must stay out".into());
    for secret in secrets {
        assert!(!dump.contains(&secret), "pg_dump contains a secret");
    }
}

#[test]
fn a_cut_database_gives_503_and_the_host_recovers_without_a_restart() {
    let Some(db) = TestDb::create() else { return };
    let proxy = Proxy::start(SHARED_SERVER.1);
    let url = db.url_via(proxy.port);
    let timeouts = [
        ("QIMEM_DB_CONNECT_TIMEOUT_MS", "1000"),
        ("QIMEM_DB_STATEMENT_TIMEOUT_MS", "1000"),
    ];
    let host = start(&url, &timeouts);
    let id = s(&create(&host)["key_id"]);
    let envelope = encrypt(&host, &id, "before the outage");

    proxy.cut();
    let began = Instant::now();
    let (status, health) = host.get("/health");
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["status"], "unhealthy");
    assert!(health["checks"]["database"].is_string(), "{health}");
    let (status, err) = host.post("/v1/encrypt", &json!({ "key_id": id, "input": "x" }));
    assert_eq!(
        (status, s(&err["error"]["code"])),
        (503, "storage_unavailable".into())
    );
    let (status, err) = decrypt(&host, &envelope);
    assert_eq!(
        (status, s(&err["error"]["code"])),
        (503, "storage_unavailable".into())
    );
    assert_eq!(host.post("/v1/keys", &json!({})).0, 503);
    assert!(
        began.elapsed() < Duration::from_secs(20),
        "answers took too long"
    );
    assert_eq!(host.get("/live").0, 200);

    proxy.restore();
    let deadline = Instant::now() + Duration::from_secs(30);
    while host.get("/health").0 != 200 {
        assert!(Instant::now() < deadline, "the host did not recover");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (status, dec) = decrypt(&host, &envelope);
    assert_eq!(
        (status, s(&dec["plaintext"])),
        (200, "before the outage".into())
    );
    assert_eq!(host.post("/v1/keys", &json!({})).0, 201);
}

#[test]
fn reseal_moves_every_record_to_the_new_master_key_so_the_old_one_can_go() {
    let Some(db) = TestDb::create() else { return };
    let host = start(&db.url(), &[]);
    let mut envelopes = Vec::new();
    for i in 0..5 {
        let id = s(&create(&host)["key_id"]);
        envelopes.push((
            encrypt(&host, &id, &format!("secret {i}")),
            format!("secret {i}"),
        ));
    }
    drop(host);
    let old_fp = fingerprint(TEST_MASTER_KEY);
    let new_fp = fingerprint(NEXT_MASTER_KEY);
    assert_eq!(db.sql("SELECT DISTINCT seal_key_id FROM keys"), old_fp);

    // The new master key alone cannot open the records...
    let base = stateful(&db.url());
    let env_with = |previous: Option<&'static str>| {
        let mut env: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.push(("QIMEM_MASTER_KEY", NEXT_MASTER_KEY));
        if let Some(previous) = previous {
            env.push(("QIMEM_MASTER_KEY_PREVIOUS", previous));
        }
        env
    };
    let host = Host::start_raw(&env_with(None));
    assert_ne!(decrypt(&host, &envelopes[0].0).0, 200);
    drop(host);
    // ...with the previous one configured, they open.
    let host = Host::start_raw(&env_with(Some(TEST_MASTER_KEY)));
    let (status, dec) = decrypt(&host, &envelopes[0].0);
    assert_eq!((status, s(&dec["plaintext"])), (200, "secret 0".into()));

    let (status, out, err) = run_to_end(
        &["reseal", "--batch-size", "2"],
        &env_with(Some(TEST_MASTER_KEY)),
    );
    assert!(status.success(), "reseal failed: {err}");
    let report = last_json_line(&out);
    assert_eq!(report["resealed"], 5, "{report}");
    assert_eq!(report["failed"], 0);
    assert_eq!(
        report["records_by_seal_key_id"],
        json!({ new_fp.clone(): 5 })
    );
    assert_eq!(db.sql("SELECT DISTINCT seal_key_id FROM keys"), new_fp);
    let (status, out, _) = run_to_end(&["reseal"], &env_with(Some(TEST_MASTER_KEY)));
    assert!(status.success());
    assert_eq!(last_json_line(&out)["resealed"], 0);
    drop(host);

    // The previous master key is no longer needed.
    let host = Host::start_raw(&env_with(None));
    for (envelope, text) in &envelopes {
        let (status, dec) = decrypt(&host, envelope);
        assert_eq!((status, s(&dec["plaintext"])), (200, text.clone()));
    }
}

#[test]
fn three_replicas_starting_at_once_migrate_exactly_once() {
    let Some(db) = TestDb::create() else { return };
    let url = db.url();
    let began = Instant::now();
    let replicas: Vec<Host> = (0..3)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || start(&url, &[]))
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|t| t.join().expect("replica"))
        .collect();
    eprintln!(
        "3 replicas listening on an empty database after {} ms",
        began.elapsed().as_millis()
    );

    assert_eq!(db.sql("SELECT COUNT(*) FROM refinery_schema_history"), "1");
    let applied: usize = replicas
        .iter()
        .flat_map(|r| r.logs())
        .filter(|l| l.contains("database migrations checked") && l.contains("\"applied\":1"))
        .count();
    assert_eq!(applied, 1, "exactly one replica applies the migration");
    let id = s(&create(&replicas[0])["key_id"]);
    assert_eq!(replicas[2].get(&format!("/v1/keys/{id}")).0, 200);

    // The migrate command finds nothing left to do.
    let base = stateful(&url);
    let env: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, out, err) = run_to_end(&["migrate"], &env);
    assert!(status.success(), "{err}");
    assert_eq!(last_json_line(&out), json!({ "applied": [] }));
}

#[test]
fn a_bad_database_url_or_pool_size_exits_with_status_2() {
    let (status, _, err) = run_to_end(
        &[],
        &[
            ("QIMEM_MODE", "stateful"),
            ("QIMEM_MASTER_KEY", TEST_MASTER_KEY),
            (
                "DATABASE_URL",
                "postgres://u:pa55word@127.0.0.1/x?sslmode=sometimes",
            ),
        ],
    );
    assert_eq!(status.code(), Some(2));
    assert!(
        err.contains("sslmode") && !err.contains("pa55word"),
        "{err}"
    );
    let (status, _, err) = run_to_end(
        &[],
        &[
            ("QIMEM_MODE", "stateful"),
            ("QIMEM_MASTER_KEY", TEST_MASTER_KEY),
            ("DATABASE_URL", "postgres://127.0.0.1/x"),
            ("QIMEM_DB_POOL_SIZE", "zero"),
        ],
    );
    assert_eq!(status.code(), Some(2));
    assert!(err.contains("QIMEM_DB_POOL_SIZE"), "{err}");
}

/// A self-signed certificate for 127.0.0.1 and localhost: (cert, key).
fn self_signed() -> (String, String) {
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let cert = rcgen::generate_simple_self_signed(names).expect("certificate");
    (cert.cert.pem(), cert.signing_key.serialize_pem())
}

#[test]
fn tls_is_used_with_require_and_verify_full_rejects_the_wrong_root() {
    // The temporary server is a PostgreSQL of the test's own.
    if !qimem_tests::pg::shared_server_available() {
        return;
    }
    let (cert, key) = self_signed();
    let server = TlsServer::start(&cert, &key);
    let dir = std::env::temp_dir().join(format!("qimem-tls-roots-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let right = dir.join("right.pem");
    let wrong = dir.join("wrong.pem");
    std::fs::write(&right, &cert).unwrap();
    std::fs::write(&wrong, self_signed().0).unwrap();
    let url = |mode: &str, extra: &str| {
        format!(
            "postgres://postgres@127.0.0.1:{}/postgres?sslmode={mode}\
             &application_name=qimem-tls-test{extra}",
            server.port
        )
    };

    let host = start(&url("require", ""), &[]);
    create(&host);
    let ssl = psql(
        server.port,
        "postgres",
        "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE a.application_name = 'qimem-tls-test'",
    );
    assert!(!ssl.is_empty(), "the host holds no connection");
    assert!(
        ssl.lines().all(|l| l == "t"),
        "a connection without TLS: {ssl}"
    );
    drop(host);

    let env_for = |url: String| {
        vec![
            ("QIMEM_MASTER_KEY".to_string(), TEST_MASTER_KEY.to_string()),
            ("DATABASE_URL".to_string(), url),
        ]
    };
    let run = |url: String| {
        let env = env_for(url);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        run_to_end(&["migrate"], &env)
    };
    let root = |p: &std::path::Path| format!("&sslrootcert={}", p.display());
    let (status, _, err) = run(url("verify-full", &root(&right)));
    assert!(status.success(), "verify-full with the right root: {err}");
    let (status, _, err) = run(url("verify-ca", &root(&right)));
    assert!(status.success(), "verify-ca with the right root: {err}");
    let (status, _, err) = run(url("verify-full", &root(&wrong)));
    assert!(
        !status.success(),
        "verify-full accepted a certificate from the wrong root"
    );
    assert!(
        err.contains("cannot connect to PostgreSQL") && err.to_lowercase().contains("certificate"),
        "unclear error: {err}"
    );
    let (status, _, err) = run(url("verify-full", "&sslrootcert=/nonexistent/root.pem"));
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("sslrootcert"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_destroyed_key_keeps_its_row_but_loses_its_sealed_material() {
    let Some(db) = TestDb::create() else { return };
    let host = start(&db.url(), &[]);
    let v1 = create(&host);
    let id = s(&v1["key_id"]);
    let envelope = encrypt(&host, &id, "shredded");
    let (status, v2) = host.post(&format!("/v1/keys/{id}/rotate"), &json!({}));
    assert_eq!(status, 200, "{v2}");

    let sealed_len = |key: &str| {
        db.sql(&format!(
            "SELECT state, octet_length(sealed_material) FROM keys WHERE id = '{key}'"
        ))
    };
    assert_eq!(sealed_len(&id), "retired|61");
    let (status, gone) = host.post(&format!("/v1/keys/{id}/destroy"), &json!({ "confirm": id }));
    assert_eq!((status, s(&gone["state"])), (200, "destroyed".into()));

    // The row, its lineage and its audit trail stay; the material does not.
    assert_eq!(sealed_len(&id), "destroyed|0");
    let (status, lineage) = host.get(&format!("/v1/keys/{}/lineage", s(&v2["key_id"])));
    assert_eq!(status, 200);
    assert_eq!(lineage["keys"].as_array().map(Vec::len), Some(2));
    let (status, err) = decrypt(&host, &envelope);
    assert_eq!(
        (status, s(&err["error"]["code"])),
        (410, "key_destroyed".into())
    );
    let trail = db.sql(&format!(
        "SELECT string_agg(action, ',' ORDER BY seq) FROM audit_events WHERE key_id = '{id}'"
    ));
    assert_eq!(trail, "created,destroyed");
}

#[test]
fn metrics_show_the_database_pool_in_stateful_mode() {
    let Some(db) = TestDb::create() else { return };
    let host = start(&db.url(), &[]);
    create(&host);
    let (status, _, text) = host.request("GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    let gauge = |state: &str| -> f64 {
        let prefix = format!("qimem_db_pool_connections{{state=\"{state}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(prefix.as_str()))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {prefix} sample in:\n{text}"))
    };
    // The create above opened at least one connection, now back in the pool.
    assert!(gauge("in_use") + gauge("idle") >= 1.0, "{text}");
    assert_eq!(gauge("waiting"), 0.0);
}
