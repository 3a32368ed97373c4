//! The handle every platform emulator is: start it on a loopback port, point a client at its
//! URL, drive it through [`Emulated`], and drop it to stop it.

use std::net::SocketAddr;
use std::ops::Deref;
use std::sync::Arc;

use axum::Router;

use crate::{Emulated, EmulatorConfig, Engine, LOOPBACK, Platform, serve};

/// What a platform emulator is besides the shared gate's [`Platform`] hooks: how its state is
/// made from a configuration, the routes that speak its wire format, and how many builds it
/// has made. Everything else (serving, the handle, faults, the request log) is the engine's.
pub trait Emulation: Platform + Sized {
    /// The platform's own configuration, beside the engine's common settings.
    type Options: Default + Clone + std::fmt::Debug + Send + Sync + 'static;

    /// The platform's state, served at `base_url` (e.g. `http://127.0.0.1:41234`), which
    /// answers build links with.
    fn new(config: EmulatorConfig<Self::Options>, base_url: String) -> Self;

    /// The platform's routes over its shared state.
    fn routes(platform: Arc<Self>) -> Router;

    /// How many builds (runs, pipelines) it has created so far.
    fn builds_created(&self) -> usize;
}

/// A platform emulator served on a port. Dropping it stops the server.
///
/// It dereferences to the platform, so a platform's own methods (forcing a state, reading a
/// build) are called on the handle.
#[derive(Debug)]
pub struct Emulator<P> {
    addr: SocketAddr,
    platform: Arc<P>,
    task: tokio::task::JoinHandle<()>,
}

impl<P: Emulation> Emulator<P> {
    /// Starts an emulator on `127.0.0.1` with a port the OS picks.
    ///
    /// # Errors
    ///
    /// When no port can be bound.
    pub async fn start(config: EmulatorConfig<P::Options>) -> std::io::Result<Self> {
        Self::start_on(config, LOOPBACK).await
    }

    /// Starts an emulator on `addr` (port 0: a port the OS picks).
    ///
    /// # Errors
    ///
    /// When the address cannot be bound.
    pub async fn start_on(
        config: EmulatorConfig<P::Options>,
        addr: SocketAddr,
    ) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let platform = Arc::new(P::new(config, format!("http://{addr}")));
        let router = P::routes(Arc::clone(&platform));
        let task = tokio::spawn(serve(listener, Arc::clone(&platform), router));
        Ok(Emulator {
            addr,
            platform,
            task,
        })
    }

    /// The API root to configure a client with, e.g. `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The platform state behind the server.
    pub fn platform(&self) -> &P {
        &self.platform
    }

    pub(crate) fn shared_platform(&self) -> &Arc<P> {
        &self.platform
    }
}

impl<P> Deref for Emulator<P> {
    type Target = P;

    fn deref(&self) -> &P {
        &self.platform
    }
}

impl<P> Drop for Emulator<P> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl<P: Emulation> Emulated for Emulator<P> {
    fn engine(&self) -> &Engine {
        Platform::engine(self.platform.as_ref())
    }

    fn builds_created(&self) -> usize {
        self.platform.builds_created()
    }

    fn api_url(&self) -> String {
        self.url()
    }
}
