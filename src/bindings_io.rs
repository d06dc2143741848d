//! Python bindings of the embedding-file readers and writers in [`crate::readers`].
//!
//! `read_file` reads a path itself (regular files, pipes and devices alike, plain or
//! compressed), as a stream: never a memory map, so a file that shrinks while it is read is an
//! error, not SIGBUS. `read_embeddings` reads bytes already in memory. Parsing runs with the
//! GIL released, on a worker thread that Ctrl-C can cancel, inside a pool of `crate::pool`.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyMemoryError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::bindings::{run_interruptible, to_pyerr};
use crate::readers::{
    self, Detected, Duplicates, FileSource, Format, Location, NonFinite, ReadError, ReadOptions,
    Table, Utf8Policy, Value, WriteError,
};

create_exception!(
    nnoverlap,
    FormatError,
    PyValueError,
    "An embedding file that does not follow its format. The message names the file, the line \
     (or binary row and byte) and what was wrong; the attributes `path`, `line`, `row` and `byte` \
     hold the same (None where they do not apply)."
);

fn format_error(py: Python<'_>, name: &str, location: Option<Location>, message: &str) -> PyErr {
    let err = match location {
        Some(loc) => FormatError::new_err(format!("{name}, {loc}: {message}")),
        None => FormatError::new_err(format!("{name}: {message}")),
    };
    let (line, row, byte) = match location {
        Some(Location::Line(l)) => (Some(l), None, None),
        Some(Location::Row { row, byte }) => (None, Some(row), Some(byte)),
        None => (None, None, None),
    };
    let value = err.value(py);
    let attrs = [("line", line), ("row", row), ("byte", byte)];
    let set = value.setattr("path", name).and_then(|_| {
        attrs
            .iter()
            .try_for_each(|(key, val)| value.setattr(*key, *val))
    });
    match set {
        Ok(()) => err,
        Err(e) => e,
    }
}

/// The Python exception for a read error of the file `name`.
fn read_pyerr(py: Python<'_>, name: &str, e: ReadError) -> PyErr {
    match e {
        ReadError::Format { location, message } => format_error(py, name, Some(location), &message),
        ReadError::Unreadable(message) => format_error(py, name, None, &message),
        ReadError::Io { kind, message } => {
            PyErr::from(io::Error::new(kind, format!("{name}: {message}")))
        }
        e @ ReadError::OutOfMemory { .. } => PyMemoryError::new_err(format!("{name}: {e}")),
        ReadError::Interrupted => to_pyerr(crate::Error::Interrupted),
    }
}

fn parse_format(format: &str) -> PyResult<Format> {
    format.parse().map_err(PyValueError::new_err)
}

fn parse_options(
    limit: Option<usize>,
    errors: &str,
    duplicates: &str,
    nonfinite: &str,
    chunk: usize,
) -> PyResult<ReadOptions> {
    let utf8 = match errors {
        "strict" => Utf8Policy::Strict,
        "replace" => Utf8Policy::Replace,
        other => {
            return Err(PyValueError::new_err(format!(
                "errors must be \"strict\" or \"replace\", got {other:?}"
            )))
        }
    };
    let duplicates = match duplicates {
        "error" => Duplicates::Error,
        "first" => Duplicates::First,
        "last" => Duplicates::Last,
        other => {
            return Err(PyValueError::new_err(format!(
                "duplicates must be \"error\", \"first\" or \"last\", got {other:?}"
            )))
        }
    };
    let nonfinite = match nonfinite {
        "error" => NonFinite::Error,
        "drop" => NonFinite::Drop,
        other => {
            return Err(PyValueError::new_err(format!(
                "nonfinite must be \"error\" or \"drop\", got {other:?}"
            )))
        }
    };
    Ok(ReadOptions {
        limit,
        utf8,
        duplicates,
        nonfinite,
        chunk,
    })
}

/// (words, vectors, format, header_rows, duplicates_dropped, nonfinite_dropped)
type ReadOut<'py> = (
    Bound<'py, PyList>,
    Bound<'py, PyAny>,
    &'static str,
    Option<usize>,
    usize,
    Bound<'py, PyList>,
);

/// Where the bytes come from.
enum Input<'d> {
    Memory(&'d [u8]),
    Path(PathBuf),
}

