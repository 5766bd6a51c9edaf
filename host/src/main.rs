//! `qimem`: the native QIMEM host. Serves the key-management component over
//! HTTP with wasmtime, keys in memory (stateless mode) or in PostgreSQL
//! (stateful mode, with `migrate` and `reseal` maintenance commands).
//!
//! Configuration is read from the environment (see `config`); a bad value
//! exits with status 2 and a message naming the variable. Logs are JSON on
//! standard output (see `telemetry` for what is and is never logged).

#![deny(unsafe_code)]
#![deny(missing_docs)]

mod audit;
mod bindings;
mod check;
mod config;
mod metrics;
mod reseal;
mod runtime;
mod server;
mod state;
mod store;
mod telemetry;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use zeroize::Zeroizing;

use crate::config::{Config, Mode};
use crate::runtime::{Runtime, RuntimeOptions};
use crate::state::Shared;
use crate::store::Backend;
use crate::store::postgres::{PgSettings, PgStore};
use crate::store::tls::SslMode;

/// QIMEM key-management service.
///
/// Configuration comes from the environment (QIMEM_MODE, QIMEM_BIND,
/// QIMEM_MASTER_KEY, ...); see the README for the full table.
#[derive(Parser)]
#[command(name = "qimem", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default).
    Serve,
    /// Print a fresh random master key (base64) for QIMEM_MASTER_KEY.
    GenMasterKey,
    /// Apply pending database migrations (DATABASE_URL) and exit.
    Migrate,
    /// Reseal every key record under QIMEM_MASTER_KEY, opening those sealed
    /// under QIMEM_MASTER_KEY_PREVIOUS; prints the counts as JSON.
    Reseal {
        /// Records read and resealed per batch.
        #[arg(
            long,
            default_value_t = 100,
            value_parser = clap::value_parser!(u32).range(1..=10_000)
        )]
        batch_size: u32,
    },
    /// Hash an API token for QIMEM_AUTH_TOKENS (the token is read from
    /// standard input, or generated with --generate, so it stays out of
    /// the shell history and the process list).
    HashToken(check::HashTokenArgs),
    /// Validate the environment (and reach the database in stateful
    /// mode), print what `serve` would do, exit non-zero on problems.
    CheckConfig,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve_main(),
        Command::GenMasterKey => gen_master_key(),
        Command::Migrate => maintenance_main(false, |config| Box::pin(migrate_main(config))),
        Command::Reseal { batch_size } => maintenance_main(true, move |config| {
            Box::pin(reseal_main(config, batch_size))
        }),
        Command::HashToken(args) => check::hash_token(&args),
        Command::CheckConfig => check::check_config(),
    }
}

