//! The Python extension `nnoverlap._core`: converts arrays, releases the GIL, runs the core on
//! a worker thread while the calling thread watches for Ctrl-C, and maps errors.
//!
//! Argument checking with helpful messages is done in the Python layer (`nnoverlap._api`);
//! the core repeats the few checks it needs for memory safety and returns `ValueError`s.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

use numpy::ndarray::{Array1, Array2};
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{
    PyKeyboardInterrupt, PyMemoryError, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;

use crate::{
    block_pair_topk, block_topk, finish_partial, knn_query_sides, knn_self, merge_partial,
    overlap_counts, pair_scores, pool, prep, Control, Error, KnnOptions, Matrix, Metric, Params,
    PartialTopK, Real, RowProblem,
};

/// How often the waiting thread looks for Ctrl-C and reports progress.
const POLL: Duration = Duration::from_millis(100);

/// The one mapping from core errors to Python exceptions. `name` is the set a row error
/// belongs to ("x", "A", "base", ...) and `dtype` the float type, for the message.
pub(crate) fn to_pyerr(e: Error) -> PyErr {
    row_err(e, "the input", "the float type")
}

pub(crate) fn row_err(e: Error, name: &str, dtype: &str) -> PyErr {
    match e {
        Error::InvalidArgument(msg) => PyValueError::new_err(msg),
        Error::InvalidRow { row, problem } => PyValueError::new_err(match problem {
            RowProblem::NonFinite => format!("{name} has a NaN or infinite value in row {row}"),
            RowProblem::Zero => format!(
                "{name} row {row} is all zeros: cosine similarity is undefined for it \
                 (drop the row, or use metric='ip' or 'l2')"
            ),
            RowProblem::TooLarge { limit_bits } => format!(
                "{name} row {row} holds a value of magnitude above {:.3e}: its products \
                 overflow {dtype} (rescale the rows, or pass float64)",
                f64::from_bits(limit_bits)
            ),
        }),
        Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
        e @ Error::OutOfMemory { .. } => PyMemoryError::new_err(e.to_string()),
        e @ Error::Internal(_) => PyRuntimeError::new_err(e.to_string()),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// Runs `work` on a worker thread with the GIL released. Every [`POLL`] the calling thread
/// takes the GIL back briefly to check for signals (Ctrl-C cancels the work and re-raises
/// KeyboardInterrupt once the worker has stopped, so nothing is left running) and to call
/// `progress(done, total)` if given (never with total 0; once more with done = total at the
/// end). A panic in the work (a bug) becomes a `RuntimeError` naming `op`.
pub(crate) fn run_interruptible<R, E, F>(
    py: Python<'_>,
    op: &str,
    progress: Option<Py<PyAny>>,
    work: F,
) -> PyResult<std::result::Result<R, E>>
where
    R: Send,
    E: Send,
    F: FnOnce(&Control) -> std::result::Result<R, E> + Send,
{
    let ctl = Control::new();
    let report = |py: Python<'_>, end: bool| -> PyResult<()> {
        if let Some(cb) = &progress {
            let (done, total) = ctl.progress();
            if total > 0 {
                cb.call1(py, (if end { total } else { done.min(total) }, total))?;
            }
        }
        Ok(())
    };
    let outcome = py.detach(|| {
        std::thread::scope(|scope| {
            let (tx, rx) = channel();
            let ctl_ref = &ctl;
            scope.spawn(move || {
                let result = catch_unwind(AssertUnwindSafe(|| work(ctl_ref)));
                let _ = tx.send(result.map_err(|p| panic_message(&*p)));
            });
            let mut pending: Option<PyErr> = None;
            loop {
                match rx.recv_timeout(POLL) {
                    Ok(result) => return (result, pending),
                    Err(RecvTimeoutError::Timeout) => {
                        if pending.is_some() {
                            continue;
                        }
                        let checked = Python::attach(|py| -> PyResult<()> {
                            py.check_signals()?;
                            report(py, false)
                        });
                        if let Err(err) = checked {
                            ctl.cancel();
                            pending = Some(err);
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        return (
                            Err("the worker thread ended without a result".into()),
                            pending,
                        )
                    }
                }
            }
        })
    });
    match outcome {
        (_, Some(err)) => Err(err),
        (Err(msg), None) => Err(PyRuntimeError::new_err(format!(
            "internal error in {op} (a bug, please report it): {msg}"
        ))),
        (Ok(result), None) => {
            report(py, true)?;
            Ok(result)
        }
    }
}

fn parse_metric(metric: &str) -> PyResult<Metric> {
    metric.parse().map_err(to_pyerr)
}

fn matrix<'a, T: Real + numpy::Element>(a: &'a PyReadonlyArray2<'_, T>) -> PyResult<Matrix<'a, T>> {
    let shape = a.shape();
    let data = a
        .as_slice()
        .map_err(|_| PyValueError::new_err("array must be C-contiguous"))?;
    Matrix::new(data, shape[0], shape[1]).map_err(to_pyerr)
}

pub(crate) fn dtype_name<T: Real>() -> &'static str {
    if std::mem::size_of::<T>() == 4 {
        "float32"
    } else {
        "float64"
    }
}

type KnnOut<'py, T> = (Bound<'py, PyArray2<T>>, Bound<'py, PyArray2<i64>>);

fn neighbors_out<'py, T: Real + numpy::Element>(
    py: Python<'py>,
    result: crate::Neighbors<T>,
) -> KnnOut<'py, T> {
    let shape = (result.rows, result.k);
    let scores = Array2::from_shape_vec(shape, result.scores).expect("shape matches");
    let indices = Array2::from_shape_vec(shape, result.indices).expect("shape matches");
    (scores.into_pyarray(py), indices.into_pyarray(py))
}

