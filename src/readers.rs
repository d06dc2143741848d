//! Embedding files: reading and writing word2vec text and binary, GloVe text and fastText `.vec`,
//! plain or compressed (gzip, bzip2, xz).
//!
//! The formats as their writers produce them (see `formats.md` of the project):
//! - word2vec text and fastText `.vec`: a header line `rows dim`, then `word v1 ... vd` per line
//!   (word2vec.c and fastText end each value with a space, gensim does not);
//! - word2vec binary: the same header, then per row the word, one space, `dim` little-endian
//!   float32, and a newline (word2vec.c) or nothing (gensim);
//! - GloVe text: no header, `word v1 ... vd` per line. Words may contain spaces (glove.840B):
//!   the **last** `dim` space-separated fields are the vector, everything before is the word.
//!
//! Reading is strict: any row that does not follow the format is an error that names the line
//! (text) or the row and byte offset (binary) and says what was wrong. Values are never padded
//! or broadcast; NaN and infinity are refused (or their rows dropped, on request); a header must
//! agree with the file. The documented tolerances: one UTF-8 byte-order mark at the very start
//! of the (decompressed) content, in every format; `\r\n` line ends; spaces at the end of a
//! line; blank lines at the very end of the file. The rules that hold in every format: a word is
//! never empty and never contains a NUL byte, a line break or a carriage return.
//!
//! Input is a stream ([`std::io::Read`]): a regular file, a pipe, a device or bytes in memory,
//! optionally compressed (recognised by its magic bytes, decompressed as it is read). Nothing is
//! memory-mapped, so a file that shrinks while it is read gives an error, never SIGBUS; nothing
//! is allocated from a header's numbers (memory grows with the rows actually read). Text is cut
//! at newlines into chunks of [`TEXT_CHUNK`] bytes by a producer thread (which also
//! decompresses) and parsed in parallel by the current rayon pool; errors are reported for the
//! first offending line in file order. Binary rows are decoded in one sequential pass.
//!
//! This module knows nothing about Python; it writes to any [`std::io::Write`].

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::path::Path;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::time::Duration;

use rayon::prelude::*;

use crate::Control;

/// Bytes of text per parallel parsing task (the default of [`ReadOptions::chunk`]).
pub const TEXT_CHUNK: usize = 1 << 20;
/// Rows per parallel task when formatting rows for writing.
const ROW_CHUNK: usize = 4096;
/// Writing formats this many row chunks in parallel before writing them out, which bounds the
/// memory of the formatted text.
const WRITE_BATCH: usize = 32;
/// The UTF-8 byte-order mark, tolerated at the start of the content.
const BOM: &[u8] = b"\xEF\xBB\xBF";
/// Format detection looks at the first line and at most this many bytes after it.
pub const DETECT_BYTES: usize = 1 << 20;
/// The first line (a header, or GloVe's first row) may be at most this long.
const MAX_FIRST_LINE: usize = 64 << 20;
/// A text row may be at most this long plus [`MAX_BYTES_PER_VALUE`] per value; a longer line is
/// refused before it is read whole (a file that is not text would otherwise be one huge line).
const MAX_LINE_BASE: usize = 1 << 20;
const MAX_BYTES_PER_VALUE: usize = 256;
/// A word of a binary file may be at most this long (the rows are out of step otherwise).
const MAX_BINARY_WORD: usize = 1 << 20;
/// Header dimensions must be below this (2^32).
const MAX_DIM: u64 = 1 << 32;
/// Bytes per read of a file or pipe.
const READ_BLOCK: usize = 1 << 20;
/// How often a thread waiting for input looks whether the read was cancelled.
const POLL: Duration = Duration::from_millis(20);

/// An embedding file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// word2vec text: header `rows dim`, then `word v1 ... vd`.
    Word2Vec,
    /// word2vec binary: header `rows dim`, then `word` space `dim` float32 per row.
    Word2VecBinary,
    /// GloVe text: `word v1 ... vd`, no header.
    Glove,
    /// fastText `.vec`: word2vec text whose values are each followed by a space.
    FastText,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::Word2Vec,
        Format::Word2VecBinary,
        Format::Glove,
        Format::FastText,
    ];

    /// The name used by the Python API and the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Word2Vec => "word2vec",
            Format::Word2VecBinary => "word2vec-binary",
            Format::Glove => "glove",
            Format::FastText => "fasttext",
        }
    }

    fn has_header(self) -> bool {
        !matches!(self, Format::Glove)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = Format::ALL.iter().map(|f| f.name()).collect();
                format!("unknown format {s:?}; expected one of {}", names.join(", "))
            })
    }
}

/// What the content of a file looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// A NumPy `.npy` array (read by the Python layer).
    Npy,
    Embeddings(Format),
}

/// A compression recognised by its magic bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Bzip2,
    Xz,
}

impl Compression {
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Bzip2 => "bzip2",
            Compression::Xz => "xz",
        }
    }
}

/// What the first bytes of a file say it is, when they say anything: the kinds of file people
/// mistake for embedding files or keep embeddings in. `name` is a short tag (used by the Python
/// layer to choose a reader), `what` says it in words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kind {
    pub name: &'static str,
    pub what: &'static str,
}

/// The kind of file `head` (its first bytes, at least 64 when the file has them) starts like,
/// or None for anything else (text, word2vec binary, unknown bytes).
pub fn sniff(head: &[u8]) -> Option<Kind> {
    let kind = |name, what| Some(Kind { name, what });
    if head.starts_with(b"\x1f\x8b") {
        return kind("gzip", "gzip-compressed data");
    }
    if head.len() >= 4 && head.starts_with(b"BZh") && (b'1'..=b'9').contains(&head[3]) {
        return kind("bzip2", "bzip2-compressed data");
    }
    if head.starts_with(b"\xFD7zXZ\x00") {
        return kind("xz", "xz-compressed data");
    }
    if head.starts_with(b"\x28\xB5\x2F\xFD") {
        return kind(
            "zstd",
            "zstd-compressed data (not supported: decompress it with `zstd -d`)",
        );
    }
    if head.starts_with(b"\x93NUMPY") {
        return kind("npy", "a NumPy .npy array");
    }
    if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        // The first member's name: `.npy` members make an .npz, `data.pkl` a torch checkpoint.
        let name = if head.len() >= 30 {
            let n = u16::from_le_bytes([head[26], head[27]]) as usize;
            head.get(30..30 + n).unwrap_or(&head[30..])
        } else {
            &[][..]
        };
        if name.ends_with(b".npy") {
            return kind("npz", "a NumPy .npz archive");
        }
        if name.ends_with(b"data.pkl")
            || name.ends_with(b"/version")
            || name.ends_with(b"/byteorder")
        {
            return kind(
                "torch",
                "a PyTorch checkpoint (.pt, a zip of pickles, which are never loaded: they can \
                 run code)",
            );
        }
        return kind("zip", "a zip archive (unzip it first)");
    }
    if head.starts_with(b"PAR1") {
        return kind("parquet", "an Apache Parquet file");
    }
    if head.len() >= 10 && head[8] == b'{' {
        let n = u64::from_le_bytes(head[..8].try_into().expect("8 bytes"));
        if (2..100 << 20).contains(&n) {
            return kind("safetensors", "a safetensors file");
        }
    }
    if head.len() >= 2 && head[0] == 0x80 && (2..=5).contains(&head[1]) {
        return kind(
            "pickle",
            "a Python pickle (gensim's .kv/.model, a legacy torch .pt; pickles are never loaded: \
             they can run code)",
        );
    }
    if head.starts_with(b"\x89PNG\r\n\x1a\n") {
        return kind("png", "a PNG image");
    }
    if head.starts_with(b"\xFF\xD8\xFF") {
        return kind("jpeg", "a JPEG image");
    }
    if head.starts_with(b"%PDF") {
        return kind("pdf", "a PDF document");
    }
    if head.starts_with(b"\x89HDF\r\n\x1a\n") {
        return kind(
            "hdf5",
            "an HDF5 file (read the array with h5py and pass it as an array)",
        );
    }
    if head.starts_with(b"\x7FELF") {
        return kind("elf", "an executable (ELF)");
    }
    if head.starts_with(b"ARROW1") {
        return kind("arrow", "an Arrow IPC file (convert it to Parquet)");
    }
    None
}

/// What the readers of this module read, for messages about files they do not.
pub const WHAT_WE_READ: &str = "word2vec text or binary, GloVe or fastText .vec text (each \
    optionally gzip, bzip2 or xz compressed), .npy, .npz, .safetensors or Parquet";

/// What to do with words that are not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Utf8Policy {
    /// An error naming the line.
    #[default]
    Strict,
    /// Replace each invalid sequence with U+FFFD.
    Replace,
}

/// What to do with a word that occurs twice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Duplicates {
    /// An error naming both lines.
    #[default]
    Error,
    /// Keep the first occurrence, drop the later ones.
    First,
    /// Keep the word at the position of its first occurrence with the vector of its last one
    /// (what filling a dictionary row by row gives).
    Last,
}

/// What to do with a row that holds NaN or an infinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NonFinite {
    /// An error naming the line.
    #[default]
    Error,
    /// Drop the row; [`Table::nonfinite_dropped`] lists its word. Rows are dropped before the
    /// duplicate policy applies (a dropped row is as if absent).
    Drop,
}

#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Read only the first `limit` rows, without looking at the rest of the file.
    pub limit: Option<usize>,
    pub utf8: Utf8Policy,
    pub duplicates: Duplicates,
    pub nonfinite: NonFinite,
    /// Bytes of text per parallel parsing task; 0 means [`TEXT_CHUNK`]. Tests use small chunks
    /// so that rows cross the chunk boundaries.
    pub chunk: usize,
}

