//! The operator surface: the OpenAPI document against the real server,
//! the CLI (`hash-token`, `check-config`, `--help`), the secure default,
//! and the deploy files against the ports and paths the host serves.

use qimem_tests::{Host, TEST_MASTER_KEY, run_command, test_tokens_json, token};
use serde_json::{Value, json};

const ZERO_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn repo_file(path: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn openapi() -> Value {
    serde_json::from_str(&repo_file("openapi/openapi.json")).expect("openapi.json is JSON")
}

/// A validator for `schema` whose `$ref`s resolve inside the document.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = schema.clone();
    if let Some(obj) = root.as_object_mut() {
        obj.insert("components".into(), doc["components"].clone());
    }
    jsonschema::draft202012::new(&root).expect("a valid JSON Schema")
}

#[test]
fn every_openapi_example_validates_against_its_schema() {
    let doc = openapi();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let mut media = Vec::new();
            if let Some(content) = op["requestBody"]["content"].as_object() {
                media.extend(content.values().map(|m| ("request".to_string(), m)));
            }
            for (status, resp) in op["responses"].as_object().unwrap() {
                if let Some(content) = resp["content"].as_object() {
                    media.extend(content.values().map(|m| (status.clone(), m)));
                }
            }
            for (what, m) in media {
                let v = validator(&doc, &m["schema"]);
                for (name, example) in m["examples"].as_object().into_iter().flatten() {
                    let value = &example["value"];
                    let errors: Vec<String> = v.iter_errors(value).map(|e| e.to_string()).collect();
                    assert!(
                        errors.is_empty(),
                        "{method} {path} {what} example {name}: {errors:?}"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 40, "only {checked} examples checked");
    // A wrong example is caught: the validator is not vacuous.
    let key = validator(&doc, &json!({"$ref": "#/components/schemas/Key"}));
    assert!(!key.is_valid(&json!({"key_id": "x"})));
}

#[test]
fn every_documented_route_answers_and_matches_its_schema() {
    let host = Host::start(&[("QIMEM_AUTH_TOKENS", &test_tokens_json())]);
    let all = token("all");
    let (_, key) = host.call_as(all, "POST", "/v1/keys", &json!({}));
    let id = key["key_id"].as_str().unwrap().to_string();

    // The served document is the one in the repository.
    let (status, served) = host.get("/v1/openapi.json");
    assert_eq!((status, &served), (200, &openapi()));

    let doc = openapi();
    let mut answered = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let method = method.to_uppercase();
            let target = path.replace("{key_id}", &id);
            let bodies: Vec<Value> =
                match op["requestBody"]["content"]["application/json"]["examples"].as_object() {
                    Some(examples) => examples
                        .values()
                        .map(|e| {
                            // Examples name example keys; use the real one.
                            let text = e["value"].to_string();
                            let text = text
                                .replace("0190c9a8-5b4e-7c1a-9d2f-3e4a5b6c7d8e", &id)
                                .replace("0190c9a8-5b4e-7c1a-9d2f-3e4a5b6c7d8f", &id);
                            serde_json::from_str(&text).unwrap()
                        })
                        .collect(),
                    None => vec![json!({})],
                };
            for body in bodies {
                let auth = format!("Bearer {all}");
                let payload = if method == "GET" {
                    String::new()
                } else {
                    body.to_string()
                };
                let (status, _, text) = host.request(
                    &method,
                    &target,
                    &[
                        ("authorization", &auth),
                        ("content-type", "application/json"),
                    ],
                    payload.as_bytes(),
                );
                assert_ne!(
                    status, 404,
                    "{method} {target} is documented but not served"
                );
                let documented = &op["responses"][status.to_string()];
                assert!(
                    documented.is_object(),
                    "{method} {path}: {status} is undocumented"
                );
                if let Some(schema) = documented["content"]["application/json"].get("schema") {
                    let value: Value = serde_json::from_str(&text).expect("JSON");
                    let errors: Vec<String> = validator(&doc, schema)
                        .iter_errors(&value)
                        .map(|e| e.to_string())
                        .collect();
                    assert!(
                        errors.is_empty(),
                        "{method} {path} -> {status} {text}: {errors:?}"
                    );
                }
                answered += 1;
            }
        }
    }
    assert!(answered >= 14, "{answered}");
}