/// Take the configuration, install logging and build the async runtime. On
/// failure, the exit code to return: 2 for a configuration problem.
fn prepare(
    config: Result<Config, config::ConfigError>,
    multi_thread: bool,
) -> Result<(Config, tokio::runtime::Runtime), ExitCode> {
    let config = config.map_err(|e| {
        eprintln!("qimem: configuration error: {e}");
        ExitCode::from(2)
    })?;
    telemetry::init().map_err(|e| {
        eprintln!("qimem: configuration error: {e}");
        ExitCode::from(2)
    })?;
    let mut builder = if multi_thread {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = builder.enable_all().build().map_err(|e| {
        eprintln!("qimem: cannot start the async runtime: {e}");
        ExitCode::FAILURE
    })?;
    Ok((config, runtime))
}

/// A boxed maintenance job over the stateful configuration.
type Job = std::pin::Pin<Box<dyn std::future::Future<Output = anyhow::Result<()>>>>;

/// Run a maintenance command: configuration as in stateful mode (whatever
/// QIMEM_MODE says), logs as when serving. `migrate` needs no master key:
/// without `needs_master_key` a missing one is replaced by a random one
/// that nothing uses.
fn maintenance_main(needs_master_key: bool, job: impl FnOnce(Config) -> Job) -> ExitCode {
    let lookup = |name: &str| match name {
        "QIMEM_MODE" if needs_master_key => Some("stateful".to_string()),
        "QIMEM_MODE" => Some("stateless".to_string()),
        _ => std::env::var(name).ok(),
    };
    let config = Config::from_lookup(lookup).and_then(|mut config| {
        if config.database.is_none() {
            config.database = Some(config::database_settings(&|n: &str| std::env::var(n).ok())?);
        }
        Ok(config)
    });
    let (config, runtime) = match prepare(config, false) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    match runtime.block_on(job(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("qimem: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn migrate_main(config: Config) -> anyhow::Result<()> {
    let db = config.database.context("DATABASE_URL is required")?;
    let applied = store::migrate::run(&db.url, db.connect_timeout).await?;
    println!("{}", serde_json::json!({ "applied": applied }));
    Ok(())
}

async fn reseal_main(config: Config, batch_size: u32) -> anyhow::Result<()> {
    let db = config.database.context("DATABASE_URL is required")?;
    store::migrate::run(&db.url, db.connect_timeout).await?;
    let keys = reseal::master_keys(
        &config.master_key,
        config.master_key_previous.as_deref().map(|k| k.as_str()),
    )?;
    let store = PgStore::new(&db).map_err(anyhow::Error::msg)?;
    let report = reseal::reseal(&store, &keys, batch_size).await?;
    let remaining = store
        .count_by_seal_key()
        .await
        .map_err(qimem_component::error::KmsError::from)?;
    let by_key: serde_json::Map<String, serde_json::Value> =
        remaining.into_iter().map(|(k, n)| (k, n.into())).collect();
    println!(
        "{}",
        serde_json::json!({
            "resealed": report.resealed,
            "skipped": report.skipped,
            "failed": report.failed,
            "current_seal_key_id": keys.current_fingerprint(),
            "records_by_seal_key_id": by_key,
        })
    );
    anyhow::ensure!(
        report.failed == 0,
        "{} records could not be resealed",
        report.failed
    );
    Ok(())
}

fn gen_master_key() -> ExitCode {
    match config::random_master_key() {
        Ok(key) => {
            println!("{}", key.as_str());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("qimem: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve_main() -> ExitCode {
    let (config, runtime) = match prepare(Config::from_env(), true) {
        Ok(prepared) => prepared,
        Err(code) => return code,
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "qimem stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let backend = match config.mode {
        Mode::Stateless => Backend::memory(),
        Mode::Stateful => {
            let db = config
                .database
                .as_ref()
                .context("DATABASE_URL is required")?;
            stateful_backend(db).await?
        }
    };
    if config.master_key_generated {
        tracing::warn!("no QIMEM_MASTER_KEY set: using a random master key for this process only");
    }
    check::announce_access(&config);

    let mut component_config: HashMap<&'static str, Zeroizing<String>> = HashMap::new();
    component_config.insert("master_key", config.master_key.clone());
    if let Some(previous) = &config.master_key_previous {
        component_config.insert("master_key_previous", previous.clone());
    }
    component_config.insert(
        "max_body_bytes",
        Zeroizing::new(config.max_body_bytes.to_string()),
    );
    if let Some(tokens) = &config.auth.tokens {
        component_config.insert("auth_tokens", Zeroizing::new(tokens.clone()));
    }
    let (audit, audit_writer) = if config.audit_data_plane {
        component_config.insert("audit_data_plane", Zeroizing::new("true".into()));
        let (queue, writer) = audit::AuditQueue::start(backend.clone());
        (Some(queue), Some(writer))
    } else {
        (None, None)
    };
    let shared = Arc::new(Shared {
        backend,
        component_config,
        audit: audit.clone(),
    });

    let options = RuntimeOptions {
        max_instances: config.max_instances,
        cache_dir: config.cache_dir.clone(),
    };
    let runtime = Arc::new(Runtime::new(&options, shared)?);
    let listener = tokio::net::TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("cannot listen on {}", config.bind))?;
    let addr = listener.local_addr()?;
    tracing::info!(
        mode = match config.mode {
            Mode::Stateless => "stateless",
            Mode::Stateful => "stateful",
        },
        "listening on http://{addr}"
    );

    let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
    if let Some(metrics_bind) = config.metrics_bind {
        let metrics_listener = tokio::net::TcpListener::bind(metrics_bind)
            .await
            .with_context(|| format!("cannot listen on {metrics_bind} for metrics"))?;
        tracing::info!(
            "metrics on http://{}/metrics",
            metrics_listener.local_addr()?
        );
        tokio::spawn(metrics::serve(metrics_listener, async {
            let _ = metrics_stopped.await;
        }));
    }

    server::serve(
        listener,
        runtime,
        config.max_instances as usize,
        config.metrics_bind.is_none(),
        shutdown_signal(),
    )
    .await;
    let _ = stop_metrics.send(());
    if let (Some(queue), Some(writer)) = (audit, audit_writer) {
        queue.close();
        if tokio::time::timeout(std::time::Duration::from_secs(10), writer)
            .await
            .is_err()
        {
            tracing::error!("data-plane audit events still queued at shutdown were not written");
        }
    }
    Ok(())
}

/// Connect the PostgreSQL store: warn about plain text to another host,
/// migrate under the advisory lock, then build the pool.
async fn stateful_backend(db: &PgSettings) -> anyhow::Result<Backend> {
    if db.url.sslmode == SslMode::Disable && !db.url.is_loopback() {
        tracing::warn!(
            database = db.url.describe(),
            "sslmode=disable sends key records and credentials to a non-loopback database \
             in plain text: use sslmode=verify-full"
        );
    }
    let started = std::time::Instant::now();
    let applied = store::migrate::run(&db.url, db.connect_timeout).await?;
    tracing::info!(
        database = db.url.describe(),
        applied = applied.len(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "database migrations checked"
    );
    let pg = PgStore::new(db).map_err(anyhow::Error::msg)?;
    metrics::watch_pool(pg.pool_gauges());
    if let Err(e) = pg.ping().await {
        tracing::warn!(error = ?e, "database does not answer yet; serving 503 until it does");
    }
    Ok(Backend::postgres(pg))
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
