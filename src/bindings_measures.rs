//! Bindings of the measures' primitives: the rank-count pass and the scored-pair primitive.
//! Thin like `bindings.rs`: convert, release the GIL, run the core, map errors.

use numpy::ndarray::{Array1, Array2};
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::bindings::run_interruptible;
use crate::kernel::count::CountKernel;
use crate::{pair_scores as core_pair_scores, rank_counts as core_rank_counts};
use crate::{Error, Matrix, Metric, RankOptions, Real};

fn value_error(e: Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn matrix<'a, T: Real + numpy::Element>(a: &'a PyReadonlyArray2<'_, T>) -> PyResult<Matrix<'a, T>> {
    let shape = a.shape();
    let data = a
        .as_slice()
        .map_err(|_| PyValueError::new_err("array must be C-contiguous"))?;
    Matrix::new(data, shape[0], shape[1]).map_err(value_error)
}

fn contiguous<'a, T: numpy::Element, D: numpy::ndarray::Dimension>(
    a: &'a numpy::PyReadonlyArray<'_, T, D>,
) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err("array must be C-contiguous"))
}

fn ranks_typed<'py, T: Real + CountKernel + numpy::Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    chosen: &PyReadonlyArray2<'py, i64>,
    opts: RankOptions,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let x: PyReadonlyArray2<T> = x.extract()?;
    let xm = matrix(&x)?;
    let (rows, m) = (chosen.shape()[0], chosen.shape()[1]);
    if rows != xm.rows() {
        return Err(PyValueError::new_err(format!(
            "chosen must have one row per row of x: x has {} rows, chosen {rows}",
            xm.rows()
        )));
    }
    let c = contiguous(chosen)?;
    let out = run_interruptible(py, progress, |ctl| core_rank_counts(xm, c, m, &opts, ctl))?;
    let arr = Array2::from_shape_vec((rows, m), out).expect("shape matches");
    Ok(arr.into_pyarray(py).into_any())
}

/// rank_counts(x, chosen, metric, threads, block, progress=None) -> (n, m) int64
///
/// r(i, chosen[i, s]) for every chosen entry (0 where it is -1), with exactly the keys of knn.
#[pyfunction]
#[pyo3(signature = (x, chosen, metric, threads, block, progress=None))]
fn rank_counts<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    chosen: PyReadonlyArray2<'py, i64>,
    metric: &str,
    threads: Option<usize>,
    block: usize,
    progress: Option<Py<PyAny>>,
) -> PyResult<Bound<'py, PyAny>> {
    let metric: Metric = metric.parse().map_err(value_error)?;
    let opts = RankOptions {
        metric,
        threads,
        block,
    };
    if x.extract::<PyReadonlyArray2<f32>>().is_ok() {
        ranks_typed::<f32>(py, x, &chosen, opts, progress)
    } else if x.extract::<PyReadonlyArray2<f64>>().is_ok() {
        ranks_typed::<f64>(py, x, &chosen, opts, progress)
    } else {
        Err(PyTypeError::new_err(
            "expected a 2-D float32 or float64 array",
        ))
    }
}

fn pairs_typed<'py, T: Real + CountKernel + numpy::Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    rows: &PyReadonlyArray1<'py, i64>,
    cols: &PyReadonlyArray1<'py, i64>,
    metric: Metric,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let x: PyReadonlyArray2<T> = x.extract()?;
    let xm = matrix(&x)?;
    let (r, c) = (contiguous(rows)?, contiguous(cols)?);
    let out = py
        .detach(|| core_pair_scores(xm, r, c, metric, threads))
        .map_err(value_error)?;
    Ok(Array1::from_vec(out).into_pyarray(py).into_any())
}

/// pair_scores(x, rows, cols, metric, threads) -> (len(rows),) scores in x's dtype
///
/// The score of each pair (rows[t], cols[t]) with exactly the arithmetic of knn.
#[pyfunction]
#[pyo3(signature = (x, rows, cols, metric, threads))]
fn pair_scores<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    rows: PyReadonlyArray1<'py, i64>,
    cols: PyReadonlyArray1<'py, i64>,
    metric: &str,
    threads: Option<usize>,
) -> PyResult<Bound<'py, PyAny>> {
    let metric: Metric = metric.parse().map_err(value_error)?;
    if x.extract::<PyReadonlyArray2<f32>>().is_ok() {
        pairs_typed::<f32>(py, x, &rows, &cols, metric, threads)
    } else if x.extract::<PyReadonlyArray2<f64>>().is_ok() {
        pairs_typed::<f64>(py, x, &rows, &cols, metric, threads)
    } else {
        Err(PyTypeError::new_err(
            "expected a 2-D float32 or float64 array",
        ))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rank_counts, m)?)?;
    m.add_function(wrap_pyfunction!(pair_scores, m)?)?;
    Ok(())
}
