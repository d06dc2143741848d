//! Python bindings of the embedding-file readers and writers in [`crate::readers`].
//!
//! The Python layer (`nnoverlap.io`) memory-maps the file and passes its bytes as a read-only
//! uint8 array, so reading with a `limit` touches only the pages of the first rows. Parsing runs
//! with the GIL released, on a worker thread that Ctrl-C can cancel.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::create_exception;
use pyo3::exceptions::{PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::bindings::{run_interruptible, to_pyerr};
use crate::readers::{
    self, Detected, Duplicates, Format, Location, ReadError, ReadOptions, Table, Utf8Policy, Value,
    WriteError,
};

create_exception!(
    nnoverlap,
    FormatError,
    PyValueError,
    "An embedding file that does not follow its format. The message names the file, the line \
     (or binary row and byte) and what was wrong; the attributes `path`, `line`, `row` and `byte` \
     hold the same (None where they do not apply)."
);

fn format_error(py: Python<'_>, name: &str, location: Location, message: &str) -> PyErr {
    let err = FormatError::new_err(format!("{name}, {location}: {message}"));
    let (line, row, byte) = match location {
        Location::Line(l) => (Some(l), None, None),
        Location::Row { row, byte } => (None, Some(row), Some(byte)),
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

fn parse_format(format: &str) -> PyResult<Format> {
    format.parse().map_err(PyValueError::new_err)
}

type ReadOut<'py> = (Bound<'py, PyList>, Bound<'py, PyAny>, Option<usize>, usize);

fn read_typed<'py, T: Value + numpy::Element>(
    py: Python<'py>,
    data: &[u8],
    name: &str,
    format: Format,
    opts: ReadOptions,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<ReadOut<'py>> {
    // Never rayon's global pool: it does not survive a fork (see `crate::pool`).
    let pool = crate::pool::pool(threads).map_err(to_pyerr)?;
    let outcome = run_interruptible(py, "load", progress, |ctl| {
        match pool.install(|| readers::read::<T>(data, format, &opts, ctl)) {
            Err(ReadError::Interrupted) => Err(crate::Error::Interrupted),
            other => Ok(other),
        }
    })?
    .map_err(to_pyerr)?;
    let table: Table<T> = match outcome {
        Ok(table) => table,
        Err(ReadError::Format { location, message }) => {
            return Err(format_error(py, name, location, &message))
        }
        Err(ReadError::Interrupted) => unreachable!("mapped above"),
    };
    let rows = table.words.len();
    let vectors = Array2::from_shape_vec((rows, table.dim), table.vectors)
        .expect("the reader returns rows * dim values");
    let words = PyList::new(py, table.words)?;
    Ok((
        words,
        vectors.into_pyarray(py).into_any(),
        table.header_rows,
        table.duplicates_dropped,
    ))
}

/// read_embeddings(data, name, format, limit, dtype, errors, duplicates, threads=None, progress=None)
/// -> (words, vectors, header_rows, duplicates_dropped)
///
/// `data`: the file's bytes as a 1-D uint8 array; `name`: the file name used in messages;
/// `dtype`: "float32" or "float64"; `errors`: "strict" or "replace"; `duplicates`: "error",
/// "first" or "last". Raises FormatError naming the line.
#[pyfunction]
#[pyo3(signature = (data, name, format, limit, dtype, errors, duplicates, threads=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn read_embeddings<'py>(
    py: Python<'py>,
    data: PyReadonlyArray1<'py, u8>,
    name: &str,
    format: &str,
    limit: Option<usize>,
    dtype: &str,
    errors: &str,
    duplicates: &str,
    threads: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<ReadOut<'py>> {
    let format = parse_format(format)?;
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
    let opts = ReadOptions {
        limit,
        utf8,
        duplicates,
    };
    let bytes = data
        .as_slice()
        .map_err(|_| PyValueError::new_err("data must be a contiguous uint8 array"))?;
    match dtype {
        "float32" => read_typed::<f32>(py, bytes, name, format, opts, threads, progress),
        "float64" => read_typed::<f64>(py, bytes, name, format, opts, threads, progress),
        other => Err(PyValueError::new_err(format!(
            "dtype must be float32 or float64, got {other}"
        ))),
    }
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
        Err(ReadError::Format { location, message }) => {
            Err(format_error(py, name, location, &message))
        }
        Err(ReadError::Interrupted) => Err(PyValueError::new_err("interrupted")),
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
    m.add_function(wrap_pyfunction!(detect_format, m)?)?;
    m.add_function(wrap_pyfunction!(write_embeddings, m)?)?;
    Ok(())
}
