//! The tokio runtime the bindings own.
//!
//! Sockets, timers and the channel's reader and writer tasks belong to the runtime they were
//! created on, so everything runs on one multi-thread runtime that lives as long as the
//! process and is started on first use. Each client's driver (see [`crate::driver`]) runs on
//! it from a thread of its own; listener callbacks run on its blocking pool.

use std::sync::OnceLock;

use tokio::runtime::{Builder, Handle, Runtime};

use crate::error::LimeError;

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();

/// Two workers are plenty for a client's I/O: nothing blocks them (callbacks run on the
/// blocking pool).
const WORKER_THREADS: usize = 2;

fn build() -> Result<Runtime, String> {
    Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("lime-ffi")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// The runtime, started on first use.
pub(crate) fn handle() -> Result<Handle, LimeError> {
    match RUNTIME.get_or_init(build) {
        Ok(runtime) => Ok(runtime.handle().clone()),
        Err(e) => Err(LimeError::Transport { msg: format!("cannot start the tokio runtime: {e}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_runtime_for_every_caller() {
        let a = handle().unwrap();
        let b = handle().unwrap();
        assert_eq!(a.id(), b.id());
        let name = a.block_on(async {
            tokio::spawn(async { std::thread::current().name().map(str::to_owned) }).await
        });
        assert_eq!(name.unwrap().as_deref(), Some("lime-ffi"));
    }
}
