//! Per-request state: what one component instance may reach.
//!
//! Each request gets a fresh `Store` with its own WASI context (no
//! filesystem, no network, standard error captured for the log), the
//! `wasi:http` context, the key store import and the configuration import.

use std::collections::HashMap;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};
use zeroize::Zeroizing;

use crate::bindings::wasi::config::store as wconfig;
use crate::store::Backend;

/// Most bytes of log output one request may write.
const LOG_CAPACITY: usize = 64 * 1024;

/// What every request shares: the key store and the component configuration.
pub struct Shared {
    /// Where sealed key records live.
    pub backend: Backend,
    /// `wasi:config/store` values (Spin variable names). Holds the master
    /// key, so it is zeroized on drop and never printed.
    pub component_config: HashMap<&'static str, Zeroizing<String>>,
    /// Where data-plane audit events are queued, when they are recorded.
    pub audit: Option<crate::audit::AuditQueue>,
}

/// The `T` of each request's `wasmtime::Store`.
pub struct RequestState {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    hooks: NoOutgoingHttp,
    shared: Arc<Shared>,
}

impl RequestState {
    /// State for one request, and the pipe its log lines are written to.
    pub fn new(shared: Arc<Shared>) -> (RequestState, MemoryOutputPipe) {
        let log = MemoryOutputPipe::new(LOG_CAPACITY);
        let wasi = WasiCtx::builder()
            .stdout(log.clone())
            .stderr(log.clone())
            .build();
        let state = RequestState {
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            hooks: NoOutgoingHttp,
            shared,
        };
        (state, log)
    }

    /// The queue for data-plane audit events, if they are recorded.
    pub fn audit_queue(&self) -> Option<&crate::audit::AuditQueue> {
        self.shared.audit.as_ref()
    }

    /// The key store behind the `qimem:kms/store` import.
    pub fn backend(&self) -> &Backend {
        &self.shared.backend
    }
}

impl WasiView for RequestState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for RequestState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.hooks,
            table: &mut self.table,
            ctx: &mut self.http,
        }
    }
}

impl wconfig::Host for RequestState {
    async fn get(&mut self, key: String) -> Result<Option<String>, wconfig::Error> {
        Ok(self
            .shared
            .component_config
            .get(key.as_str())
            .map(|v| v.to_string()))
    }

    async fn get_all(&mut self) -> Result<Vec<(String, String)>, wconfig::Error> {
        // Listing everything would hand out the master key to any caller of
        // get-all; the component only ever asks for named values.
        Err(wconfig::Error::Upstream(
            "get-all is not offered by the QIMEM host".into(),
        ))
    }
}

/// Hooks that refuse outgoing HTTP: the component never needs it, and the
/// host does not link `wasi:http/outgoing-handler` at all.
struct NoOutgoingHttp;

impl WasiHttpHooks for NoOutgoingHttp {
    fn send_request(
        &mut self,
        _request: http::Request<wasmtime_wasi_http::WasiBody>,
        _options: Option<wasmtime_wasi_http::RequestOptions>,
        _fut: Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
    ) -> Box<
        dyn Future<
                Output = Result<
                    (
                        http::Response<wasmtime_wasi_http::WasiBody>,
                        Box<dyn Future<Output = Result<(), wasmtime_wasi_http::Error>> + Send>,
                    ),
                    wasmtime_wasi_http::Error,
                >,
            > + Send,
    > {
        Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) })
    }
}
