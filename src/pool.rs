//! Worker thread pools that survive `fork`, with a bounded thread count.
//!
//! Rayon's global pool is never used: a process forked after the pool started (Python's
//! `multiprocessing` with the fork start method, Dask's and many users' worker pools) inherits
//! the pool's bookkeeping but none of its threads, so the first parallel call in the child
//! would wait forever. Instead every parallel entry point of the core runs inside a pool from
//! [`pool`], which keeps one pool per thread count *per process*: when the process id has
//! changed since the pools were made (we are in a forked child), the inherited pools are
//! abandoned (leaked, never touched: their threads do not exist here) and new ones are
//! started. Keeping the pools between calls also saves starting threads on every call.

use std::sync::{Arc, Mutex};

use rayon::ThreadPool;

use crate::error::{invalid, Result};

/// The most threads a caller may ask for, at least: [`thread_limit`] is never below this.
pub const MIN_THREAD_LIMIT: usize = 64;

/// The cores this process may use.
pub fn available_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The largest thread count accepted: 4 x the cores, and at least [`MIN_THREAD_LIMIT`].
/// More threads than that only add switching; a typo such as `threads=10**6` would otherwise
/// start threads until the system refuses.
pub fn thread_limit() -> usize {
    (4 * available_cores()).max(MIN_THREAD_LIMIT)
}

/// The number of threads a call runs on: `threads` if given, else `RAYON_NUM_THREADS` when
/// set to a positive integer, else all cores. Errors name what was wrong.
pub fn resolve_threads(threads: Option<usize>) -> Result<usize> {
    let limit = thread_limit();
    let (n, source) = match threads {
        Some(t) => (t, "threads"),
        None => match std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            Some(t) if t > 0 => (t, "RAYON_NUM_THREADS"),
            _ => (available_cores(), "cores"),
        },
    };
    if n == 0 {
        return Err(invalid!("threads must be at least 1, got 0"));
    }
    if n > limit {
        return Err(invalid!(
            "{source} = {n} is more threads than this machine can use: at most {limit} \
             (4 x its {} cores, and at least {MIN_THREAD_LIMIT})",
            available_cores()
        ));
    }
    Ok(n)
}

struct Pools {
    pid: u32,
    pools: Vec<(usize, Arc<ThreadPool>)>,
}

static POOLS: Mutex<Option<Pools>> = Mutex::new(None);

fn build(threads: usize) -> Result<Arc<ThreadPool>> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("nnoverlap-{i}"))
        .build()
        .map(Arc::new)
        .map_err(|e| invalid!("cannot start {threads} worker threads: {e}"))
}

/// A thread pool of `threads` threads (see [`resolve_threads`]) made by this process.
pub fn pool(threads: Option<usize>) -> Result<Arc<ThreadPool>> {
    let n = resolve_threads(threads)?;
    let pid = std::process::id();
    // `try_lock`: a fork taken while another thread held this lock leaves it locked forever
    // in the child; then (and under contention) a fresh, uncached pool does the job.
    let Ok(mut guard) = POOLS.try_lock() else {
        return build(n);
    };
    let cache = guard.get_or_insert_with(|| Pools {
        pid,
        pools: Vec::new(),
    });
    if cache.pid != pid {
        // A forked child: the inherited pools have no threads here. Never touch them again.
        std::mem::forget(std::mem::take(&mut cache.pools));
        cache.pid = pid;
    }
    if let Some((_, p)) = cache.pools.iter().find(|(t, _)| *t == n) {
        return Ok(Arc::clone(p));
    }
    let p = build(n)?;
    cache.pools.push((n, Arc::clone(&p)));
    Ok(p)
}

/// Runs `f` on a pool of `threads` threads (see [`pool`]).
pub fn install<R: Send>(threads: Option<usize>, f: impl FnOnce() -> R + Send) -> Result<R> {
    Ok(pool(threads)?.install(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_counts_are_bounded_and_pools_are_reused() {
        assert!(resolve_threads(Some(0)).is_err());
        assert!(resolve_threads(Some(thread_limit() + 1)).is_err());
        assert_eq!(resolve_threads(Some(3)).unwrap(), 3);
        let a = pool(Some(2)).unwrap();
        let b = pool(Some(2)).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(install(Some(3), rayon::current_num_threads).unwrap(), 3);
    }
}