fn read_typed<'py, T: Value + numpy::Element>(
    py: Python<'py>,
    input: Input<'_>,
    name: &str,
    format: Option<Format>,
    opts: ReadOptions,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<ReadOut<'py>> {
    // Never rayon's global pool: it does not survive a fork (see `crate::pool`).
    let pool = crate::pool::pool(threads).map_err(to_pyerr)?;
    let outcome = run_interruptible(py, "load", progress, |ctl| {
        let read = || match &input {
            Input::Memory(data) => {
                readers::read_from::<T, _>(*data, Some(data.len() as u64), format, &opts, ctl)
            }
            Input::Path(path) => {
                let (src, size) = FileSource::open(path, ctl)?;
                readers::read_from::<T, _>(src, size, format, &opts, ctl)
            }
        };
        Ok::<_, crate::Error>(pool.install(read))
    })?
    .map_err(to_pyerr)?;
    let (table, format): (Table<T>, Format) = outcome.map_err(|e| read_pyerr(py, name, e))?;
    let rows = table.words.len();
    let vectors = Array2::from_shape_vec((rows, table.dim), table.vectors)
        .map_err(|e| PyValueError::new_err(format!("internal error (a bug): {e}")))?;
    let words = PyList::new(py, table.words)?;
    let dropped = PyList::new(py, table.nonfinite_dropped)?;
    Ok((
        words,
        vectors.into_pyarray(py).into_any(),
        format.name(),
        table.header_rows,
        table.duplicates_dropped,
        dropped,
    ))
}

#[allow(clippy::too_many_arguments)]
fn read_any<'py>(
    py: Python<'py>,
    input: Input<'_>,
    name: &str,
    format: Option<&str>,
    limit: Option<usize>,
    dtype: &str,
    errors: &str,
    duplicates: &str,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    nonfinite: &str,
    chunk: usize,
) -> PyResult<ReadOut<'py>> {
    let format = format.map(parse_format).transpose()?;
    let opts = parse_options(limit, errors, duplicates, nonfinite, chunk)?;
    match dtype {
        "float32" => read_typed::<f32>(py, input, name, format, opts, threads, progress),
        "float64" => read_typed::<f64>(py, input, name, format, opts, threads, progress),
        other => Err(PyValueError::new_err(format!(
            "dtype must be float32 or float64, got {other}"
        ))),
    }
}

/// read_embeddings(data, name, format, limit, dtype, errors, duplicates, threads=None,
/// progress=None, nonfinite="error", chunk=0)
/// -> (words, vectors, format, header_rows, duplicates_dropped, nonfinite_dropped)
///
/// `data`: the file's bytes (plain or compressed) as a 1-D uint8 array; `name`: the file name
/// used in messages; `format`: a format name or None to detect it; `dtype`: "float32" or
/// "float64"; `errors`: "strict" or "replace"; `duplicates`: "error", "first" or "last";
/// `nonfinite`: "error" or "drop"; `chunk`: bytes per parsing task (0: the default; tests use
/// small chunks). Raises FormatError naming the line.
#[pyfunction]
#[pyo3(signature = (data, name, format, limit, dtype, errors, duplicates, threads=None, progress=None, nonfinite="error", chunk=0))]
#[allow(clippy::too_many_arguments)]
fn read_embeddings<'py>(
    py: Python<'py>,
    data: PyReadonlyArray1<'py, u8>,
    name: &str,
    format: Option<&str>,
    limit: Option<usize>,
    dtype: &str,
    errors: &str,
    duplicates: &str,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    nonfinite: &str,
    chunk: usize,
) -> PyResult<ReadOut<'py>> {
    let bytes = data
        .as_slice()
        .map_err(|_| PyValueError::new_err("data must be a contiguous uint8 array"))?;
    read_any(
        py,
        Input::Memory(bytes),
        name,
        format,
        limit,
        dtype,
        errors,
        duplicates,
        threads,
        progress,
        nonfinite,
        chunk,
    )
}

/// read_file(path, name, format, limit, dtype, errors, duplicates, threads=None, progress=None,
/// nonfinite="error", chunk=0) -> as read_embeddings
///
/// Reads the file, pipe or device at `path` as a stream (plain, gzip, bzip2 or xz). OSError
/// (FileNotFoundError, ...) if it cannot be read; FormatError if it is not an embedding file
/// of a text or word2vec binary format, naming what it looks like.
#[pyfunction]
#[pyo3(signature = (path, name, format, limit, dtype, errors, duplicates, threads=None, progress=None, nonfinite="error", chunk=0))]
#[allow(clippy::too_many_arguments)]
fn read_file<'py>(
    py: Python<'py>,
    path: PathBuf,
    name: &str,
    format: Option<&str>,
    limit: Option<usize>,
    dtype: &str,
    errors: &str,
    duplicates: &str,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
    nonfinite: &str,
    chunk: usize,
) -> PyResult<ReadOut<'py>> {
    read_any(
        py,
        Input::Path(path),
        name,
        format,
        limit,
        dtype,
        errors,
        duplicates,
        threads,
        progress,
        nonfinite,
        chunk,
    )
}