#[test]
fn hash_token_prints_the_hash_or_a_whole_entry() {
    let (code, out, _) = run_command(&["hash-token"], &[], "s3cret\n");
    assert_eq!(code, 0);
    assert_eq!(
        out.trim(),
        "1ec1c26b50d5d3c58d9583181af8076655fe00756bf7285940ba3670f99fcba0"
    );
    let (code, out, _) = run_command(
        &[
            "hash-token",
            "--name",
            "ci",
            "--scope",
            "encrypt",
            "--scope",
            "decrypt",
        ],
        &[],
        "s3cret\n",
    );
    assert_eq!(code, 0);
    let entry: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(entry["name"], "ci");
    assert_eq!(entry["scopes"], json!(["encrypt", "decrypt"]));

    // A generated token is printed once, and its entry admits it.
    let (code, out, _) = run_command(
        &[
            "hash-token",
            "--generate",
            "--name",
            "g",
            "--scope",
            "keys:read",
        ],
        &[],
        "",
    );
    assert_eq!(code, 0);
    let (token, entry) = out.trim().split_once('\n').unwrap();
    let host = Host::start(&[("QIMEM_AUTH_TOKENS", &format!("[{entry}]"))]);
    assert_eq!(host.call_as(token, "GET", "/v1/keys", &json!({})).0, 200);
    assert_eq!(host.call_as("other", "GET", "/v1/keys", &json!({})).0, 401);

    let (code, _, err) = run_command(
        &["hash-token", "--name", "x", "--scope", "root"],
        &[],
        "t\n",
    );
    assert_eq!(code, 2, "{err}");
    let (code, _, _) = run_command(&["hash-token"], &[], "\n");
    assert_ne!(code, 0);
}

#[test]
fn every_command_has_help() {
    let (code, out, _) = run_command(&["--help"], &[], "");
    assert_eq!(code, 0);
    for cmd in ["serve", "gen-master-key", "hash-token", "check-config"] {
        assert!(out.contains(cmd), "{cmd} missing from --help:\n{out}");
        let (code, help, _) = run_command(&[cmd, "--help"], &[], "");
        assert_eq!(code, 0, "{cmd} --help");
        assert!(help.contains("Usage"), "{help}");
    }
}

#[test]
fn check_config_accepts_a_good_environment_and_prints_the_plan() {
    let tokens = test_tokens_json();
    let (code, out, err) = run_command(
        &["check-config"],
        &[
            ("QIMEM_MASTER_KEY", TEST_MASTER_KEY),
            ("QIMEM_BIND", "0.0.0.0:8080"),
            ("QIMEM_AUTH_TOKENS", &tokens),
        ],
        "",
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("listen: http://0.0.0.0:8080"), "{out}");
    assert!(out.contains("access control: 6 bearer tokens"), "{out}");
    assert!(out.contains("configuration ok"));
    assert!(!out.contains(TEST_MASTER_KEY) && !out.contains(token("admin")));
}

#[test]
fn check_config_catches_each_problem() {
    let unreachable = format!("postgres://u:pw-Qz9@127.0.0.1:{}/qimem", closed_port());
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("QIMEM_MASTER_KEY", "short")], "QIMEM_MASTER_KEY"),
        (
            vec![
                ("QIMEM_MODE", "stateful"),
                ("QIMEM_MASTER_KEY", ZERO_KEY),
                ("DATABASE_URL", "mysql://u:pw-Qz9@db/x"),
            ],
            "DATABASE_URL is not a valid PostgreSQL URL",
        ),
        (
            vec![("QIMEM_MODE", "stateful"), ("QIMEM_MASTER_KEY", ZERO_KEY)],
            "DATABASE_URL is required",
        ),
        (
            vec![
                ("QIMEM_MODE", "stateful"),
                ("QIMEM_MASTER_KEY", ZERO_KEY),
                ("DATABASE_URL", &unreachable),
            ],
            "unreachable",
        ),
        (
            vec![("QIMEM_BIND", "0.0.0.0:8080")],
            "not a loopback address",
        ),
        (
            vec![("QIMEM_AUTH_TOKENS", "[{\"name\":1}]")],
            "QIMEM_AUTH_TOKENS",
        ),
        (vec![("RUST_LOG", "qimem=loud")], "RUST_LOG"),
    ];
    for (env, expected) in cases {
        let (code, out, err) = run_command(&["check-config"], &env, "");
        assert_eq!(code, 1, "{env:?}: {out}{err}");
        assert!(err.contains(expected), "{env:?}: {err}");
        assert!(!err.contains("pw-Qz9") && !out.contains("pw-Qz9"), "{err}");
    }
}

