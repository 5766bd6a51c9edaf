//! The component runtime: one engine, the component compiled once (and
//! cached on disk), pre-instantiated once, and a fresh instance per request
//! from a pooling allocator, so no request ever sees another's memory.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{
    Cache, CacheConfig, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store,
};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::bindings::KmsHost;
use crate::state::{RequestState, Shared};

/// The component bytes, built for `wasm32-wasip2` by `build.rs`.
pub const COMPONENT_WASM: &[u8] = include_bytes!(env!("QIMEM_COMPONENT_WASM"));

/// Largest linear memory one instance may grow to.
const MAX_MEMORY_BYTES: usize = 256 << 20;

/// How the runtime is sized.
pub struct RuntimeOptions {
    /// Most instances alive at once.
    pub max_instances: u32,
    /// Compiled-code cache directory (wasmtime's default when `None`).
    pub cache_dir: Option<std::path::PathBuf>,
}

/// The pre-instantiated component and what its requests share.
pub struct Runtime {
    pre: ProxyPre<RequestState>,
    shared: Arc<Shared>,
}

impl Runtime {
    /// Compile (or load from the cache) and pre-instantiate the component.
    pub fn new(options: &RuntimeOptions, shared: Arc<Shared>) -> Result<Runtime> {
        let engine = engine(options)?;
        let started = Instant::now();
        let component = Component::new(&engine, COMPONENT_WASM)
            .map_err(anyhow::Error::from)
            .context("compiling the component")?;
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "component ready"
        );

        let mut linker = Linker::<RequestState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        let options = Default::default();
        wasmtime_wasi_http::p2::bindings::http::types::add_to_linker::<
            _,
            wasmtime_wasi_http::WasiHttp,
        >(&mut linker, &options, RequestState::http)?;
        KmsHost::add_to_linker::<_, HasSelf<_>>(&mut linker, |state: &mut RequestState| state)?;
        let pre = ProxyPre::new(linker.instantiate_pre(&component)?)
            .map_err(anyhow::Error::from)
            .context("the component does not export wasi:http/incoming-handler")?;
        Ok(Runtime { pre, shared })
    }

    /// Serve one HTTP request in a fresh instance. The second value is the
    /// component's log output, to be forwarded once the request is done.
    pub async fn handle(
        &self,
        req: hyper::Request<hyper::body::Incoming>,
    ) -> Result<hyper::Response<HyperOutgoingBody>> {
        let request_id = crate::telemetry::request_id_of(req.headers());
        let (state, log) = RequestState::new(self.shared.clone());
        let mut store = Store::new(self.pre.engine(), state);
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let req = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, req)?;
        let out = store.data_mut().http().new_response_outparam(sender)?;
        let pre = self.pre.clone();

        // The handler runs in its own task: it keeps streaming the body after
        // the response head has been handed back.
        let task = tokio::task::spawn(async move {
            let result = async {
                let started = Instant::now();
                let proxy = pre.instantiate_async(&mut store).await?;
                crate::metrics::instantiation(started.elapsed());
                proxy
                    .wasi_http_incoming_handler()
                    .call_handle(&mut store, req, out)
                    .await
            }
            .await;
            drop(store);
            crate::telemetry::forward_component_log(&log.contents(), &request_id);
            result
        });

        match receiver.await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => match task.await {
                Ok(Ok(())) => bail!("the component returned without a response"),
                Ok(Err(e)) => Err(anyhow::Error::from(e).context("the component failed")),
                Err(e) => Err(anyhow::Error::new(e).context("the request task failed")),
            },
        }
    }
}

fn engine(options: &RuntimeOptions) -> Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(options.max_instances);
    // Each component instance holds a handful of core instances and memories.
    pool.total_core_instances(options.max_instances * 8);
    pool.total_memories(options.max_instances * 4);
    pool.total_tables(options.max_instances * 8);
    pool.max_memory_size(MAX_MEMORY_BYTES);

    let mut cache = CacheConfig::new();
    if let Some(dir) = &options.cache_dir {
        cache.with_directory(dir);
    }

    let mut config = Config::new();
    config.wasm_component_model(true);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    config.cache(Some(
        Cache::new(cache)
            .map_err(anyhow::Error::from)
            .context("setting up the compiled-code cache")?,
    ));
    Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")
}