/// Where in a file a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// 1-based line of a text file (the header of any format is line 1).
    Line(u64),
    /// 1-based row of a binary file (the header not counted) and the byte offset of its start.
    Row { row: u64, byte: u64 },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(line) => write!(f, "line {line}"),
            Location::Row { row, byte } => write!(f, "row {row} (byte {byte})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// The file does not follow its format.
    Format { location: Location, message: String },
    /// The whole file is not something this module reads (a PNG, a zip, corrupt compressed
    /// data); the message says what it looks like.
    Unreadable(String),
    /// Reading failed: `kind` and the system's message.
    Io {
        kind: io::ErrorKind,
        message: String,
    },
    /// Memory for the rows could not be allocated.
    OutOfMemory { bytes: usize },
    /// Cancelled through [`Control::cancel`].
    Interrupted,
}

impl ReadError {
    fn at(location: Location, message: impl Into<String>) -> Self {
        ReadError::Format {
            location,
            message: message.into(),
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Format { location, message } => write!(f, "{location}: {message}"),
            ReadError::Unreadable(m) => f.write_str(m),
            ReadError::Io { message, .. } => f.write_str(message),
            ReadError::OutOfMemory { bytes } => write!(
                f,
                "cannot allocate {bytes} bytes ({:.1} GiB) for the vectors",
                *bytes as f64 / (1u64 << 30) as f64
            ),
            ReadError::Interrupted => f.write_str("reading interrupted"),
        }
    }
}

impl std::error::Error for ReadError {}

/// The rows of an embedding file.
#[derive(Debug, Clone, PartialEq)]
pub struct Table<T> {
    pub words: Vec<String>,
    /// Row-major, `words.len() * dim` values.
    pub vectors: Vec<T>,
    pub dim: usize,
    /// The row count announced by the header, for formats that have one.
    pub header_rows: Option<usize>,
    /// Rows dropped under [`Duplicates::First`] or [`Duplicates::Last`].
    pub duplicates_dropped: usize,
    /// The words of the rows dropped under [`NonFinite::Drop`], in file order.
    pub nonfinite_dropped: Vec<String>,
}

/// The element types a file can be read into and written from.
pub trait Value:
    Copy + Send + Sync + Default + FromStr + fmt::Display + fmt::LowerExp + 'static
{
    /// "float32" or "float64", for messages.
    const NAME: &'static str;
    fn from_f32(x: f32) -> Self;
    fn to_f64(self) -> f64;
    fn is_finite(self) -> bool;
}

impl Value for f32 {
    const NAME: &'static str = "float32";
    fn from_f32(x: f32) -> Self {
        x
    }
    fn to_f64(self) -> f64 {
        self as f64
    }
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
}

impl Value for f64 {
    const NAME: &'static str = "float64";
    fn from_f32(x: f32) -> Self {
        x as f64
    }
    fn to_f64(self) -> f64 {
        self
    }
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
}

// ---------------------------------------------------------------------------------------------
// Small byte helpers

fn find_byte(hay: &[u8], b: u8) -> Option<usize> {
    hay.iter().position(|&x| x == b)
}

fn count_byte(hay: &[u8], b: u8) -> u64 {
    hay.iter().filter(|&&x| x == b).count() as u64
}

/// The line starting at `data[0]` (without its `\n`) and the rest after the `\n`.
fn split_line(data: &[u8]) -> (&[u8], &[u8]) {
    match find_byte(data, b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[]),
    }
}

/// A line without its tolerated ending: one `\r`, then any spaces.
fn trim_line_end(mut line: &[u8]) -> &[u8] {
    if let [rest @ .., b'\r'] = line {
        line = rest;
    }
    while let [rest @ .., b' '] = line {
        line = rest;
    }
    line
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|&b| matches!(b, b' ' | b'\r' | b'\t'))
}

/// A field that reads as a number in any text format (the check used to tell words from values).
fn looks_numeric(field: &[u8]) -> bool {
    field.iter().any(u8::is_ascii_digit)
        && std::str::from_utf8(field).is_ok_and(|s| s.parse::<f64>().is_ok())
}

/// Shows a field in a message: quoted, escaped, shortened when long.
fn show(field: &[u8]) -> String {
    const MAX: usize = 40;
    let text = String::from_utf8_lossy(&field[..field.len().min(MAX)]);
    let more = if field.len() > MAX { "..." } else { "" };
    format!("{:?}{more}", text.as_ref())
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `rows rows of dim values` with correct plurals.
fn rows_of(rows: u64, dim: u64) -> String {
    format!(
        "{} of {}",
        plural(rows, "row", "rows"),
        plural(dim, "value", "values")
    )
}

/// The header `rows dim` of word2vec and fastText files, or None if `line` is not one.
/// Numbers too large for `u64` saturate, so the size checks reject them with a clear message.
fn parse_header(line: &[u8]) -> Option<(u64, u64)> {
    let mut fields = line
        .split(|&b| b == b' ' || b == b'\t' || b == b'\r')
        .filter(|f| !f.is_empty());
    let mut number = || -> Option<u64> {
        let f = fields.next()?;
        if !f.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(f.iter().fold(0u64, |acc, &b| {
            acc.saturating_mul(10).saturating_add((b - b'0') as u64)
        }))
    };
    let (rows, dim) = (number()?, number()?);
    fields.next().is_none().then_some((rows, dim))
}

/// What is wrong with a word in every format, or None: it is empty, or holds a NUL byte, a
/// line break or a carriage return (which no line-based format can hold, and which in a
/// binary file mean the rows are out of step).
fn word_rule(word: &[u8]) -> Option<&'static str> {
    if word.is_empty() {
        return Some("the word is empty");
    }
    for &b in word {
        match b {
            0 => return Some("the word contains a NUL byte, which no format allows in a word"),
            b'\n' => return Some("the word contains a newline"),
            b'\r' => {
                return Some(
                    "the word contains a carriage return (\\r): does the file end its lines \
                     with \\r alone (old Mac)? Convert them to \\n",
                )
            }
            _ => {}
        }
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Input: files, pipes and memory, plain or compressed

/// Reads a file or any other path (a pipe, `/dev/stdin`, `/proc/...`) on a thread of its own and
/// hands its bytes over in blocks, so that waiting for a pipe whose writer is slow (or absent:
/// opening a FIFO waits for a writer) never keeps [`Control::cancel`] from taking effect: the
/// reader returns [`io::ErrorKind::Interrupted`]-free errors as soon as it is cancelled, and the
/// thread ends at its next block (or, blocked in the system, when the process exits).
pub struct FileSource<'c> {
    rx: Receiver<io::Result<Vec<u8>>>,
    block: Vec<u8>,
    pos: usize,
    done: bool,
    ctl: &'c Control,
    /// The first error of the file itself (not of decompression), kept for the message.
    failed: Option<(io::ErrorKind, String)>,
}

/// The marker message of the error a [`FileSource`] returns when cancelled.
const CANCELLED: &str = "nnoverlap: reading cancelled";

impl<'c> FileSource<'c> {
    /// Opens `path` for reading; returns the source and the file's size when it is a regular
    /// file (None for pipes and devices). Progress is counted in bytes of the file.
    pub fn open(path: &Path, ctl: &'c Control) -> Result<(Self, Option<u64>), ReadError> {
        let meta = std::fs::metadata(path).map_err(|e| io_error(&e))?;
        if meta.is_dir() {
            return Err(ReadError::Io {
                kind: io::ErrorKind::Other,
                message: "is a directory, not a file".into(),
            });
        }
        // Files of /proc and /sys say they hold 0 bytes and then give some: a regular file's
        // size is trusted only when it is not 0.
        let size = (meta.is_file() && meta.len() > 0).then_some(meta.len());
        if let Some(n) = size {
            ctl.add_total(n.max(1));
        }
        let (tx, rx) = sync_channel::<io::Result<Vec<u8>>>(4);
        let path = path.to_owned();
        // Detached: a thread blocked in open() or read() of a pipe cannot be stopped; it ends
        // when the receiver is gone and it next tries to send.
        std::thread::Builder::new()
            .name("nnoverlap-read".into())
            .spawn(move || {
                let mut file = match std::fs::File::open(&path) {
                    Ok(f) => f,
                    Err(e) => {
                        let _ = tx.send(Err(e));
                        return;
                    }
                };
                loop {
                    let mut buf = vec![0u8; READ_BLOCK];
                    match file.read(&mut buf) {
                        Ok(0) => return,
                        Ok(n) => {
                            buf.truncate(n);
                            if tx.send(Ok(buf)).is_err() {
                                return;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            let _ = tx.send(Err(e));
                            return;
                        }
                    }
                }
            })
            .map_err(|e| io_error(&e))?;
        Ok((
            FileSource {
                rx,
                block: Vec::new(),
                pos: 0,
                done: false,
                ctl,
                failed: None,
            },
            size,
        ))
    }
}

impl Read for FileSource<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.block.len() {
            if self.done {
                return Ok(0);
            }
            if self.ctl.is_cancelled() {
                return Err(io::Error::other(CANCELLED));
            }
            match self.rx.recv_timeout(POLL) {
                Ok(Ok(block)) => {
                    self.ctl.add_done(block.len() as u64);
                    self.block = block;
                    self.pos = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    self.failed = Some((e.kind(), e.to_string()));
                    return Err(e);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => self.done = true,
            }
        }
        let n = out.len().min(self.block.len() - self.pos);
        out[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn io_error(e: &io::Error) -> ReadError {
    ReadError::Io {
        kind: e.kind(),
        message: e.to_string(),
    }
}

/// Reads until `buf` holds `want` bytes or the input ends; returns whether it ended.
fn fill_to(src: &mut dyn Read, buf: &mut Vec<u8>, want: usize) -> io::Result<bool> {
    while buf.len() < want {
        let start = buf.len();
        let step = (want - start).min(READ_BLOCK);
        buf.resize(start + step, 0);
        match src.read(&mut buf[start..]) {
            Ok(0) => {
                buf.truncate(start);
                return Ok(true);
            }
            Ok(n) => buf.truncate(start + n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(start),
            Err(e) => {
                buf.truncate(start);
                return Err(e);
            }
        }
    }
    Ok(false)
}

/// Bytes already read (the head) followed by the rest of a stream.
struct Prefixed<'a> {
    head: Vec<u8>,
    pos: usize,
    rest: Box<dyn Read + Send + 'a>,
}

impl Read for Prefixed<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.head.len() {
            let n = out.len().min(self.head.len() - self.pos);
            out[..n].copy_from_slice(&self.head[self.pos..self.pos + n]);
            self.pos += n;
            if self.pos == self.head.len() {
                self.head = Vec::new();
                self.pos = 0;
            }
            return Ok(n);
        }
        self.rest.read(out)
    }
}

/// Turns an I/O error met while reading into the error to report: cancelled, the file's own
/// failure, or (for compressed input) corrupt data.
fn input_error(e: io::Error, compression: Option<Compression>, ctl: &Control) -> ReadError {
    if ctl.is_cancelled() || e.to_string() == CANCELLED {
        return ReadError::Interrupted;
    }
    match compression {
        Some(c)
            if matches!(
                e.kind(),
                io::ErrorKind::InvalidData
                    | io::ErrorKind::InvalidInput
                    | io::ErrorKind::UnexpectedEof
            ) || e.kind() == io::ErrorKind::Other =>
        {
            ReadError::Unreadable(format!(
                "the {} data is corrupt or truncated ({e})",
                c.name()
            ))
        }
        _ => io_error(&e),
    }
}

/// The decompressed (or plain) content of a stream, its first bytes already read for detection.
struct Content<'a> {
    /// The first line and up to [`DETECT_BYTES`] after it (less if the input is shorter), BOM
    /// removed.
    head: Vec<u8>,
    /// Whether `head` is the whole content.
    complete: bool,
    rest: Box<dyn Read + Send + 'a>,
    compression: Option<Compression>,
    /// Whether a BOM was removed from the start of `head`.
    had_bom: bool,
}

fn open_content<'a, R: Read + Send + 'a>(
    mut src: R,
    ctl: &Control,
) -> Result<Content<'a>, ReadError> {
    let mut magic = Vec::new();
    fill_to(&mut src, &mut magic, 6).map_err(|e| input_error(e, None, ctl))?;
    let compression = match sniff(&magic).map(|k| k.name) {
        Some("gzip") => Some(Compression::Gzip),
        Some("bzip2") => Some(Compression::Bzip2),
        Some("xz") => Some(Compression::Xz),
        _ => None,
    };
    let raw: Box<dyn Read + Send + 'a> = Box::new(Prefixed {
        head: magic,
        pos: 0,
        rest: Box::new(src),
    });
    let mut rest: Box<dyn Read + Send + 'a> = match compression {
        None => raw,
        Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(
            io::BufReader::with_capacity(READ_BLOCK, raw),
        )),
        Some(Compression::Bzip2) => Box::new(bzip2::read::MultiBzDecoder::new(
            io::BufReader::with_capacity(READ_BLOCK, raw),
        )),
        Some(Compression::Xz) => Box::new(liblzma::read::XzDecoder::new_multi_decoder(
            io::BufReader::with_capacity(READ_BLOCK, raw),
        )),
    };
    let err = |e| input_error(e, compression, ctl);
    // The head: the first line (bounded), then up to DETECT_BYTES more.
    let mut head = Vec::new();
    let mut complete = false;
    let mut first_end = None;
    while first_end.is_none() && !complete && head.len() < MAX_FIRST_LINE {
        let from = head.len();
        complete = fill_to(
            &mut *rest,
            &mut head,
            (from + (64 << 10)).min(MAX_FIRST_LINE),
        )
        .map_err(err)?;
        first_end = find_byte(&head[from..], b'\n').map(|i| from + i);
        if ctl.is_cancelled() {
            return Err(ReadError::Interrupted);
        }
    }
    if let Some(end) = first_end {
        if !complete {
            complete = fill_to(&mut *rest, &mut head, end + 1 + DETECT_BYTES).map_err(err)?;
        }
    }
    if let Some(kind) = sniff(&head) {
        return Err(ReadError::Unreadable(format!(
            "this looks like {}{}, not an embedding text or word2vec binary file; nnoverlap \
             reads {WHAT_WE_READ}",
            kind.what,
            match compression {
                Some(c) => format!(" inside {} compression", c.name()),
                None => String::new(),
            }
        )));
    }
    let had_bom = head.starts_with(BOM);
    if had_bom {
        head.drain(..BOM.len());
    }
    Ok(Content {
        head,
        complete,
        rest,
        compression,
        had_bom,
    })
}