#[allow(clippy::too_many_arguments)]
fn knn_typed<'py, T: Real + numpy::Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    base: Option<&Bound<'py, PyAny>>,
    opts: KnnOptions,
    progress: Option<Py<PyAny>>,
    (name, base_name): (&str, &str),
) -> PyResult<KnnOut<'py, T>> {
    let x: PyReadonlyArray2<T> = x.extract()?;
    let xm = matrix(&x)?;
    let base: Option<PyReadonlyArray2<T>> = base.map(|b| b.extract()).transpose()?;
    let dtype = dtype_name::<T>();
    let result = match &base {
        None => run_interruptible(py, "knn", progress, |ctl| knn_self(xm, &opts, ctl))?
            .map_err(|e| row_err(e, name, dtype))?,
        Some(b) => {
            let bm = matrix(b)?;
            run_interruptible(py, "knn", progress, |ctl| {
                knn_query_sides(xm, bm, &opts, ctl)
            })?
            .map_err(|(q, e)| row_err(e, if q { name } else { base_name }, dtype))?
        }
    };
    Ok(neighbors_out(py, result))
}

/// Calls `$f::<T>` with T = f32 or f64, whichever dtype `$x` has.
macro_rules! by_dtype {
    ($x:expr, $f:ident($($arg:expr),*)) => {
        if $x.extract::<PyReadonlyArray2<f32>>().is_ok() {
            $f::<f32>($($arg),*)
        } else if $x.extract::<PyReadonlyArray2<f64>>().is_ok() {
            $f::<f64>($($arg),*)
        } else {
            Err(PyTypeError::new_err("expected a 2-D float32 or float64 array"))
        }
    };
}

/// The rows of an (m, 2) int64 array of index pairs, checked: C-contiguous, two columns, no
/// negative index (the core checks the upper bounds against its sets).
pub(crate) fn index_pairs(pairs: &PyReadonlyArray2<'_, i64>) -> PyResult<Vec<(usize, usize)>> {
    if pairs.shape()[1] != 2 {
        return Err(PyValueError::new_err("pairs must have shape (m, 2)"));
    }
    let flat = pairs
        .as_slice()
        .map_err(|_| PyValueError::new_err("pairs must be C-contiguous"))?;
    let mut list = Vec::with_capacity(flat.len() / 2);
    for p in flat.chunks_exact(2) {
        if p[0] < 0 || p[1] < 0 {
            return Err(PyValueError::new_err(format!(
                "pair ({}, {}) holds a negative index",
                p[0], p[1]
            )));
        }
        list.push((p[0] as usize, p[1] as usize));
    }
    Ok(list)
}

