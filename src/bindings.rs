//! The Python extension `nnoverlap._core`: converts arrays, releases the GIL, runs the core on
//! a worker thread while the calling thread watches for Ctrl-C, and maps errors.
//!
//! Argument checking with helpful messages is done in the Python layer (`nnoverlap._api`);
//! the core repeats the few checks it needs for memory safety and returns `ValueError`s.

use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::Duration;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyKeyboardInterrupt, PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::{
    knn_query, knn_self, overlap_counts, Control, Error, KnnOptions, Matrix, Metric, Real,
};

/// How often the waiting thread looks for Ctrl-C and reports progress.
const POLL: Duration = Duration::from_millis(100);

fn to_pyerr(e: Error) -> PyErr {
    match e {
        Error::InvalidArgument(msg) => PyValueError::new_err(msg),
        Error::Interrupted => PyKeyboardInterrupt::new_err("interrupted"),
    }
}

/// Runs `work` on a worker thread with the GIL released. Every [`POLL`] the calling thread
/// takes the GIL back briefly to check for signals (Ctrl-C cancels the work and re-raises
/// KeyboardInterrupt once the worker has stopped, so nothing is left running) and to call
/// `progress(done, total)` if given.
pub(crate) fn run_interruptible<R, F>(
    py: Python<'_>,
    progress: Option<Py<PyAny>>,
    work: F,
) -> PyResult<R>
where
    R: Send,
    F: FnOnce(&Control) -> crate::Result<R> + Send,
{
    let ctl = Control::new();
    py.detach(|| {
        std::thread::scope(|scope| {
            let (tx, rx) = channel();
            let ctl_ref = &ctl;
            scope.spawn(move || {
                let _ = tx.send(work(ctl_ref));
            });
            let mut pending: Option<PyErr> = None;
            loop {
                match rx.recv_timeout(POLL) {
                    Ok(result) => {
                        return match pending {
                            Some(err) => Err(err),
                            None => result.map_err(to_pyerr),
                        }
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        if pending.is_some() {
                            continue;
                        }
                        let checked = Python::attach(|py| -> PyResult<()> {
                            py.check_signals()?;
                            if let Some(cb) = &progress {
                                let (done, total) = ctl.progress();
                                cb.call1(py, (done, total))?;
                            }
                            Ok(())
                        });
                        if let Err(err) = checked {
                            ctl.cancel();
                            pending = Some(err);
                        }
                    }
                    Err(RecvTimeoutError::Disconnected) => {
                        // The worker panicked; leaving the scope re-raises its panic.
                        return Err(pyo3::exceptions::PyRuntimeError::new_err(
                            "nnoverlap worker thread failed",
                        ));
                    }
                }
            }
        })
    })
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

type KnnOut<'py, T> = (Bound<'py, PyArray2<T>>, Bound<'py, PyArray2<i64>>);

#[allow(clippy::too_many_arguments)]
fn knn_typed<'py, T: Real + numpy::Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    base: Option<&Bound<'py, PyAny>>,
    opts: KnnOptions,
    progress: Option<Py<PyAny>>,
) -> PyResult<KnnOut<'py, T>> {
    let x: PyReadonlyArray2<T> = x.extract()?;
    let xm = matrix(&x)?;
    let base: Option<PyReadonlyArray2<T>> = base.map(|b| b.extract()).transpose()?;
    let result = match &base {
        None => run_interruptible(py, progress, |ctl| knn_self(xm, &opts, ctl))?,
        Some(b) => {
            let bm = matrix(b)?;
            run_interruptible(py, progress, |ctl| knn_query(xm, bm, &opts, ctl))?
        }
    };
    let shape = (result.rows, result.k);
    let scores = Array2::from_shape_vec(shape, result.scores).expect("shape matches");
    let indices = Array2::from_shape_vec(shape, result.indices).expect("shape matches");
    Ok((scores.into_pyarray(py), indices.into_pyarray(py)))
}