// ---------------------------------------------------------------------------------------------
// Format detection

/// Number of trailing space-separated fields of a text line that are numbers.
fn trailing_numbers(line: &[u8]) -> (usize, usize) {
    let line = trim_line_end(line);
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let numeric = fields.iter().rev().take_while(|f| looks_numeric(f)).count();
    (numeric, fields.len())
}

/// Whether `bytes` read as text: valid UTF-8 (a character cut at the end allowed) with no
/// control characters but whitespace.
fn is_text(bytes: &[u8]) -> bool {
    let valid = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => {
            std::str::from_utf8(&bytes[..e.valid_up_to()]).expect("valid up to here")
        }
        Err(_) => return false,
    };
    !valid
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\x0c'))
}

/// Guesses the format of a file from its content (at least its first line and the
/// [`DETECT_BYTES`] after it; no more is looked at).
///
/// `.npy` by its magic string. A first line of two integers `rows dim` is a header: word2vec
/// text when the next line reads as text, binary otherwise (a text file with a broken row
/// stays text, and its reader says what is wrong). Anything else is GloVe. (A 1-dimensional
/// GloVe file whose first word is an integer looks like a header: read it with
/// `Format::Glove`; the GloVe writer refuses to write such a file.)
pub fn detect_format(data: &[u8]) -> Result<Detected, ReadError> {
    if data.starts_with(b"\x93NUMPY") {
        return Ok(Detected::Npy);
    }
    let data = data.strip_prefix(BOM).unwrap_or(data);
    detect_text_format(data).map(Detected::Embeddings)
}

fn detect_text_format(data: &[u8]) -> Result<Format, ReadError> {
    let window = match find_byte(data, b'\n') {
        Some(i) => &data[..data.len().min(i + 1 + DETECT_BYTES)],
        None => &data[..data.len().min(MAX_FIRST_LINE)],
    };
    if window.iter().all(u8::is_ascii_whitespace) {
        return Err(ReadError::at(Location::Line(1), "the file is empty"));
    }
    let (first, body) = split_line(window);
    let Some((_, dim)) = parse_header(first) else {
        return Ok(Format::Glove);
    };
    let (second, _) = split_line(body);
    let (numbers, fields) = trailing_numbers(second);
    if dim >= 1 && numbers as u64 >= dim && fields as u64 > dim {
        return Ok(Format::Word2Vec);
    }
    // Binary rows are a word, a space and float32 bytes, which are not text.
    if body.is_empty() || is_text(body) {
        return Ok(Format::Word2Vec);
    }
    Ok(Format::Word2VecBinary)
}

// ---------------------------------------------------------------------------------------------
// Text reading

/// Parses one row of text (`line` without its `\n`), appending its `dim` values to `out`, and
/// returns the word's bytes. The error message says what is wrong; the caller adds the line.
/// Nothing is allocated from `dim`: `out` grows by the values actually found.
fn parse_text_row<'a, T: Value>(
    line: &'a [u8],
    dim: usize,
    out: &mut Vec<T>,
) -> Result<&'a [u8], String> {
    let line = trim_line_end(line);
    if line.is_empty() {
        return Err(
            "the line is empty (blank lines are allowed only at the end of the file)".into(),
        );
    }
    let start = out.len();
    let mut rest = line;
    for j in (0..dim).rev() {
        let Some(space) = rest.iter().rposition(|&b| b == b' ') else {
            let found = dim - 1 - j;
            return Err(format!(
                "expected a word and {}, found {}",
                plural(dim as u64, "value", "values"),
                if found == 0 {
                    "only one field".to_string()
                } else {
                    format!("a word and {}", plural(found as u64, "value", "values"))
                }
            ));
        };
        let field = &rest[space + 1..];
        rest = &rest[..space];
        if field.is_empty() {
            return Err(format!(
                "two spaces in a row before value {} of {dim} (values are separated by one space)",
                j + 1
            ));
        }
        let parsed = std::str::from_utf8(field)
            .ok()
            .and_then(|s| s.parse::<T>().ok());
        match parsed {
            Some(v) if v.is_finite() => out.push(v),
            Some(v) => {
                let wide = std::str::from_utf8(field)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok());
                if wide.is_some_and(f64::is_finite) {
                    return Err(format!(
                        "value {} of {dim}, {}, overflows {} (whose largest value is {:.4e}); \
                         load with dtype=\"float64\"",
                        j + 1,
                        show(field),
                        T::NAME,
                        f32::MAX
                    ));
                }
                out.push(v);
            }
            None => {
                let hint = if field.contains(&b'\r') {
                    " (a carriage return inside the line: does the file end its lines with \\r \
                     alone (old Mac)? Convert them to \\n)"
                } else if field.iter().any(|b| b.is_ascii_whitespace()) {
                    " (values must be separated by single ASCII spaces)"
                } else {
                    ""
                };
                return Err(format!(
                    "value {} of {dim}, {}, is not a number{hint}",
                    j + 1,
                    show(field)
                ));
            }
        }
    }
    out[start..].reverse();
    let word = rest;
    if word.is_empty() {
        return Err("the line starts with a space: the word is empty".into());
    }
    if word.ends_with(b" ") {
        return Err("two spaces in a row between the word and the first value".into());
    }
    if word.starts_with(b" ") {
        return Err(format!("the word {} starts with a space", show(word)));
    }
    if let Some(problem) = word_rule(word) {
        return Err(format!("{problem}: {}", show(word)));
    }
    if word.contains(&b' ') {
        // Words may contain spaces (GloVe 840B), but a word whose last part is a number is a
        // row with too many values.
        let extra = word
            .split(|&b| b == b' ')
            .rev()
            .take_while(|f| looks_numeric(f))
            .count();
        if extra > 0 {
            return Err(format!(
                "expected {}, found {} (or a word with a space that ends in a number, {})",
                plural(dim as u64, "value", "values"),
                dim + extra,
                show(word)
            ));
        }
    }
    Ok(word)
}