/// knn(x, base, k, metric, include_self, threads, block, progress=None, name="x",
/// base_name="base", screen="auto") -> (scores, indices)
///
/// `x` (and `base`) must be C-contiguous float32 or float64 arrays of one dtype. Rows the
/// metric cannot use raise ValueError naming `name` (or `base_name`) and the row.
#[pyfunction]
#[pyo3(signature = (x, base, k, metric, include_self, threads, block, progress=None, name="x", base_name="base", screen="auto"))]
#[allow(clippy::too_many_arguments)]
fn knn<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    base: Option<&Bound<'py, PyAny>>,
    k: usize,
    metric: &str,
    include_self: bool,
    threads: Option<usize>,
    block: usize,
    progress: Option<Py<PyAny>>,
    name: &str,
    base_name: &str,
    screen: &str,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let opts = KnnOptions {
        k,
        metric: parse_metric(metric)?,
        include_self,
        threads,
        block,
        screen: crate::knn::Screen::parse(screen).map_err(to_pyerr)?,
        pack_once: true,
    };
    fn run<'py, T: Real + numpy::Element>(
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        base: Option<&Bound<'py, PyAny>>,
        opts: KnnOptions,
        progress: Option<Py<PyAny>>,
        names: (&str, &str),
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (s, i) = knn_typed::<T>(py, x, base, opts, progress, names)?;
        Ok((s.into_any(), i.into_any()))
    }
    by_dtype!(x, run(py, x, base, opts, progress, (name, base_name)))
}

/// overlap(a, b, ks, threads=None) -> (n, len(ks)) int64: |set(a_i[:k]) ∩ set(b_i[:k])|.
#[pyfunction]
#[pyo3(signature = (a, b, ks, threads=None))]
fn overlap<'py>(
    py: Python<'py>,
    a: PyReadonlyArray2<'py, i64>,
    b: PyReadonlyArray2<'py, i64>,
    ks: Vec<usize>,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyArray2<i64>>> {
    if a.shape() != b.shape() {
        return Err(PyValueError::new_err(format!(
            "index arrays must have the same shape, got {:?} and {:?}",
            a.shape(),
            b.shape()
        )));
    }
    let (rows, width) = (a.shape()[0], a.shape()[1]);
    let sa = a
        .as_slice()
        .map_err(|_| PyValueError::new_err("array must be C-contiguous"))?;
    let sb = b
        .as_slice()
        .map_err(|_| PyValueError::new_err("array must be C-contiguous"))?;
    let nk = ks.len();
    let counts = py
        .detach(|| pool::install(threads, || overlap_counts(sa, sb, rows, width, &ks)))
        .and_then(|r| r)
        .map_err(to_pyerr)?;
    let out = Array2::from_shape_vec((rows, nk), counts).expect("shape matches");
    Ok(out.into_pyarray(py))
}

// ---- Building blocks for the distributed path (private: `nnoverlap.distributed` uses them).

fn params_from<T: Real + numpy::Element>(
    metric: &str,
    max_abs: f64,
    centre: Option<PyReadonlyArray1<'_, T>>,
) -> PyResult<Params<T>> {
    let metric = parse_metric(metric)?;
    let centre = match centre {
        Some(c) => c
            .as_slice()
            .map_err(|_| PyValueError::new_err("centre must be contiguous"))?
            .to_vec(),
        None if metric == Metric::Euclidean => {
            return Err(PyValueError::new_err("metric 'l2' needs the centre"))
        }
        None => Vec::new(),
    };
    Ok(Params::new(metric, max_abs, centre))
}

type PartialOut<'py, T> = (Bound<'py, PyArray2<T>>, Bound<'py, PyArray2<u32>>);

fn partial_out<'py, T: Real + numpy::Element>(
    py: Python<'py>,
    p: PartialTopK<T>,
) -> PartialOut<'py, T> {
    let shape = (p.rows, p.k);
    let keys = Array2::from_shape_vec(shape, p.keys).expect("shape matches");
    let idx = Array2::from_shape_vec(shape, p.indices).expect("shape matches");
    (keys.into_pyarray(py), idx.into_pyarray(py))
}

fn partial_in<T: Real + numpy::Element>(
    keys: &PyReadonlyArray2<'_, T>,
    idx: &PyReadonlyArray2<'_, u32>,
) -> PyResult<PartialTopK<T>> {
    if keys.shape() != idx.shape() {
        return Err(PyValueError::new_err(format!(
            "keys and indices must have the same shape, got {:?} and {:?}",
            keys.shape(),
            idx.shape()
        )));
    }
    let contiguous = |_| PyValueError::new_err("arrays must be C-contiguous");
    Ok(PartialTopK {
        rows: keys.shape()[0],
        k: keys.shape()[1],
        keys: keys.as_slice().map_err(contiguous)?.to_vec(),
        indices: idx.as_slice().map_err(contiguous)?.to_vec(),
    })
}

