//! Bindings of the measures' rank-count pass and list look-ups (the scored-pair primitive is
//! `_pair_scores` in `bindings.rs`). Thin like `bindings.rs`: convert, release the GIL, run the core, map errors.

use numpy::ndarray::{Array1, Array2};
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

use crate::bindings::{dtype_name, index_pairs, row_err, run_interruptible, to_pyerr};
use crate::kernel::count::CountKernel;
use crate::rank_counts as core_rank_counts;
use crate::{KnnOptions, Matrix, Metric, RankOptions, Real};

fn matrix<'a, T: Real + numpy::Element>(a: &'a PyReadonlyArray2<'_, T>) -> PyResult<Matrix<'a, T>> {
    let shape = a.shape();
    let data = a
        .as_slice()
        .map_err(|_| PyValueError::new_err("array must be C-contiguous"))?;
    Matrix::new(data, shape[0], shape[1]).map_err(to_pyerr)
}

/// The chosen candidates as a flat slice with their shape `(rows, m)`, checked: one row per
/// row of the set `name` (of `n` rows), C-contiguous.
fn chosen_of<'a>(
    chosen: &'a PyReadonlyArray2<'_, i64>,
    n: usize,
    name: &str,
) -> PyResult<(&'a [i64], usize, usize)> {
    let (rows, m) = (chosen.shape()[0], chosen.shape()[1]);
    if rows != n {
        return Err(PyValueError::new_err(format!(
            "chosen must have one row per row of {name}: {name} has {n} rows, chosen {rows}"
        )));
    }
    let c = chosen
        .as_slice()
        .map_err(|_| PyValueError::new_err("chosen must be C-contiguous"))?;
    Ok((c, rows, m))
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
    let (c, rows, m) = chosen_of(chosen, xm.rows(), "x")?;
    let out = run_interruptible(py, "rank_counts", progress, |ctl| {
        core_rank_counts(xm, c, m, &opts, ctl)
    })?
    .map_err(to_pyerr)?;
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
    let metric: Metric = metric.parse().map_err(to_pyerr)?;
    let opts = RankOptions {
        metric,
        threads,
        block,
        pack_once: true,
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

type RankedOut<'py> = (Bound<'py, PyAny>, Bound<'py, PyAny>, Bound<'py, PyAny>);

fn knn_ranked_typed<'py, T: Real + numpy::Element>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    chosen: &PyReadonlyArray2<'py, i64>,
    opts: KnnOptions,
    progress: Option<Py<PyAny>>,
    name: &str,
) -> PyResult<RankedOut<'py>> {
    let x: PyReadonlyArray2<T> = x.extract()?;
    let xm = matrix(&x)?;
    let (c, rows, m) = chosen_of(chosen, xm.rows(), name)?;
    let (lists, ranks) = run_interruptible(py, "knn", progress, |ctl| {
        crate::knn_self_ranked(xm, &opts, c, m, ctl)
    })?
    .map_err(|e| row_err(e, name, dtype_name::<T>()))?;
    let shape = (lists.rows, lists.k);
    let scores = Array2::from_shape_vec(shape, lists.scores).expect("shape matches");
    let indices = Array2::from_shape_vec(shape, lists.indices).expect("shape matches");
    let ranks = Array2::from_shape_vec((rows, m), ranks).expect("shape matches");
    Ok((
        scores.into_pyarray(py).into_any(),
        indices.into_pyarray(py).into_any(),
        ranks.into_pyarray(py).into_any(),
    ))
}

/// knn_ranked(x, k, chosen, metric, threads, block, progress=None, name="x")
///     -> (scores (n, k), indices (n, k), ranks (n, m))
///
/// The self-join of knn and rank_counts(x, chosen) in one sweep, equal to both bit for bit.
#[pyfunction]
#[pyo3(signature = (x, k, chosen, metric, threads, block, progress=None, name="x"))]
#[allow(clippy::too_many_arguments)]
fn knn_ranked<'py>(
    py: Python<'py>,
    x: &Bound<'py, PyAny>,
    k: usize,
    chosen: PyReadonlyArray2<'py, i64>,
    metric: &str,
    threads: Option<usize>,
    block: usize,
    progress: Option<Py<PyAny>>,
    name: &str,
) -> PyResult<RankedOut<'py>> {
    let metric: Metric = metric.parse().map_err(to_pyerr)?;
    let mut opts = KnnOptions::new(k, metric);
    opts.threads = threads;
    opts.block = block;
    if x.extract::<PyReadonlyArray2<f32>>().is_ok() {
        knn_ranked_typed::<f32>(py, x, &chosen, opts, progress, name)
    } else if x.extract::<PyReadonlyArray2<f64>>().is_ok() {
        knn_ranked_typed::<f64>(py, x, &chosen, opts, progress, name)
    } else {
        Err(PyTypeError::new_err(
            "expected a 2-D float32 or float64 array",
        ))
    }
}