fn decode_word(word: &[u8], utf8: Utf8Policy) -> Result<String, String> {
    match utf8 {
        Utf8Policy::Replace => Ok(String::from_utf8_lossy(word).into_owned()),
        Utf8Policy::Strict => std::str::from_utf8(word).map(str::to_owned).map_err(|e| {
            format!(
                "the word {} is not valid UTF-8 (byte {} of the word); read with errors=\"replace\" \
                 to substitute U+FFFD",
                show(word),
                e.valid_up_to() + 1
            )
        }),
    }
}

/// What one chunk of lines gave.
struct TextChunk<T> {
    words: Vec<String>,
    values: Vec<T>,
    /// Chunk-local rows (0-based, counting the rows kept and dropped) of the rows dropped for
    /// non-finite values, and their words.
    nonfinite: Vec<(u64, String)>,
    /// Lines in the chunk.
    lines: u64,
    /// Chunk-local line (0-based) of the first non-blank line.
    first_content: Option<u64>,
    /// Chunk-local line of the first of the blank lines that end the chunk.
    trailing_blank: Option<u64>,
    /// The first error: chunk-local line and message.
    error: Option<(u64, String)>,
}

impl<T> TextChunk<T> {
    /// Rows read, kept or dropped.
    fn rows(&self) -> u64 {
        (self.words.len() + self.nonfinite.len()) as u64
    }
}

fn parse_text_chunk<T: Value>(
    chunk: &[u8],
    dim: usize,
    utf8: Utf8Policy,
    nonfinite: NonFinite,
) -> TextChunk<T> {
    let mut out = TextChunk {
        words: Vec::new(),
        values: Vec::with_capacity(chunk.len() / 4),
        nonfinite: Vec::new(),
        lines: 0,
        first_content: None,
        trailing_blank: None,
        error: None,
    };
    let mut rest = chunk;
    while !rest.is_empty() {
        let (line, next) = split_line(rest);
        rest = next;
        let here = out.lines;
        out.lines += 1;
        if is_blank(line) {
            out.trailing_blank.get_or_insert(here);
            continue;
        }
        out.first_content.get_or_insert(here);
        if let Some(blank) = out.trailing_blank {
            out.error = Some((
                blank,
                "the line is empty (blank lines are allowed only at the end of the file)".into(),
            ));
            return out;
        }
        let start = out.values.len();
        let parsed =
            parse_text_row(line, dim, &mut out.values).and_then(|word| decode_word(word, utf8));
        let word = match parsed {
            Ok(word) => word,
            Err(message) => {
                out.values.truncate(start);
                out.error = Some((here, message));
                return out;
            }
        };
        if let Some(j) = out.values[start..].iter().position(|x| !x.is_finite()) {
            if nonfinite == NonFinite::Error {
                let v = out.values[start + j];
                out.values.truncate(start);
                out.error = Some((
                    here,
                    format!(
                        "value {} of {dim} is {v}: NaN and infinite values are not allowed \
                         (drop_nonfinite=True drops such rows)",
                        j + 1
                    ),
                ));
                return out;
            }
            out.values.truncate(start);
            let row = out.rows();
            out.nonfinite.push((row, word));
            continue;
        }
        out.words.push(word);
    }
    out
}

/// Cuts the text `src` into chunks of about `chunk` bytes that end just after a newline and
/// sends them, numbered, to `tx`; stops after `wanted` lines, at the end of the input, or when
/// `stop` is set. A line longer than `max_line` is an error (`lines_before` lines precede the
/// first chunk in the file).
#[allow(clippy::too_many_arguments)]
fn produce_chunks(
    src: &mut dyn Read,
    mut buf: Vec<u8>,
    chunk: usize,
    wanted: Option<u64>,
    max_line: usize,
    lines_before: u64,
    tx: std::sync::mpsc::SyncSender<(usize, Vec<u8>)>,
    stop: &AtomicBool,
    ctl: &Control,
) -> io::Result<Option<ReadError>> {
    let mut lines: u64 = 0;
    let mut index = 0;
    let mut eof = false;
    loop {
        if stop.load(Ordering::Relaxed) || ctl.is_cancelled() {
            return Ok(None);
        }
        if !eof && buf.len() < chunk {
            eof = fill_to(src, &mut buf, chunk)?;
        }
        if buf.is_empty() {
            return Ok(None);
        }
        let mut cut = match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if eof => buf.len(),
            None => {
                if buf.len() > max_line {
                    return Ok(Some(ReadError::at(
                        Location::Line(lines_before + lines + 1),
                        format!(
                            "the line is longer than {max_line} bytes, more than any row of \
                             this file's dimension needs: is this an embedding text file?"
                        ),
                    )));
                }
                let want = buf.len() + chunk.max(1 << 16);
                eof = fill_to(src, &mut buf, want)?;
                continue;
            }
        };
        if eof && cut < buf.len() && buf.len() <= chunk {
            cut = buf.len();
        }
        let mut piece_lines = count_byte(&buf[..cut], b'\n');
        let mut last = false;
        if let Some(w) = wanted {
            let ends_open = buf[cut - 1] != b'\n';
            if lines + piece_lines + ends_open as u64 >= w {
                // Keep only the lines up to the wanted one.
                let need = w - lines;
                let mut seen = 0;
                let mut end = cut;
                for (i, &b) in buf[..cut].iter().enumerate() {
                    if b == b'\n' {
                        seen += 1;
                        if seen == need {
                            end = i + 1;
                            break;
                        }
                    }
                }
                cut = end;
                piece_lines = need;
                last = true;
            }
        }
        let rest = buf[cut..].to_vec();
        buf.truncate(cut);
        lines += piece_lines;
        if tx.send((index, buf)).is_err() {
            return Ok(None);
        }
        index += 1;
        if last {
            return Ok(None);
        }
        buf = rest;
    }
}

/// Reads the `rows dim` header; checks it against the size of what follows when that is known
/// (`body_size`, bytes after the header line).
fn read_header(
    first: &[u8],
    body_size: Option<u64>,
    min_row_bytes: impl Fn(u64) -> u128,
    what: &str,
) -> Result<(u64, u64), ReadError> {
    let Some((rows, dim)) = parse_header(first) else {
        return Err(ReadError::at(
            Location::Line(1),
            format!(
                "expected a header `rows dim` (two integers), found {} (a GloVe file has no header: \
                 read it with format=\"glove\")",
                show(trim_line_end(first))
            ),
        ));
    };
    if dim == 0 {
        return Err(ReadError::at(
            Location::Line(1),
            "the header announces vectors of dimension 0",
        ));
    }
    if dim >= MAX_DIM {
        return Err(ReadError::at(
            Location::Line(1),
            format!(
                "the header announces vectors of dimension {dim}; dimensions must be below \
                 {MAX_DIM} (one such row would take over 8 GiB of text)"
            ),
        ));
    }
    // Never trust a header before comparing it with the file: each row takes at least
    // `min_row_bytes(dim)` bytes (a one-byte word, its values, separators).
    if let Some(have) = body_size {
        let need = (rows as u128).saturating_mul(min_row_bytes(dim));
        let have = have as u128;
        if need > have + 1 {
            return Err(ReadError::at(
                Location::Line(1),
                format!(
                    "the header announces {} ({what}), which needs at least {need} bytes, but \
                     only {have} bytes follow the header",
                    rows_of(rows, dim)
                ),
            ));
        }
    }
    Ok((rows, dim))
}

/// GloVe has no header: `dim` is the number of values on the first line (its trailing fields
/// that are numbers, or all fields but the first when every field is a number).
fn glove_dim(first: &[u8]) -> Result<usize, ReadError> {
    let line = trim_line_end(first);
    if line.is_empty() {
        return Err(ReadError::at(
            Location::Line(1),
            "the line is empty (a GloVe file starts with a word and its values)",
        ));
    }
    let (numbers, fields) = trailing_numbers(line);
    let dim = if numbers == fields {
        fields - 1
    } else {
        numbers
    };
    if dim == 0 {
        return Err(ReadError::at(
            Location::Line(1),
            format!(
                "expected a word followed by its values, found {} with no number after the word",
                show(line)
            ),
        ));
    }
    Ok(dim)
}

fn try_reserve<T>(v: &mut Vec<T>, n: usize) -> Result<(), ReadError> {
    v.try_reserve_exact(n).map_err(|_| ReadError::OutOfMemory {
        bytes: n.saturating_mul(std::mem::size_of::<T>()),
    })
}