/// _scan(x, metric, name, row_offset) -> the largest magnitude in `x`; raises ValueError
/// naming `name` and the global row (`row_offset` + the row) the metric cannot use.
#[pyfunction]
fn _scan(x: &Bound<'_, PyAny>, metric: &str, name: &str, row_offset: usize) -> PyResult<f64> {
    fn run<T: Real + numpy::Element>(
        x: &Bound<'_, PyAny>,
        metric: Metric,
        name: &str,
        offset: usize,
    ) -> PyResult<f64> {
        let a: PyReadonlyArray2<T> = x.extract()?;
        let m = matrix(&a)?;
        let r = x
            .py()
            .detach(|| pool::install(Some(1), || prep::scan(&m, metric)))
            .map_err(to_pyerr)?;
        r.map_err(|e| match e {
            Error::InvalidRow { row, problem } => Error::InvalidRow {
                row: row + offset,
                problem,
            },
            e => e,
        })
        .map_err(|e| row_err(e, name, dtype_name::<T>()))
    }
    let metric = parse_metric(metric)?;
    by_dtype!(x, run(x, metric, name, row_offset))
}

/// _centre_rows(n) -> the rows whose mean is the Euclidean centre of a set of n rows.
#[pyfunction]
fn _centre_rows(n: usize) -> Vec<usize> {
    prep::centre_rows(n)
}

/// _centre(sample) -> the Euclidean centre of the sample rows (their column means summed in
/// f64 in row order, rounded to a grid; see `prep::centre_of_rows`), in the sample's dtype:
/// the centre `knn` uses when `sample` holds the rows `_centre_rows(n)` of the set, in order.
#[pyfunction]
fn _centre<'py>(py: Python<'py>, sample: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    fn run<'py, T: Real + numpy::Element>(
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let a: PyReadonlyArray2<T> = x.extract()?;
        let m = matrix(&a)?;
        let rows: Vec<usize> = (0..m.rows()).collect();
        Ok(Array1::from(prep::centre_of_rows(&m, &rows))
            .into_pyarray(py)
            .into_any())
    }
    by_dtype!(sample, run(py, sample))
}

/// _block_pair(xi, i0, xj, j0, k, metric, max_abs, centre) -> (keys_i, idx_i, keys_j, idx_j):
/// the partial top-k of block I's rows among block J's and of J's among I's, each pair once
/// (see `block_pair_topk` of the core). `max_abs` is the largest magnitude of the whole set
/// and `centre` its Euclidean centre (None for other metrics). Keys are those of prepared rows;
/// `_finish` turns them into scores.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn _block_pair<'py>(
    py: Python<'py>,
    xi: &Bound<'py, PyAny>,
    i0: usize,
    xj: &Bound<'py, PyAny>,
    j0: usize,
    k: usize,
    metric: &str,
    max_abs: f64,
    centre: Option<&Bound<'py, PyAny>>,
) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
    #[allow(clippy::too_many_arguments)]
    fn run<'py, T: Real + numpy::Element>(
        py: Python<'py>,
        xi: &Bound<'py, PyAny>,
        i0: usize,
        xj: &Bound<'py, PyAny>,
        j0: usize,
        k: usize,
        metric: &str,
        max_abs: f64,
        centre: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
        let centre: Option<PyReadonlyArray1<T>> = centre.map(|c| c.extract()).transpose()?;
        let params = params_from(metric, max_abs, centre)?;
        let (a, b): (PyReadonlyArray2<T>, PyReadonlyArray2<T>) = (xi.extract()?, xj.extract()?);
        let (ma, mb) = (matrix(&a)?, matrix(&b)?);
        let (pi, pj) = run_interruptible(py, "_block_pair", None, |_| {
            pool::install(Some(1), || block_pair_topk(ma, i0, mb, j0, k, &params))?
        })?
        .map_err(to_pyerr)?;
        let (ki, ii) = partial_out(py, pi);
        let (kj, ij) = partial_out(py, pj);
        pyo3::types::PyTuple::new(
            py,
            [ki.into_any(), ii.into_any(), kj.into_any(), ij.into_any()],
        )
    }
    by_dtype!(xi, run(py, xi, i0, xj, j0, k, metric, max_abs, centre))
}