/// sniff(head) -> (kind, description) | None: what a file's first bytes (64 or more) say it
/// is: "gzip", "bzip2", "xz", "npy", "npz", "zip", "torch", "parquet", "safetensors",
/// "pickle", "png", ...; None for text, word2vec binary and unknown bytes.
#[pyfunction]
fn sniff(head: &Bound<'_, PyBytes>) -> Option<(&'static str, &'static str)> {
    readers::sniff(head.as_bytes()).map(|k| (k.name, k.what))
}

/// detect_format(data, name) -> "npy" | "word2vec" | "word2vec-binary" | "glove"
#[pyfunction]
fn detect_format(py: Python<'_>, data: PyReadonlyArray1<'_, u8>, name: &str) -> PyResult<String> {
    let bytes = data
        .as_slice()
        .map_err(|_| PyValueError::new_err("data must be a contiguous uint8 array"))?;
    match readers::detect_format(bytes) {
        Ok(Detected::Npy) => Ok("npy".into()),
        Ok(Detected::Embeddings(f)) => Ok(f.name().into()),
        Err(e) => Err(read_pyerr(py, name, e)),
    }
}

/// A file created on the first write, so that nothing is created when the table is refused.
struct LazyFile {
    path: PathBuf,
    file: Option<BufWriter<File>>,
}

impl LazyFile {
    fn get(&mut self) -> io::Result<&mut BufWriter<File>> {
        if self.file.is_none() {
            let f = File::create(&self.path)?;
            self.file = Some(BufWriter::with_capacity(1 << 20, f));
        }
        Ok(self.file.as_mut().expect("opened above"))
    }
}

impl Write for LazyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.get()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.get()?.flush()
    }
}

fn write_typed<T: Value + numpy::Element>(
    py: Python<'_>,
    path: PathBuf,
    words: &[String],
    vectors: &Bound<'_, PyAny>,
    format: Format,
    precision: Option<usize>,
) -> PyResult<()> {
    let arr: PyReadonlyArray2<T> = vectors.extract()?;
    let dim = arr.shape()[1];
    let values = arr
        .as_slice()
        .map_err(|_| PyValueError::new_err("vectors must be C-contiguous"))?;
    let shown = path.display().to_string();
    let mut out = LazyFile { path, file: None };
    let pool = crate::pool::pool(None).map_err(to_pyerr)?;
    py.detach(|| pool.install(|| readers::write(&mut out, words, values, dim, format, precision)))
        .map_err(|e| match e {
            WriteError::Invalid(m) => PyValueError::new_err(m),
            WriteError::Io(e) => PyOSError::new_err(format!("{shown}: {e}")),
        })
}

/// write_embeddings(path, words, vectors, format, precision=None): writes an embedding file.
///
/// `vectors`: C-contiguous (len(words), dim) float32 or float64. Raises ValueError for words or
/// values the format cannot store (nothing is written then), OSError for I/O failures.
#[pyfunction]
#[pyo3(signature = (path, words, vectors, format, precision=None))]
fn write_embeddings(
    py: Python<'_>,
    path: PathBuf,
    words: Vec<String>,
    vectors: &Bound<'_, PyAny>,
    format: &str,
    precision: Option<usize>,
) -> PyResult<()> {
    let format = parse_format(format)?;
    if vectors.extract::<PyReadonlyArray2<f32>>().is_ok() {
        write_typed::<f32>(py, path, &words, vectors, format, precision)
    } else if vectors.extract::<PyReadonlyArray2<f64>>().is_ok() {
        write_typed::<f64>(py, path, &words, vectors, format, precision)
    } else {
        Err(PyTypeError::new_err(
            "vectors must be a 2-D float32 or float64 array",
        ))
    }
}

pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("FormatError", m.py().get_type::<FormatError>())?;
    m.add_function(wrap_pyfunction!(read_embeddings, m)?)?;
    m.add_function(wrap_pyfunction!(read_file, m)?)?;
    m.add_function(wrap_pyfunction!(sniff, m)?)?;
    m.add("WHAT_WE_READ", readers::WHAT_WE_READ)?;
    m.add_function(wrap_pyfunction!(detect_format, m)?)?;
    m.add_function(wrap_pyfunction!(write_embeddings, m)?)?;
    Ok(())
}