/// A port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn without_tokens_a_public_bind_needs_qimem_auth_disabled() {
    let (code, _, err) = run_command(&[], &[("QIMEM_BIND", "0.0.0.0:0")], "");
    assert_eq!(code, 2);
    assert!(err.contains("QIMEM_AUTH=disabled"), "{err}");

    let host = Host::start(&[("QIMEM_BIND", "0.0.0.0:0"), ("QIMEM_AUTH", "disabled")]);
    assert_eq!(host.get("/health").0, 200);
    let logs = host.stop();
    assert!(
        logs.iter()
            .any(|l| l.contains("\"WARN\"") && l.contains("QIMEM_AUTH=disabled")),
        "{logs:?}"
    );

    let host = Host::start(&[]);
    let logs = host.stop();
    assert!(logs.iter().any(|l| l.contains("loopback")), "{logs:?}");
}

#[test]
fn deploy_files_use_the_ports_paths_and_flags_the_host_serves() {
    let host = Host::start(&[]);
    let k8s = repo_file("deploy/kubernetes/deployment.yaml");
    let unit = repo_file("deploy/systemd/qimem.service");
    let nginx = repo_file("deploy/nginx/qimem.conf");

    // Probe paths answer 200 on the real host, without a token.
    let probes: Vec<&str> = k8s
        .lines()
        .filter_map(|l| l.trim().strip_prefix("path: "))
        .collect();
    assert!(probes.len() >= 2, "{probes:?}");
    for path in &probes {
        assert_eq!(host.get(path).0, 200, "probe path {path}");
    }
    // Every port named is the API's (8080) or the metrics port (9090), and
    // the environment sets the host to listen on exactly those.
    for line in k8s
        .lines()
        .filter(|l| l.contains("Port:") || l.contains("port:"))
    {
        let port = line.rsplit(':').next().unwrap().trim().trim_matches('"');
        assert!(
            ["8080", "9090", "http", "metrics"].contains(&port),
            "{line}"
        );
    }
    assert!(
        k8s.contains("value: \"0.0.0.0:8080\""),
        "QIMEM_BIND in the Deployment"
    );
    assert!(
        k8s.contains("value: \"0.0.0.0:9090\""),
        "QIMEM_METRICS_BIND in the Deployment"
    );
    assert!(k8s.contains("QIMEM_AUTH_TOKENS_FILE"));
    assert!(unit.contains("Environment=QIMEM_BIND=127.0.0.1:8080"));
    assert!(unit.contains("ExecStart=/usr/local/bin/qimem serve"));
    assert!(nginx.contains("proxy_pass http://127.0.0.1:8080;"));
    assert!(nginx.contains("limit_req zone=qimem"));

    // Every QIMEM_ variable the files set is one the host reads: a
    // misspelt one makes check-config fail or is caught here.
    let known = [
        "QIMEM_MODE",
        "QIMEM_BIND",
        "QIMEM_METRICS_BIND",
        "QIMEM_MASTER_KEY_FILE",
        "QIMEM_AUTH_TOKENS_FILE",
        "QIMEM_AUDIT_DATA_PLANE",
        "QIMEM_CACHE_DIR",
        "QIMEM_MAX_INSTANCES",
    ];
    for text in [&k8s, &unit] {
        for word in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
            if word.starts_with("QIMEM_") {
                assert!(known.contains(&word), "unknown variable {word}");
            }
        }
    }
}