/// _block_query(q, base, base_offset, query_offset, k, metric, max_abs, centre) -> (keys, idx):
/// the partial top-k of query rows among one block of base rows (see `block_topk` of the core;
/// with `query_offset`, queries and base share one index space and each row skips itself).
#[pyfunction]
#[allow(clippy::too_many_arguments)]
fn _block_query<'py>(
    py: Python<'py>,
    q: &Bound<'py, PyAny>,
    base: &Bound<'py, PyAny>,
    base_offset: usize,
    query_offset: Option<usize>,
    k: usize,
    metric: &str,
    max_abs: f64,
    centre: Option<&Bound<'py, PyAny>>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    #[allow(clippy::too_many_arguments)]
    fn run<'py, T: Real + numpy::Element>(
        py: Python<'py>,
        q: &Bound<'py, PyAny>,
        base: &Bound<'py, PyAny>,
        base_offset: usize,
        query_offset: Option<usize>,
        k: usize,
        metric: &str,
        max_abs: f64,
        centre: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let centre: Option<PyReadonlyArray1<T>> = centre.map(|c| c.extract()).transpose()?;
        let params = params_from(metric, max_abs, centre)?;
        let (a, b): (PyReadonlyArray2<T>, PyReadonlyArray2<T>) = (q.extract()?, base.extract()?);
        let (ma, mb) = (matrix(&a)?, matrix(&b)?);
        let p = run_interruptible(py, "_block_query", None, |_| {
            pool::install(Some(1), || {
                block_topk(ma, mb, base_offset, query_offset, k, &params)
            })?
        })?
        .map_err(to_pyerr)?;
        let (keys, idx) = partial_out(py, p);
        Ok((keys.into_any(), idx.into_any()))
    }
    by_dtype!(
        q,
        run(
            py,
            q,
            base,
            base_offset,
            query_offset,
            k,
            metric,
            max_abs,
            centre
        )
    )
}

/// _merge(keys_a, idx_a, keys_b, idx_b) -> (keys, idx): the best k of two partial results of
/// the same rows over disjoint base rows, under the tie rule (any merge order, same result).
#[pyfunction]
fn _merge<'py>(
    py: Python<'py>,
    keys_a: &Bound<'py, PyAny>,
    idx_a: PyReadonlyArray2<'py, u32>,
    keys_b: &Bound<'py, PyAny>,
    idx_b: PyReadonlyArray2<'py, u32>,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    fn run<'py, T: Real + numpy::Element>(
        py: Python<'py>,
        ka: &Bound<'py, PyAny>,
        ia: PyReadonlyArray2<'py, u32>,
        kb: &Bound<'py, PyAny>,
        ib: PyReadonlyArray2<'py, u32>,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (ka, kb): (PyReadonlyArray2<T>, PyReadonlyArray2<T>) = (ka.extract()?, kb.extract()?);
        let (a, b) = (partial_in(&ka, &ia)?, partial_in(&kb, &ib)?);
        let m = py.detach(|| merge_partial(&a, &b)).map_err(to_pyerr)?;
        let (keys, idx) = partial_out(py, m);
        Ok((keys.into_any(), idx.into_any()))
    }
    by_dtype!(keys_a, run(py, keys_a, idx_a, keys_b, idx_b))
}

/// _finish(keys, idx, metric, max_abs) -> (scores, indices): a complete partial result in the
/// metric's units, as `knn` returns it; ValueError if a row is short of k candidates.
#[pyfunction]
fn _finish<'py>(
    py: Python<'py>,
    keys: &Bound<'py, PyAny>,
    idx: PyReadonlyArray2<'py, u32>,
    metric: &str,
    max_abs: f64,
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    fn run<'py, T: Real + numpy::Element>(
        py: Python<'py>,
        keys: &Bound<'py, PyAny>,
        idx: PyReadonlyArray2<'py, u32>,
        metric: &str,
        max_abs: f64,
    ) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let keys: PyReadonlyArray2<T> = keys.extract()?;
        let p = partial_in(&keys, &idx)?;
        let m = parse_metric(metric)?;
        // The centre plays no part in turning keys into scores.
        let params = Params::<T>::new(m, max_abs, Vec::new());
        let n = finish_partial(p, &params).map_err(to_pyerr)?;
        let (s, i) = neighbors_out(py, n);
        Ok((s.into_any(), i.into_any()))
    }
    by_dtype!(keys, run(py, keys, idx, metric, max_abs))
}