/// knn(x, base, k, metric, include_self, threads, block, progress) -> (scores, indices)
///
/// `x` (and `base`) must be C-contiguous float32 or float64 arrays of one dtype.
#[pyfunction]
#[pyo3(signature = (x, base, k, metric, include_self, threads, block, progress=None))]
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
) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
    let opts = KnnOptions {
        k,
        metric: parse_metric(metric)?,
        include_self,
        threads,
        block,
    };
    if x.extract::<PyReadonlyArray2<f32>>().is_ok() {
        let (s, i) = knn_typed::<f32>(py, x, base, opts, progress)?;
        Ok((s.into_any(), i.into_any()))
    } else if x.extract::<PyReadonlyArray2<f64>>().is_ok() {
        let (s, i) = knn_typed::<f64>(py, x, base, opts, progress)?;
        Ok((s.into_any(), i.into_any()))
    } else {
        Err(PyTypeError::new_err(
            "expected a 2-D float32 or float64 array",
        ))
    }
}

/// What a row scan looks for.
#[derive(Clone, Copy)]
enum Scan {
    NonFinite,
    Zero,
    Above(f64),
}

fn first_row<T: Real + numpy::Element>(
    x: &Bound<'_, PyAny>,
    scan: Scan,
    limit: T,
) -> PyResult<Option<usize>> {
    let x: PyReadonlyArray2<T> = x.extract()?;
    let m = matrix(&x)?;
    let py = x.py();
    Ok(py.detach(|| match scan {
        Scan::NonFinite => m.first_nonfinite_row(),
        Scan::Zero => m.first_zero_row(),
        Scan::Above(_) => m.first_row_above(limit),
    }))
}

fn first_row_any(x: &Bound<'_, PyAny>, scan: Scan) -> PyResult<Option<usize>> {
    let limit = match scan {
        Scan::Above(l) => l,
        _ => 0.0,
    };
    if x.extract::<PyReadonlyArray2<f32>>().is_ok() {
        first_row::<f32>(x, scan, limit as f32)
    } else if x.extract::<PyReadonlyArray2<f64>>().is_ok() {
        first_row::<f64>(x, scan, limit)
    } else {
        Err(PyTypeError::new_err(
            "expected a 2-D float32 or float64 array",
        ))
    }
}

/// Index of the first row holding NaN or infinity, or None.
#[pyfunction]
fn first_nonfinite_row(x: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    first_row_any(x, Scan::NonFinite)
}

/// Index of the first all-zero row, or None.
#[pyfunction]
fn first_zero_row(x: &Bound<'_, PyAny>) -> PyResult<Option<usize>> {
    first_row_any(x, Scan::Zero)
}

/// Index of the first row holding a value of magnitude above `limit`, or None.
#[pyfunction]
fn first_row_above(x: &Bound<'_, PyAny>, limit: f64) -> PyResult<Option<usize>> {
    first_row_any(x, Scan::Above(limit))
}

/// overlap(a, b, ks) -> (n, len(ks)) int64: |set(a_i[:k]) ∩ set(b_i[:k])| for each k.
#[pyfunction]
fn overlap<'py>(
    py: Python<'py>,
    a: PyReadonlyArray2<'py, i64>,
    b: PyReadonlyArray2<'py, i64>,
    ks: Vec<usize>,
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
        .detach(|| overlap_counts(sa, sb, rows, width, &ks))
        .map_err(to_pyerr)?;
    let out = Array2::from_shape_vec((rows, nk), counts).expect("shape matches");
    Ok(out.into_pyarray(py))
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("KERNEL", crate::kernel::kernel_name())?;
    m.add_function(wrap_pyfunction!(knn, m)?)?;
    m.add_function(wrap_pyfunction!(first_nonfinite_row, m)?)?;
    m.add_function(wrap_pyfunction!(first_zero_row, m)?)?;
    m.add_function(wrap_pyfunction!(first_row_above, m)?)?;
    m.add_function(wrap_pyfunction!(overlap, m)?)?;
    crate::bindings_io::register(m)?;
    crate::bindings_measures::register(m)?;
    Ok(())
}
