//! The operator commands `hash-token` and `check-config`, and what `serve`
//! says about access control when it starts.

use std::io::BufRead as _;
use std::process::ExitCode;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use qimem_component::auth::{Scope, hash_token as sha256_hex};
use qimem_component::seal::{MasterKey, MasterKeys};
use zeroize::Zeroizing;

use crate::config::{Config, Mode};
use crate::store::postgres::{PgSettings, PgStore};

/// Arguments of `hash-token`.
#[derive(clap::Args)]
pub struct HashTokenArgs {
    /// Generate a fresh random token and print it (first line) before its
    /// entry, instead of reading one from standard input.
    #[arg(long)]
    generate: bool,
    /// Print a whole QIMEM_AUTH_TOKENS entry with this name.
    #[arg(long)]
    name: Option<String>,
    /// A scope for the entry (repeatable): keys:admin, keys:read, encrypt,
    /// decrypt, rewrap.
    #[arg(long = "scope", requires = "name")]
    scopes: Vec<String>,
    /// Restrict the entry to this lineage id (repeatable).
    #[arg(long = "lineage", requires = "name")]
    lineages: Vec<String>,
}

/// `qimem hash-token`: print the SHA-256 of a token, or a whole entry.
pub fn hash_token(args: &HashTokenArgs) -> ExitCode {
    for scope in &args.scopes {
        if Scope::from_name(scope).is_none() {
            eprintln!(
                "qimem: unknown scope {scope:?} (keys:admin, keys:read, encrypt, decrypt, rewrap)"
            );
            return ExitCode::from(2);
        }
    }
    let token = if args.generate {
        let mut bytes = Zeroizing::new([0u8; 32]);
        if getrandom::fill(bytes.as_mut_slice()).is_err() {
            eprintln!("qimem: the system random source failed");
            return ExitCode::FAILURE;
        }
        let token = Zeroizing::new(URL_SAFE_NO_PAD.encode(bytes.as_slice()));
        println!("{}", token.as_str());
        token
    } else {
        let mut line = Zeroizing::new(String::new());
        if std::io::stdin().lock().read_line(&mut line).is_err() {
            eprintln!("qimem: cannot read the token from standard input");
            return ExitCode::FAILURE;
        }
        Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_string())
    };
    if token.is_empty() || token.contains(char::is_whitespace) {
        eprintln!("qimem: a token must be one non-empty word");
        return ExitCode::from(2);
    }
    let hash = sha256_hex(&token);
    match &args.name {
        None => println!("{hash}"),
        Some(name) => {
            let mut entry = serde_json::json!({
                "name": name, "sha256": hash, "scopes": args.scopes,
            });
            if !args.lineages.is_empty() {
                entry["lineages"] = serde_json::json!(args.lineages);
            }
            println!("{entry}");
        }
    }
    ExitCode::SUCCESS
}

/// Log at start what access control is in force.
pub fn announce_access(config: &Config) {
    let bind = config.bind;
    if config.auth.disabled {
        tracing::warn!("QIMEM_AUTH=disabled: the API on {bind} answers anyone, without a token");
    } else if config.auth.token_count == 0 {
        tracing::info!(
            "no QIMEM_AUTH_TOKENS configured: access control is off, so the API serves \
             the loopback address {bind} only"
        );
    } else {
        tracing::info!(tokens = config.auth.token_count, "access control on");
    }
}

/// `qimem check-config`: validate, print the plan, exit 1 on problems.
pub fn check_config() -> ExitCode {
    let mut problems = Vec::new();
    if let Ok(spec) = std::env::var("RUST_LOG")
        && let Err(e) = tracing_subscriber::EnvFilter::try_new(&spec)
    {
        problems.push(format!("RUST_LOG is not a valid filter: {e}"));
    }
    match Config::from_env() {
        Ok(config) => {
            for line in plan(&config) {
                println!("{line}");
            }
            if let Some(settings) = &config.database {
                match check_database(settings) {
                    Ok(line) => println!("{line}"),
                    Err(e) => problems.push(e),
                }
            }
        }
        Err(e) => problems.push(e.to_string()),
    }
    if problems.is_empty() {
        println!("configuration ok");
        return ExitCode::SUCCESS;
    }
    for problem in &problems {
        eprintln!("qimem: problem: {problem}");
    }
    ExitCode::FAILURE
}

/// What `serve` would do with `config`, one line per fact.
fn plan(config: &Config) -> Vec<String> {
    let mode = match config.mode {
        Mode::Stateless => "stateless (keys in memory, gone on restart)",
        Mode::Stateful => "stateful (keys in PostgreSQL)",
    };
    let master = if config.master_key_generated {
        "a random key for this process only".to_string()
    } else {
        let fingerprint = MasterKey::parse(&config.master_key)
            .map(|k| MasterKeys::new(k, None).current_fingerprint().to_string())
            .unwrap_or_default();
        format!("configured, fingerprint {fingerprint}")
    };
    let access = if config.auth.disabled {
        "DISABLED (QIMEM_AUTH=disabled): anyone may call every route".to_string()
    } else if config.auth.token_count == 0 {
        "off: no tokens, loopback only".to_string()
    } else {
        format!("{} bearer tokens", config.auth.token_count)
    };
    let metrics = match config.metrics_bind {
        Some(addr) => format!("http://{addr}/metrics"),
        None => format!("http://{}/metrics", config.bind),
    };
    vec![
        format!("mode: {mode}"),
        format!("listen: http://{}", config.bind),
        format!("metrics: {metrics}"),
        format!("master key: {master}"),
        format!(
            "previous master key: {}",
            if config.master_key_previous.is_some() {
                "configured"
            } else {
                "none"
            }
        ),
        format!("access control: {access}"),
        format!("data-plane audit: {}", config.audit_data_plane),
        format!("max body bytes: {}", config.max_body_bytes),
        format!("max instances: {}", config.max_instances),
    ]
}

/// Log in to the database with the real client (TLS as `sslmode` says)
/// and run the health query. The message never repeats the password.
fn check_database(settings: &PgSettings) -> Result<String, String> {
    let target = settings.url.describe();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async {
        let store = PgStore::new(settings).map_err(|e| format!("database {target}: {e}"))?;
        store
            .ping()
            .await
            .map_err(|e| format!("database {target} is unreachable: {e:?}"))?;
        Ok(format!(
            "database: {target} answers ({} TLS)",
            settings.url.sslmode.name()
        ))
    })
}