/// _pair_scores(x, base, pairs, metric, threads=None) -> (len(pairs),) scores of the given
/// (i, j) pairs (row i of x, row j of base, or of x when base is None), with exactly the
/// arithmetic of `knn`: the score `knn` returns for that pair.
#[pyfunction]
#[pyo3(signature = (x, base, pairs, metric, threads=None))]
fn _pair_scores<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    base: Option<&Bound<'py, PyAny>>,
    pairs: PyReadonlyArray2<'py, i64>,
    metric: &str,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    fn run<'py, T: Real + numpy::Element>(
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        base: Option<&Bound<'py, PyAny>>,
        pairs: PyReadonlyArray2<'py, i64>,
        metric: Metric,
        threads: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let xa: PyReadonlyArray2<T> = x.extract()?;
        let ba: Option<PyReadonlyArray2<T>> = base.map(|b| b.extract()).transpose()?;
        let xm = matrix(&xa)?;
        let bm = ba.as_ref().map(matrix).transpose()?;
        let list = index_pairs(&pairs)?;
        let dtype = dtype_name::<T>();
        let scores = run_interruptible(py, "_pair_scores", None, |_| {
            pool::install(threads, || -> crate::Result<Vec<T>> {
                let params = match bm {
                    None => Params::for_set(&xm, metric)?,
                    Some(b) => Params::for_query(&xm, &b, metric).map_err(|(_, e)| e)?,
                };
                pair_scores(xm, bm, &list, &params)
            })?
        })?
        .map_err(|e| row_err(e, "x", dtype))?;
        Ok(Array1::from(scores).into_pyarray(py).into_any())
    }
    let m = parse_metric(metric)?;
    by_dtype!(x, run(py, x, base, pairs, m, threads))
}

/// _panic_for_tests(in_pool) -> never returns: panics on purpose (in a worker of the thread
/// pool when `in_pool`), so that the tests can check that a bug in the core surfaces as a
/// RuntimeError naming the operation, not as an abort or a PanicException.
#[pyfunction]
fn _panic_for_tests(py: Python<'_>, in_pool: bool) -> PyResult<()> {
    run_interruptible(py, "_panic_for_tests", None, |_| -> crate::Result<()> {
        if in_pool {
            use rayon::prelude::*;
            pool::install(Some(2), || {
                (0..4).into_par_iter().for_each(|i| {
                    if i == 3 {
                        panic!("deliberate panic in a pool worker")
                    }
                })
            })?;
        }
        panic!("deliberate panic")
    })?
    .map_err(to_pyerr)
}

/// _screen_counters() -> (screened, recomputed): pairs that went through the int8 screen of
/// the cosine self-join since the process started, and those it let through to the exact
/// recompute (for tests and benchmarks).
#[pyfunction]
fn _screen_counters() -> (u64, u64) {
    crate::kernel::screen::counters()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("KERNEL", crate::kernel::kernel_name())?;
    m.add("SCREEN", crate::kernel::screen::available())?;
    m.add_function(wrap_pyfunction!(_screen_counters, m)?)?;
    m.add_function(wrap_pyfunction!(knn, m)?)?;
    m.add_function(wrap_pyfunction!(overlap, m)?)?;
    m.add("THREAD_LIMIT", pool::thread_limit())?;
    for f in [
        wrap_pyfunction!(_scan, m)?,
        wrap_pyfunction!(_centre_rows, m)?,
        wrap_pyfunction!(_centre, m)?,
        wrap_pyfunction!(_block_pair, m)?,
        wrap_pyfunction!(_block_query, m)?,
        wrap_pyfunction!(_merge, m)?,
        wrap_pyfunction!(_finish, m)?,
        wrap_pyfunction!(_pair_scores, m)?,
        wrap_pyfunction!(_panic_for_tests, m)?,
    ] {
        m.add_function(f)?;
    }
    crate::bindings_io::register(m)?;
    crate::bindings_measures::register(m)?;
    Ok(())
}