/// find_in_rows(lists, rows, values) -> (len,) int64
///
/// For each entry t, the column of values[t] in row rows[t] of the (n, k) lists, or -1.
#[pyfunction]
fn find_in_rows<'py>(
    py: Python<'py>,
    lists: PyReadonlyArray2<'py, i64>,
    rows: PyReadonlyArray1<'py, i64>,
    values: PyReadonlyArray1<'py, i64>,
) -> PyResult<Bound<'py, PyArray1<i64>>> {
    let k = lists.shape()[1];
    let l = lists
        .as_slice()
        .map_err(|_| PyValueError::new_err("lists must be C-contiguous"))?;
    let (r, v) = (
        rows.as_slice()
            .map_err(|_| PyValueError::new_err("rows must be C-contiguous"))?,
        values
            .as_slice()
            .map_err(|_| PyValueError::new_err("values must be C-contiguous"))?,
    );
    // Never rayon's global pool: it does not survive a fork (see `crate::pool`).
    let out = py
        .detach(|| crate::pool::install(None, || crate::find_in_rows(l, k, r, v)))
        .and_then(|r| r)
        .map_err(to_pyerr)?;
    Ok(Array1::from_vec(out).into_pyarray(py))
}

fn c_slice<'a, T: numpy::Element>(a: &'a PyReadonlyArray2<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be C-contiguous")))
}

/// masked_hsic(ia, sa, ib, sb, k) -> float
///
/// CKNNA's unbiased HSIC of A's and B's scores kept on the mutual top-k pairs of the (n, kmax)
/// lists ia and ib (scores sa, sb as float64), see `crate::lists::masked_hsic`.
#[pyfunction]
fn masked_hsic(
    py: Python<'_>,
    ia: PyReadonlyArray2<'_, i64>,
    sa: PyReadonlyArray2<'_, f64>,
    ib: PyReadonlyArray2<'_, i64>,
    sb: PyReadonlyArray2<'_, f64>,
    k: usize,
) -> PyResult<f64> {
    let kmax = ia.shape()[1];
    let (a, s_a) = (c_slice(&ia, "ia")?, c_slice(&sa, "sa")?);
    let (b, s_b) = (c_slice(&ib, "ib")?, c_slice(&sb, "sb")?);
    py.detach(|| crate::pool::install(None, || crate::masked_hsic(a, s_a, b, s_b, kmax, k)))
        .and_then(|r| r)
        .map_err(to_pyerr)
}

/// pair_stats(lists, scores, k, pairs, reverse=False)
///     -> ((P, k + 1) int64 histograms, (P,) float64 HSIC, (P,) float64 reverse HSIC)
///
/// For each pair (a, b) of `pairs` (P x 2): how many items share 0..k of their first k
/// neighbours in lists[a] and lists[b] (each (n, kmax) int64), and the masked HSIC of
/// `masked_hsic` when `scores` (float64, one per list) is not empty (else NaN). With
/// `reverse`, also the HSIC of (b, a) from the same pass (else NaN): one family's matrix
/// needs only the pairs a <= b (the histogram of (b, a) is that of (a, b)); rows must not
/// repeat an item.
#[pyfunction]
#[pyo3(signature = (lists, scores, k, pairs, reverse=false))]
fn pair_stats<'py>(
    py: Python<'py>,
    lists: Vec<PyReadonlyArray2<'py, i64>>,
    scores: Vec<PyReadonlyArray2<'py, f64>>,
    k: usize,
    pairs: PyReadonlyArray2<'py, i64>,
    reverse: bool,
) -> PyResult<PairStatsOut<'py>> {
    let kmax = lists.first().map_or(0, |l| l.shape()[1]);
    let ls = lists
        .iter()
        .map(|l| c_slice(l, "lists"))
        .collect::<PyResult<Vec<_>>>()?;
    let ss = scores
        .iter()
        .map(|s| c_slice(s, "scores"))
        .collect::<PyResult<Vec<_>>>()?;
    let ps = index_pairs(&pairs)?;
    let out = py
        .detach(|| {
            crate::pool::install(None, || crate::pair_stats(&ls, &ss, kmax, k, &ps, reverse))
        })
        .and_then(|r| r)
        .map_err(to_pyerr)?;
    let mut hist = Vec::with_capacity(out.len() * (k + 1));
    let mut hsic = Vec::with_capacity(out.len());
    let mut hsic_reverse = Vec::with_capacity(out.len());
    for st in &out {
        hist.extend(st.hist.iter().map(|&c| c as i64));
        hsic.push(st.hsic.unwrap_or(f64::NAN));
        hsic_reverse.push(st.hsic_reverse.unwrap_or(f64::NAN));
    }
    let hist = Array2::from_shape_vec((out.len(), k + 1), hist).expect("shape matches");
    Ok((
        hist.into_pyarray(py).into_any(),
        Array1::from_vec(hsic).into_pyarray(py),
        Array1::from_vec(hsic_reverse).into_pyarray(py),
    ))
}

type PairStatsOut<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
);

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(rank_counts, m)?)?;
    m.add_function(wrap_pyfunction!(knn_ranked, m)?)?;
    m.add_function(wrap_pyfunction!(find_in_rows, m)?)?;
    m.add_function(wrap_pyfunction!(masked_hsic, m)?)?;
    m.add_function(wrap_pyfunction!(pair_stats, m)?)?;
    Ok(())
}