fn read_text<T: Value>(
    input: Content<'_>,
    body_size: Option<u64>,
    format: Format,
    opts: &ReadOptions,
    ctl: &Control,
) -> Result<Table<T>, ReadError> {
    let Content {
        head,
        complete,
        mut rest,
        compression,
        ..
    } = input;
    if complete && head.iter().all(u8::is_ascii_whitespace) && !format.has_header() {
        return Err(ReadError::at(Location::Line(1), "the file is empty"));
    }
    let (first, _) = split_line(&head);
    let first_len = (first.len() + 1).min(head.len());
    let (dim, header_rows, skip, first_line) = if format.has_header() {
        let body = body_size.map(|n| n.saturating_sub(first_len as u64));
        let (rows, dim) = read_header(first, body, |d| 2 * d as u128 + 1, "as text")?;
        (dim, Some(rows), first_len, 2)
    } else {
        (glove_dim(first)? as u64, None, 0, 1)
    };
    // A row of `dim` values needs at least 2 * dim bytes; `dim` beyond what fits in memory
    // can only be an error, found by the first row.
    let dim_usize = usize::try_from(dim).unwrap_or(usize::MAX);
    let wanted = match (opts.limit, header_rows) {
        (Some(limit), Some(n)) => Some((limit as u64).min(n)),
        (Some(limit), None) => Some(limit as u64),
        (None, _) => None,
    };
    let chunk = if opts.chunk == 0 {
        TEXT_CHUNK
    } else {
        opts.chunk
    };
    let max_line = MAX_LINE_BASE.saturating_add(dim_usize.saturating_mul(MAX_BYTES_PER_VALUE));
    let stop = AtomicBool::new(false);
    let mut body = head;
    body.drain(..skip);
    let (produced, mut pieces) = if wanted == Some(0) {
        (Ok(None), Vec::new())
    } else {
        std::thread::scope(|scope| {
            let (tx, rx) = sync_channel::<(usize, Vec<u8>)>(2 * rayon::current_num_threads() + 2);
            let stop = &stop;
            let rest = &mut rest;
            let producer = scope.spawn(move || {
                produce_chunks(
                    &mut **rest,
                    body,
                    chunk,
                    wanted,
                    max_line,
                    first_line - 1,
                    tx,
                    stop,
                    ctl,
                )
            });
            let pieces: Vec<(usize, TextChunk<T>)> = rx
                .into_iter()
                .par_bridge()
                .map(|(i, bytes)| {
                    let out = parse_text_chunk::<T>(&bytes, dim_usize, opts.utf8, opts.nonfinite);
                    if out.error.is_some() {
                        stop.store(true, Ordering::Relaxed);
                    }
                    (i, out)
                })
                .collect();
            let produced = producer.join().unwrap_or_else(|_| {
                Err(io::Error::other(
                    "internal error: the reading thread panicked",
                ))
            });
            (produced, pieces)
        })
    };
    if ctl.is_cancelled() {
        return Err(ReadError::Interrupted);
    }
    let long_line = produced.map_err(|e| input_error(e, compression, ctl))?;
    pieces.sort_unstable_by_key(|(i, _)| *i);

    // Merge in file order: the first problem in the file is the one reported.
    let mut line = first_line; // file line of the current chunk's first line
    let mut rows: u64 = 0;
    let mut pending_blank: Option<u64> = None;
    for (_, piece) in &pieces {
        if let (Some(blank), Some(_)) = (pending_blank, piece.first_content) {
            return Err(ReadError::at(
                Location::Line(blank),
                "the line is empty (blank lines are allowed only at the end of the file)",
            ));
        }
        let piece_rows = piece.rows();
        if let Some(n) = header_rows {
            if opts.limit.is_none()
                && (rows + piece_rows > n || (rows == n && piece.error.is_some()))
            {
                // Rows are consecutive lines, so row n + 1 is on line first_line + n.
                return Err(ReadError::at(
                    Location::Line(first_line + n),
                    format!(
                        "the header (line 1) announces {}, but the file goes on: this is row {}",
                        rows_of(n, dim),
                        n + 1
                    ),
                ));
            }
        }
        if let Some((local, message)) = &piece.error {
            let mut message = message.clone();
            if header_rows.is_some()
                && rows == 0
                && *local == 0
                && message.ends_with("found a word and 1 value")
            {
                message.push_str(
                    " (if this is a GloVe file whose first word is a number, read it with \
                     format=\"glove\")",
                );
            }
            return Err(ReadError::at(Location::Line(line + local), message));
        }
        rows += piece_rows;
        if pending_blank.is_none() {
            pending_blank = piece.trailing_blank.map(|b| line + b);
        }
        line += piece.lines;
    }
    if let Some(err) = long_line {
        return Err(err);
    }
    if let Some(n) = header_rows {
        let expected = wanted.unwrap_or(n);
        if rows < expected {
            return Err(ReadError::at(
                Location::Line(1),
                format!(
                    "the header announces {}, but the file has only {}",
                    rows_of(n, dim),
                    plural(rows, "row", "rows")
                ),
            ));
        }
    }
    let total: usize = pieces.iter().map(|(_, p)| p.words.len()).sum();
    let mut words = Vec::new();
    try_reserve(&mut words, total)?;
    let mut values = Vec::new();
    try_reserve(&mut values, total.saturating_mul(dim_usize))?;
    let mut nonfinite_dropped = Vec::new();
    // File rows (0-based) of the rows dropped for non-finite values.
    let mut dropped_rows = Vec::new();
    let mut row0 = 0;
    for (_, piece) in pieces {
        let piece_rows = piece.rows();
        words.extend(piece.words);
        values.extend_from_slice(&piece.values);
        for (r, w) in piece.nonfinite {
            dropped_rows.push(row0 + r);
            nonfinite_dropped.push(w);
        }
        row0 += piece_rows;
    }
    let mut table = Table {
        words,
        vectors: values,
        dim: dim_usize,
        header_rows: header_rows.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        duplicates_dropped: 0,
        nonfinite_dropped,
    };
    // Text rows are consecutive lines after the header, if any; kept row i is file row i plus
    // the dropped rows before it.
    let file_row = |i: usize| {
        let mut r = i as u64;
        for &d in &dropped_rows {
            if d <= r {
                r += 1;
            }
        }
        r
    };
    table.duplicates_dropped = resolve_duplicates(&mut table, opts.duplicates, |i| {
        Location::Line(first_line + file_row(i))
    })?;
    Ok(table)
}

// ---------------------------------------------------------------------------------------------
// Binary reading

/// A buffered byte stream that knows its offset in the content.
struct Bytes<'s> {
    src: &'s mut dyn Read,
    buf: Vec<u8>,
    pos: usize,
    /// Content offset of `buf[0]`.
    base: u64,
    eof: bool,
}

impl Bytes<'_> {
    fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Makes at least one unread byte available unless the input ended; returns whether one is.
    fn more(&mut self) -> io::Result<bool> {
        if self.pos < self.buf.len() {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.base += self.buf.len() as u64;
        self.buf.clear();
        self.pos = 0;
        self.eof = fill_to(self.src, &mut self.buf, READ_BLOCK)?;
        Ok(!self.buf.is_empty())
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        Ok(if self.more()? {
            Some(self.buf[self.pos])
        } else {
            None
        })
    }

    /// Appends bytes up to (not including) the next space to `word` and consumes the space;
    /// returns false if the input ended first or `max` bytes came without one.
    fn until_space(&mut self, word: &mut Vec<u8>, max: usize) -> io::Result<bool> {
        while self.more()? {
            let avail = &self.buf[self.pos..];
            if let Some(i) = find_byte(avail, b' ') {
                word.extend_from_slice(&avail[..i]);
                self.pos += i + 1;
                return Ok(word.len() <= max);
            }
            word.extend_from_slice(avail);
            self.pos = self.buf.len();
            if word.len() > max {
                return Ok(false);
            }
        }
        Ok(false)
    }

    /// Appends up to `n` bytes to `out`; returns how many there were.
    fn take(&mut self, n: usize, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut got = 0;
        while got < n && self.more()? {
            let k = (n - got).min(self.buf.len() - self.pos);
            out.extend_from_slice(&self.buf[self.pos..self.pos + k]);
            self.pos += k;
            got += k;
        }
        Ok(got)
    }

    /// Consumes the rest; returns (bytes, whether all were ASCII whitespace).
    fn drain(&mut self, ctl: &Control) -> io::Result<(u64, bool)> {
        let mut n = 0;
        let mut blank = true;
        while self.more()? {
            let avail = &self.buf[self.pos..];
            blank &= avail.iter().all(u8::is_ascii_whitespace);
            n += avail.len() as u64;
            self.pos = self.buf.len();
            if ctl.is_cancelled() {
                return Err(io::Error::other(CANCELLED));
            }
        }
        Ok((n, blank))
    }
}

fn read_binary<T: Value>(
    input: Content<'_>,
    body_size: Option<u64>,
    opts: &ReadOptions,
    ctl: &Control,
) -> Result<Table<T>, ReadError> {
    let Content {
        head,
        mut rest,
        compression,
        ..
    } = input;
    let err = |e| input_error(e, compression, ctl);
    let (first, _) = split_line(&head);
    let first_len = (first.len() + 1).min(head.len());
    // A row is a word of at least one byte, a space and the float32 values.
    let body = body_size.map(|n| n.saturating_sub(first_len as u64));
    let (rows, dim) = read_header(first, body, |d| 4 * d as u128 + 2, "as float32")?;
    let wanted = opts.limit.map_or(rows, |limit| (limit as u64).min(rows));
    let row_bytes = match usize::try_from(dim).ok().and_then(|d| d.checked_mul(4)) {
        Some(n) => n,
        // No row can be read, but a header of 0 rows is still checked against what follows.
        None if wanted == 0 => 0,
        None => {
            return Err(ReadError::at(
                Location::Line(1),
                format!("the header announces vectors of dimension {dim}, too many to hold"),
            ))
        }
    };
    let dim_usize = usize::try_from(dim).unwrap_or(usize::MAX);
    let at = |row: u64, byte: u64| Location::Row { row: row + 1, byte };
    let mut src = Prefixed {
        head,
        pos: first_len,
        rest: Box::new(&mut rest),
    };
    let mut bytes = Bytes {
        src: &mut src,
        buf: Vec::new(),
        pos: 0,
        base: first_len as u64,
        eof: false,
    };
    let mut words: Vec<String> = Vec::new();
    // File row (0-based) and byte offset of each kept row, for messages about duplicates.
    let mut starts: Vec<(u64, u64)> = Vec::new();
    let mut vectors: Vec<T> = Vec::new();
    let mut nonfinite_dropped = Vec::new();
    let mut word = Vec::new();
    let mut raw = Vec::new();
    for r in 0..wanted {
        if r % 4096 == 0 && ctl.is_cancelled() {
            return Err(ReadError::Interrupted);
        }
        let pos = bytes.offset();
        word.clear();
        let found = bytes.until_space(&mut word, MAX_BINARY_WORD).map_err(err)?;
        if !found {
            let ended = !bytes.more().map_err(err)?;
            if ended && word.iter().all(u8::is_ascii_whitespace) {
                return Err(ReadError::at(
                    at(r, pos),
                    format!(
                        "the file ends after {}, but the header announces {}",
                        plural(r, "row", "rows"),
                        rows_of(rows, dim)
                    ),
                ));
            }
            return Err(ReadError::at(
                at(r, pos),
                if ended {
                    "the file ends inside a word (a word ends with a space)".to_string()
                } else {
                    format!(
                        "no space within {MAX_BINARY_WORD} bytes: the rows are out of step (is \
                         the header's dimension right? is this a word2vec binary file?)"
                    )
                },
            ));
        }
        if word.is_empty() {
            return Err(ReadError::at(at(r, pos), "the word is empty"));
        }
        raw.clear();
        let got = bytes.take(row_bytes, &mut raw).map_err(err)?;
        if got < row_bytes {
            let blank = word.iter().chain(&raw).all(u8::is_ascii_whitespace);
            return Err(ReadError::at(
                at(r, pos),
                if blank {
                    format!(
                        "the file ends after {}, but the header announces {}",
                        plural(r, "row", "rows"),
                        rows_of(rows, dim)
                    )
                } else {
                    format!(
                        "the file ends inside the vector: {got} bytes of {row_bytes} ({dim} \
                         float32) remain"
                    )
                },
            ));
        }
        // word2vec.c ends each row with a newline, gensim does not.
        if bytes.peek().map_err(err)? == Some(b'\n') {
            bytes.pos += 1;
        }
        if word.contains(&b'\n') || word.contains(&0) {
            let what = if word.contains(&0) {
                "a NUL byte"
            } else {
                "a newline"
            };
            return Err(ReadError::at(
                at(r, pos),
                format!(
                    "the word {} contains {what}: the rows are out of step (is the header's \
                     dimension right? is this a word2vec binary file?)",
                    show(&word)
                ),
            ));
        }
        if let Some(problem) = word_rule(&word) {
            return Err(ReadError::at(
                at(r, pos),
                format!("{problem}: {}", show(&word)),
            ));
        }
        let w = decode_word(&word, opts.utf8).map_err(|m| ReadError::at(at(r, pos), m))?;
        let start = vectors.len();
        vectors.extend(
            raw.chunks_exact(4)
                .map(|b| T::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        );
        if let Some(j) = vectors[start..].iter().position(|x| !x.is_finite()) {
            if opts.nonfinite == NonFinite::Error {
                return Err(ReadError::at(
                    at(r, pos),
                    format!(
                        "value {} of {dim} of {} is {}: NaN and infinite values are not allowed \
                         (drop_nonfinite=True drops such rows)",
                        j + 1,
                        show(&word),
                        vectors[start + j]
                    ),
                ));
            }
            vectors.truncate(start);
            nonfinite_dropped.push(w);
            continue;
        }
        words.push(w);
        starts.push((r, pos));
    }
    if opts.limit.is_none_or(|limit| limit as u64 >= rows) {
        let pos = bytes.offset();
        let (more, blank) = bytes.drain(ctl).map_err(err)?;
        if !blank {
            return Err(ReadError::at(
                at(rows, pos),
                format!(
                    "the header announces {}, but the file goes on for {more} more bytes",
                    rows_of(rows, dim)
                ),
            ));
        }
    }
    let mut table = Table {
        words,
        vectors,
        dim: dim_usize,
        header_rows: Some(usize::try_from(rows).unwrap_or(usize::MAX)),
        duplicates_dropped: 0,
        nonfinite_dropped,
    };
    table.duplicates_dropped =
        resolve_duplicates(&mut table, opts.duplicates, |i| Location::Row {
            row: starts[i].0 + 1,
            byte: starts[i].1,
        })?;
    Ok(table)
}

// Duplicates and the entry point

/// The multiply-rotate hash of rustc (FxHash): several times faster than the default SipHash on
/// short words. Files are not adversarial to the reader's hash table in any way that matters.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut add = |v: u64| self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(K);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            add(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        for &b in chunks.remainder() {
            add(b as u64);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// Applies the duplicate-word policy in place; returns how many rows were dropped.
fn resolve_duplicates<T: Value>(
    table: &mut Table<T>,
    policy: Duplicates,
    location: impl Fn(usize) -> Location,
) -> Result<usize, ReadError> {
    let dim = table.dim;
    let mut first_of: HashMap<&str, usize, FxBuild> =
        HashMap::with_capacity_and_hasher(table.words.len(), FxBuild::default());
    let mut dropped = Vec::new();
    for (i, word) in table.words.iter().enumerate() {
        match first_of.entry(word.as_str()) {
            Entry::Vacant(e) => {
                e.insert(i);
            }
            Entry::Occupied(e) => {
                let first = *e.get();
                match policy {
                    Duplicates::Error => {
                        return Err(ReadError::at(
                            location(i),
                            format!(
                                "duplicate word {:?}, first at {}; read with duplicates=\"first\" \
                                 or \"last\" to keep one of them",
                                word,
                                location(first)
                            ),
                        ))
                    }
                    Duplicates::First => {}
                    Duplicates::Last => table
                        .vectors
                        .copy_within(i * dim..(i + 1) * dim, first * dim),
                }
                dropped.push(i);
            }
        }
    }
    drop(first_of);
    if dropped.is_empty() {
        return Ok(0);
    }
    let mut keep = vec![true; table.words.len()];
    for &i in &dropped {
        keep[i] = false;
    }
    let mut out = 0;
    for (i, &kept) in keep.iter().enumerate() {
        if kept {
            table.words.swap(out, i);
            table.vectors.copy_within(i * dim..(i + 1) * dim, out * dim);
            out += 1;
        }
    }
    table.words.truncate(out);
    table.vectors.truncate(out * dim);
    Ok(dropped.len())
}

/// Reads an embedding file of the given format from its bytes (plain or compressed).
///
/// Progress is reported through `ctl`; cancelling it stops the read with
/// [`ReadError::Interrupted`]. Runs on the current rayon pool.
pub fn read<T: Value>(
    data: &[u8],
    format: Format,
    opts: &ReadOptions,
    ctl: &Control,
) -> Result<Table<T>, ReadError> {
    read_from(data, Some(data.len() as u64), Some(format), opts, ctl).map(|(t, _)| t)
}

/// Reads an embedding file from a stream: `size` is its length in bytes when known (a regular
/// file: headers are then checked against it before any row is read); `format` None detects
/// the format from the content ([`detect_format`]). Compressed input (gzip, bzip2, xz) is
/// recognised by its magic bytes and decompressed as it is read. Returns the table and the
/// format read.
pub fn read_from<'a, T: Value, R: Read + Send + 'a>(
    src: R,
    size: Option<u64>,
    format: Option<Format>,
    opts: &ReadOptions,
    ctl: &Control,
) -> Result<(Table<T>, Format), ReadError> {
    let content = open_content(src, ctl)?;
    let content_size = match content.compression {
        None => size.map(|n| n.saturating_sub(if content.had_bom { BOM.len() as u64 } else { 0 })),
        Some(_) => None,
    };
    let detected = format.is_none();
    let format = match format {
        Some(f) => f,
        None => detect_text_format(&content.head)?,
    };
    let table = if format == Format::Word2VecBinary {
        read_binary(content, content_size, opts, ctl)
    } else {
        read_text(content, content_size, format, opts, ctl)
    };
    match table {
        Err(ReadError::Format {
            location: Location::Line(1),
            mut message,
        }) if detected && message.contains("the header announces") => {
            message.push_str(
                " (two integers on the first line are taken as a word2vec header; if this is a \
                 GloVe file whose first word is a number, read it with format=\"glove\")",
            );
            Err(ReadError::at(Location::Line(1), message))
        }
        other => other.map(|t| (t, format)),
    }
}
// ---------------------------------------------------------------------------------------------
// Writing

#[derive(Debug)]
pub enum WriteError {
    /// Words or values the format cannot store; the message names the row.
    Invalid(String),
    Io(io::Error),
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Invalid(m) => f.write_str(m),
            WriteError::Io(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for WriteError {}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Io(e)
    }
}

/// Why `word` cannot be stored in `format` and read back as the same word, or None.
pub fn word_problem(word: &str, format: Format) -> Option<String> {
    let b = word.as_bytes();
    if b.is_empty() {
        return Some("the word is empty".into());
    }
    if b.iter().any(|&c| c == b'\n' || c == b'\r') {
        return Some("it contains a line break".into());
    }
    if b.contains(&0) {
        return Some("it contains a NUL byte, which no format allows in a word".into());
    }
    if format == Format::Glove {
        if b.starts_with(b" ") || b.ends_with(b" ") || b.windows(2).any(|w| w == b"  ") {
            return Some("it has a space at its start or end, or two in a row".into());
        }
        if b.contains(&b' ') && b.rsplit(|&c| c == b' ').next().is_some_and(looks_numeric) {
            return Some(
                "it ends in a space and a number, which no reader can tell from a value".into(),
            );
        }
        if b.iter().all(|c| c.is_ascii_whitespace()) {
            return Some("it is blank".into());
        }
    } else if b.iter().any(|c| c.is_ascii_whitespace()) {
        return Some(format!(
            "it contains whitespace, which {format} cannot store (GloVe text can store spaces)"
        ));
    }
    None
}

fn check_table<T: Value>(
    words: &[String],
    vectors: &[T],
    dim: usize,
    format: Format,
) -> Result<(), WriteError> {
    if dim == 0 {
        return Err(WriteError::Invalid(
            "vectors must have at least 1 dimension".into(),
        ));
    }
    if vectors.len() != words.len() * dim {
        return Err(WriteError::Invalid(format!(
            "{} words but {} values ({} per row expected)",
            words.len(),
            vectors.len(),
            dim
        )));
    }
    if let Some((i, problem)) = words
        .par_iter()
        .enumerate()
        .filter_map(|(i, w)| word_problem(w, format).map(|p| (i, p)))
        .min_by_key(|(i, _)| *i)
    {
        return Err(WriteError::Invalid(format!(
            "row {i}: cannot write the word {:?} as {format}: {problem}",
            words[i]
        )));
    }
    let bad_row = vectors.par_chunks(dim).position_first(|row| {
        row.iter().any(|&x| {
            !x.is_finite() || (format == Format::Word2VecBinary && !(x.to_f64() as f32).is_finite())
        })
    });
    if let Some(i) = bad_row {
        return Err(WriteError::Invalid(format!(
            "row {i} ({:?}) holds a NaN or infinite value{}, which no reader accepts",
            words[i],
            if format == Format::Word2VecBinary {
                " (as float32)"
            } else {
                ""
            }
        )));
    }
    let mut seen: std::collections::HashSet<&str, FxBuild> =
        std::collections::HashSet::with_capacity_and_hasher(words.len(), FxBuild::default());
    if let Some(i) = words.iter().position(|w| !seen.insert(w.as_str())) {
        return Err(WriteError::Invalid(format!(
            "row {i}: the word {:?} occurs twice",
            words[i]
        )));
    }
    Ok(())
}

/// Appends `x` as text: with `precision` decimals, or else the shortest text that reads back
/// as exactly `x`.
fn push_value<T: Value>(buf: &mut Vec<u8>, x: T, precision: Option<usize>) {
    // Writing to a Vec cannot fail.
    let _ = match precision {
        Some(p) => write!(buf, "{x:.p$}"),
        None => {
            let a = x.to_f64().abs();
            if a == 0.0 || (1e-5..1e16).contains(&a) {
                write!(buf, "{x}")
            } else {
                write!(buf, "{x:e}")
            }
        }
    };
}

fn format_text_rows<T: Value>(
    words: &[String],
    vectors: &[T],
    dim: usize,
    trailing_space: bool,
    precision: Option<usize>,
) -> Vec<u8> {
    let mut buf = Vec::with_capacity(words.len() * (dim * 11 + 16));
    for (word, row) in words.iter().zip(vectors.chunks_exact(dim)) {
        buf.extend_from_slice(word.as_bytes());
        for &x in row {
            buf.push(b' ');
            push_value(&mut buf, x, precision);
        }
        if trailing_space {
            buf.push(b' ');
        }
        buf.push(b'\n');
    }
    buf
}

/// Writes `words` and their row-major `vectors` (`dim` per row) in `format`.
///
/// Text values are written with `precision` decimals, or by default as the shortest text that
/// reads back exactly. word2vec and fastText text get a header; word2vec text is written as
/// gensim writes it (no trailing space), fastText with a space after each value. Binary rows end
/// with a newline, as word2vec.c writes them. Words that the format cannot store unambiguously,
/// NaN/inf and repeated words are refused before anything is written.
pub fn write<T: Value, W: Write>(
    out: &mut W,
    words: &[String],
    vectors: &[T],
    dim: usize,
    format: Format,
    precision: Option<usize>,
) -> Result<(), WriteError> {
    check_table(words, vectors, dim, format)?;
    if format == Format::Glove {
        if words.is_empty() {
            return Err(WriteError::Invalid(
                "GloVe text cannot hold 0 rows (a reader finds the dimension in the first row): \
                 write word2vec or fasttext, whose header holds it"
                    .into(),
            ));
        }
        let first = format_text_rows(&words[..1], &vectors[..dim], dim, false, precision);
        if parse_header(split_line(&first).0).is_some() {
            return Err(WriteError::Invalid(format!(
                "row 0: the line {} would read back as a word2vec header `rows dim`: put \
                 another row first, or write word2vec",
                show(split_line(&first).0)
            )));
        }
    }
    if format.has_header() {
        writeln!(out, "{} {}", words.len(), dim)?;
    }
    let row_groups: Vec<(&[String], &[T])> = words
        .chunks(ROW_CHUNK)
        .zip(vectors.chunks(ROW_CHUNK * dim))
        .collect();
    for batch in row_groups.chunks(WRITE_BATCH) {
        let texts: Vec<Vec<u8>> = batch
            .par_iter()
            .map(|(w, v)| match format {
                Format::Word2VecBinary => {
                    let mut buf = Vec::with_capacity(w.len() * (dim * 4 + 16));
                    for (word, row) in w.iter().zip(v.chunks_exact(dim)) {
                        buf.extend_from_slice(word.as_bytes());
                        buf.push(b' ');
                        for &x in row {
                            buf.extend_from_slice(&(x.to_f64() as f32).to_le_bytes());
                        }
                        buf.push(b'\n');
                    }
                    buf
                }
                Format::FastText => format_text_rows(w, v, dim, true, precision),
                Format::Word2Vec | Format::Glove => format_text_rows(w, v, dim, false, precision),
            })
            .collect();
        for t in texts {
            out.write_all(&t)?;
        }
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> ReadOptions {
        ReadOptions::default()
    }

    fn read32(data: &[u8], format: Format, opts: &ReadOptions) -> Result<Table<f32>, ReadError> {
        read(data, format, opts, &Control::new())
    }

    fn err_line(data: &[u8], format: Format) -> (u64, String) {
        match read32(data, format, &opts()) {
            Err(ReadError::Format {
                location: Location::Line(l),
                message,
            }) => (l, message),
            other => panic!("expected a line error, got {other:?}"),
        }
    }

    fn roundtrip(format: Format, precision: Option<usize>) {
        let words: Vec<String> = ["the", "ünï", "a\u{a0}b", "1999", "x"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let vectors: Vec<f32> = vec![
            0.1, -2.5, 1e-8, 3.4e30, 0.0, -0.0, 1.0, 2.0, 7.25, 1e-40, 123456.79, -1e-5, 0.5, 0.25,
            0.125,
        ];
        let mut buf = Vec::new();
        write(&mut buf, &words, &vectors, 3, format, precision).unwrap();
        assert_eq!(
            detect_format(&buf).unwrap(),
            Detected::Embeddings(match format {
                Format::FastText => Format::Word2Vec,
                f => f,
            })
        );
        let t = read32(&buf, format, &opts()).unwrap();
        assert_eq!(t.words, words);
        assert_eq!(t.dim, 3);
        if precision.is_none() {
            assert_eq!(t.vectors, vectors, "{format}");
        }
    }

    #[test]
    fn roundtrip_every_format() {
        for f in Format::ALL {
            roundtrip(f, None);
            roundtrip(f, Some(6));
        }
    }

    #[test]
    fn glove_words_with_spaces_take_the_last_dim_fields() {
        let t = read32(b"at home 1 2\nfoo 3 4\n", Format::Glove, &opts());
        // The first row decides dim: "home" is not a number, so dim = 2.
        let t = t.unwrap();
        assert_eq!(t.words, ["at home", "foo"]);
        assert_eq!(t.vectors, [1.0, 2.0, 3.0, 4.0]);
    }

    #[test]
    fn nbsp_stays_inside_the_word() {
        let t = read32("a\u{a0}b 1 2\n".as_bytes(), Format::Glove, &opts()).unwrap();
        assert_eq!(t.words, ["a\u{a0}b"]);
    }

    #[test]
    fn short_and_long_rows_are_errors_with_lines() {
        let (l, m) = err_line(b"2 2\na 1 2\nb 3\n", Format::Word2Vec);
        assert_eq!(l, 3);
        assert!(m.contains("expected a word and 2 values"), "{m}");
        let (l, m) = err_line(b"a 1 2\nb 3 4 5\n", Format::Glove);
        assert_eq!(l, 2);
        assert!(m.contains("found 3"), "{m}");
    }

    #[test]
    fn header_disagreeing_with_the_file() {
        let (l, m) = err_line(b"3 2\na 1.5 2.5\nb 3.5 4.5\n", Format::Word2Vec);
        assert_eq!(l, 1);
        assert!(m.contains("only 2 rows"), "{m}");
        let (l, m) = err_line(b"1 2\na 1 2\nb 3 4\n", Format::Word2Vec);
        assert_eq!(l, 3);
        assert!(m.contains("goes on"), "{m}");
        let (l, m) = err_line(b"1000000000000 2\na 1 2\n", Format::Word2Vec);
        assert_eq!(l, 1);
        assert!(m.contains("needs at least"), "{m}");
    }

    #[test]
    fn nan_and_non_numbers() {
        let (l, m) = err_line(b"a 1 2\nb nan 2\n", Format::Glove);
        assert_eq!((l, m.contains("NaN")), (2, true), "{m}");
        let (l, m) = err_line(b"a 1 2\nb 1\t2 3\n", Format::Glove);
        assert_eq!(l, 2);
        assert!(m.contains("not a number"), "{m}");
    }

    #[test]
    fn blank_lines_only_at_the_end() {
        assert_eq!(
            read32(b"a 1\nb 2\n\n\n", Format::Glove, &opts())
                .unwrap()
                .words
                .len(),
            2
        );
        let (l, _) = err_line(b"a 1\n\nb 2\n", Format::Glove);
        assert_eq!(l, 2);
    }

    #[test]
    fn errors_across_chunks_report_the_first_line() {
        let mut text = Vec::new();
        for i in 0..200_000 {
            writeln!(text, "w{i} 1 2").unwrap();
        }
        text.extend_from_slice(b"bad 1\n");
        for i in 0..200_000 {
            writeln!(text, "v{i} 1").unwrap();
        }
        let (l, _) = err_line(&text, Format::Glove);
        assert_eq!(l, 200_001);
    }

    #[test]
    fn limit_reads_only_the_first_rows() {
        let data = b"3 1\na 1\nb 2\nc nan\n";
        let o = ReadOptions {
            limit: Some(2),
            ..opts()
        };
        let t = read32(data, Format::Word2Vec, &o).unwrap();
        assert_eq!(t.words, ["a", "b"]);
        let t = read32(b"a 1\nb 2\nc", Format::Glove, &o).unwrap();
        assert_eq!(t.words, ["a", "b"]);
    }

    #[test]
    fn duplicates_policies() {
        let data = b"a 1\nb 2\na 3\n";
        let (l, m) = err_line(data, Format::Glove);
        assert_eq!(l, 3);
        assert!(m.contains("line 1"), "{m}");
        let first = ReadOptions {
            duplicates: Duplicates::First,
            ..opts()
        };
        let t = read32(data, Format::Glove, &first).unwrap();
        assert_eq!(
            (t.words.clone(), t.vectors.clone()),
            (vec!["a".into(), "b".into()], vec![1.0, 2.0])
        );
        assert_eq!(t.duplicates_dropped, 1);
        let last = ReadOptions {
            duplicates: Duplicates::Last,
            ..opts()
        };
        let t = read32(data, Format::Glove, &last).unwrap();
        assert_eq!(t.vectors, [3.0, 2.0]);
    }

    #[test]
    fn binary_with_and_without_newlines() {
        let mut with = b"2 2\n".to_vec();
        let mut without = with.clone();
        for (w, v) in [("a", [1.0f32, 2.0]), ("b", [3.0, 4.0])] {
            for buf in [&mut with, &mut without] {
                buf.extend_from_slice(w.as_bytes());
                buf.push(b' ');
                for x in v {
                    buf.extend_from_slice(&x.to_le_bytes());
                }
            }
            with.push(b'\n');
        }
        for data in [&with, &without] {
            assert_eq!(
                detect_format(data).unwrap(),
                Detected::Embeddings(Format::Word2VecBinary)
            );
            let t = read32(data, Format::Word2VecBinary, &opts()).unwrap();
            assert_eq!(t.words, ["a", "b"]);
            assert_eq!(t.vectors, [1.0, 2.0, 3.0, 4.0]);
        }
        // Truncated and header errors.
        let r = read32(&with[..with.len() - 3], Format::Word2VecBinary, &opts());
        assert!(
            matches!(
                r,
                Err(ReadError::Format {
                    location: Location::Row { row: 2, .. },
                    ..
                })
            ),
            "{r:?}"
        );
        let mut big = with.clone();
        big[0] = b'9';
        let r = read32(&big, Format::Word2VecBinary, &opts());
        assert!(
            matches!(
                r,
                Err(ReadError::Format {
                    location: Location::Line(1),
                    ..
                })
            ),
            "{r:?}"
        );
    }

    #[test]
    fn detection() {
        assert_eq!(detect_format(b"\x93NUMPY...").unwrap(), Detected::Npy);
        assert_eq!(
            detect_format(b"the 1 2\n").unwrap(),
            Detected::Embeddings(Format::Glove)
        );
        assert_eq!(
            detect_format(b"2 2\nthe 1 2 \n").unwrap(),
            Detected::Embeddings(Format::Word2Vec)
        );
        // Two integers on the first line are a header, whatever follows.
        assert_eq!(
            detect_format(b"3 5\nthe 1\nof 2\n").unwrap(),
            Detected::Embeddings(Format::Word2Vec)
        );
        assert!(detect_format(b"").is_err());
        assert_eq!(
            detect_format(b"\xEF\xBB\xBF2 2\nthe 1 2\n").unwrap(),
            Detected::Embeddings(Format::Word2Vec)
        );
    }

    fn compressed(data: &[u8], c: Compression) -> Vec<u8> {
        let mut out = Vec::new();
        match c {
            Compression::Gzip => {
                let mut e = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap();
            }
            Compression::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(&mut out, bzip2::Compression::fast());
                e.write_all(data).unwrap();
                e.finish().unwrap();
            }
            Compression::Xz => {
                let mut e = liblzma::write::XzEncoder::new(&mut out, 1);
                e.write_all(data).unwrap();
                e.finish().unwrap();
            }
        }
        out
    }

    #[test]
    fn compressed_input_reads_as_plain() {
        let words: Vec<String> = (0..3000).map(|i| format!("w{i}")).collect();
        let vectors: Vec<f32> = (0..6000).map(|i| i as f32 * 0.5).collect();
        for format in Format::ALL {
            let mut plain = Vec::new();
            write(&mut plain, &words, &vectors, 2, format, None).unwrap();
            for c in [Compression::Gzip, Compression::Bzip2, Compression::Xz] {
                let data = compressed(&plain, c);
                let (t, f) = read_from::<f32, _>(&data[..], None, None, &opts(), &Control::new())
                    .unwrap_or_else(|e| panic!("{format} {c:?}: {e}"));
                let expect = if format == Format::FastText {
                    Format::Word2Vec
                } else {
                    format
                };
                assert_eq!((f, &t.words, &t.vectors), (expect, &words, &vectors));
            }
        }
    }

    #[test]
    fn every_chunk_size_gives_the_same_table_and_errors() {
        let mut text = Vec::new();
        for i in 0..300 {
            writeln!(text, "w{i} {i} {}.5", i % 7).unwrap();
        }
        let whole = read32(&text, Format::Glove, &opts()).unwrap();
        let mut broken = text.clone();
        broken.extend_from_slice(b"bad 1\nlate 1 2\n");
        for chunk in 1..70 {
            let o = ReadOptions { chunk, ..opts() };
            assert_eq!(
                read32(&text, Format::Glove, &o).unwrap(),
                whole,
                "chunk {chunk}"
            );
            match read32(&broken, Format::Glove, &o) {
                Err(ReadError::Format {
                    location: Location::Line(301),
                    ..
                }) => {}
                other => panic!("chunk {chunk}: {other:?}"),
            }
            let limited = ReadOptions {
                limit: Some(17),
                chunk,
                ..opts()
            };
            assert_eq!(
                read32(&broken, Format::Glove, &limited)
                    .unwrap()
                    .words
                    .len(),
                17
            );
        }
    }

    #[test]
    fn zero_row_headers_allocate_nothing_from_the_dimension() {
        for data in [
            &b"0 1000000000\ncat 0.1 0.2\n"[..],
            b"0 4294967295\ncat 0.1 0.2\n",
        ] {
            for format in [Format::Word2Vec, Format::Word2VecBinary] {
                // Through a stream of unknown size too (no size check to rely on).
                let r = read_from::<f32, _>(data, None, Some(format), &opts(), &Control::new());
                assert!(matches!(r, Err(ReadError::Format { .. })), "{r:?}");
            }
        }
        for data in [&b"0 18446744073709551615\nx\n"[..], b"1 99999999999\n"] {
            let r = read_from::<f32, _>(data, None, None, &opts(), &Control::new());
            assert!(
                matches!(
                    r,
                    Err(ReadError::Format {
                        location: Location::Line(1),
                        ..
                    })
                ),
                "{r:?}"
            );
        }
        let t = read32(b"0 3\n", Format::Word2Vec, &opts()).unwrap();
        assert_eq!((t.words.len(), t.dim), (0, 3));
    }

    #[test]
    fn sniffing_names_other_kinds_and_passes_text() {
        assert_eq!(sniff(b"\x1f\x8b\x08\x00").unwrap().name, "gzip");
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n....").unwrap().name, "png");
        assert_eq!(sniff(b"\x80\x04\x95").unwrap().name, "pickle");
        assert!(sniff(b"the 0.1 0.2\n").is_none());
        assert!(sniff(b"2 3\ncat \x00\x00\x80?").is_none());
        let r = read_from::<f32, _>(
            &b"\x89PNG\r\n\x1a\nxxxx"[..],
            None,
            None,
            &opts(),
            &Control::new(),
        );
        assert!(matches!(r, Err(ReadError::Unreadable(m)) if m.contains("PNG image")));
    }

    #[test]
    fn drop_nonfinite_lists_the_words() {
        let o = ReadOptions {
            nonfinite: NonFinite::Drop,
            ..opts()
        };
        let t = read32(b"a 1\nb nan\nc inf\nd 2\n", Format::Glove, &o).unwrap();
        assert_eq!(
            (t.words, t.nonfinite_dropped),
            (
                vec!["a".to_string(), "d".into()],
                vec!["b".to_string(), "c".into()]
            )
        );
    }

    #[test]
    fn writer_refuses_what_cannot_be_read_back() {
        let mut buf = Vec::new();
        for (word, format) in [
            ("a b", Format::Word2Vec),
            ("a b", Format::Word2VecBinary),
            ("a 1", Format::Glove),
            ("a\nb", Format::Glove),
            ("", Format::Glove),
        ] {
            let r = write(&mut buf, &[word.to_string()], &[1.0f32], 1, format, None);
            assert!(
                matches!(r, Err(WriteError::Invalid(_))),
                "{word:?} {format}"
            );
        }
        assert!(write(
            &mut buf,
            &["a b".to_string()],
            &[1.0f32],
            1,
            Format::Glove,
            None
        )
        .is_ok());
    }
}
