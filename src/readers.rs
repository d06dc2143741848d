//! Embedding files: reading and writing word2vec text and binary, GloVe text and fastText `.vec`.
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
//! or broadcast; NaN and infinity are refused; a header must agree with the file, and is checked
//! against the file's size before anything is allocated from it. The documented tolerances:
//! a UTF-8 byte-order mark before the first line, `\r\n` line ends, spaces at the end of a line,
//! and blank lines at the very end of the file.
//!
//! Text is parsed in parallel: the bytes are cut at newlines into chunks that rayon parses
//! independently; errors are reported for the first offending line in file order. Binary rows
//! have no fixed length, so one sequential pass finds where each row starts (cheap: it reads
//! only the words) and the rows are then decoded in parallel.
//!
//! This module knows nothing about files or Python: it reads from a byte slice (the bindings
//! pass a memory map, so `limit` touches only the pages of the first rows) and writes to any
//! [`std::io::Write`].

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::str::FromStr;

use rayon::prelude::*;

use crate::Control;

/// Bytes of text per parallel parsing task.
const TEXT_CHUNK: usize = 1 << 20;
/// Rows per parallel task when decoding binary rows or formatting rows for writing.
const ROW_CHUNK: usize = 4096;
/// Writing formats this many row chunks in parallel before writing them out, which bounds the
/// memory of the formatted text.
const WRITE_BATCH: usize = 32;
/// The UTF-8 byte-order mark, tolerated before the first line.
const BOM: &[u8] = b"\xEF\xBB\xBF";

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

#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Read only the first `limit` rows, without looking at the rest of the file.
    pub limit: Option<usize>,
    pub utf8: Utf8Policy,
    pub duplicates: Duplicates,
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
}

/// The element types a file can be read into and written from.
pub trait Value:
    Copy + Send + Sync + Default + FromStr + fmt::Display + fmt::LowerExp + 'static
{
    fn from_f32(x: f32) -> Self;
    fn to_f64(self) -> f64;
    fn is_finite(self) -> bool;
}

impl Value for f32 {
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

fn strip_bom(data: &[u8]) -> &[u8] {
    data.strip_prefix(BOM).unwrap_or(data)
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
/// Numbers too large for `u64` saturate, so the size check rejects them with a clear message.
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

// ---------------------------------------------------------------------------------------------
// Format detection

/// Number of trailing space-separated fields of a text line that are numbers.
fn trailing_numbers(line: &[u8]) -> (usize, usize) {
    let line = trim_line_end(line);
    let fields: Vec<&[u8]> = line.split(|&b| b == b' ').collect();
    let numeric = fields.iter().rev().take_while(|f| looks_numeric(f)).count();
    (numeric, fields.len())
}

/// Guesses the format of a file from its first bytes.
///
/// `.npy` by its magic string; a first line `rows dim` means word2vec (text when the next line
/// is a word followed by `dim` numbers, binary otherwise); anything else is GloVe. One case is
/// ambiguous: a 1-dimensional GloVe file whose first word is an integer looks like a header;
/// it is taken as GloVe when the header's `dim` is not 1 but the following lines hold one value.
pub fn detect_format(data: &[u8]) -> Result<Detected, ReadError> {
    if data.starts_with(b"\x93NUMPY") {
        return Ok(Detected::Npy);
    }
    let data = strip_bom(data);
    if data.iter().all(u8::is_ascii_whitespace) {
        return Err(ReadError::at(Location::Line(1), "the file is empty"));
    }
    let (first, body) = split_line(data);
    let Some((_, dim)) = parse_header(first) else {
        return Ok(Detected::Embeddings(Format::Glove));
    };
    let (second, rest) = split_line(body);
    let (numbers, fields) = trailing_numbers(second);
    if dim >= 1 && numbers as u64 >= dim && fields as u64 > dim {
        return Ok(Detected::Embeddings(Format::Word2Vec));
    }
    if dim != 1 && numbers == 1 && fields == 2 {
        let (third, _) = split_line(rest);
        let (n3, f3) = trailing_numbers(third);
        if third.is_empty() || (n3 == 1 && f3 == 2) {
            return Ok(Detected::Embeddings(Format::Glove));
        }
    }
    // A row that is not a word and `dim` numbers: binary, or a broken text file. A printable
    // row means text (whose reader then says what is wrong with it); float32 bytes are not.
    let row = trim_line_end(second);
    if !row.is_empty() && std::str::from_utf8(row).is_ok_and(|s| !s.chars().any(|c| c.is_control()))
    {
        return Ok(Detected::Embeddings(Format::Word2Vec));
    }
    Ok(Detected::Embeddings(Format::Word2VecBinary))
}

// ---------------------------------------------------------------------------------------------
// Text reading

/// Parses one row of text (`line` without its `\n`) into `out` (`dim` values) and returns the
/// word's bytes. The error message says what is wrong; the caller adds the line.
fn parse_text_row<'a, T: Value>(line: &'a [u8], out: &mut [T]) -> Result<&'a [u8], String> {
    let dim = out.len();
    let line = trim_line_end(line);
    if line.is_empty() {
        return Err(
            "the line is empty (blank lines are allowed only at the end of the file)".into(),
        );
    }
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
            Some(v) if v.is_finite() => out[j] = v,
            Some(_) => {
                return Err(format!(
                    "value {} of {dim} is {}: NaN and infinite values are not allowed",
                    j + 1,
                    show(field)
                ))
            }
            None => {
                let hint = if field.iter().any(|b| b.is_ascii_whitespace()) {
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
    /// Lines in the chunk.
    lines: u64,
    /// Chunk-local line (0-based) of the first non-blank line.
    first_content: Option<u64>,
    /// Chunk-local line of the first of the blank lines that end the chunk.
    trailing_blank: Option<u64>,
    /// The first error: chunk-local line and message.
    error: Option<(u64, String)>,
}

fn parse_text_chunk<T: Value>(chunk: &[u8], dim: usize, utf8: Utf8Policy) -> TextChunk<T> {
    let mut out = TextChunk {
        words: Vec::new(),
        values: Vec::with_capacity(chunk.len() / 4),
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
        out.values.resize(start + dim, T::default());
        let parsed =
            parse_text_row(line, &mut out.values[start..]).and_then(|word| decode_word(word, utf8));
        match parsed {
            Ok(word) => out.words.push(word),
            Err(message) => {
                out.values.truncate(start);
                out.error = Some((here, message));
                return out;
            }
        }
    }
    out
}

/// Cuts `data` into pieces of about `size` bytes that end just after a newline.
fn chunks_at_newlines(data: &[u8], size: usize) -> Vec<&[u8]> {
    let mut chunks = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.len() <= size {
            chunks.push(rest);
            break;
        }
        let cut = match find_byte(&rest[size..], b'\n') {
            Some(i) => size + i + 1,
            None => rest.len(),
        };
        chunks.push(&rest[..cut]);
        rest = &rest[cut..];
    }
    chunks
}

/// The first `lines` lines of `data` (with their newlines) and how many there were.
fn first_lines(data: &[u8], lines: usize) -> (&[u8], usize) {
    let mut end = 0;
    for found in 0..lines {
        if end >= data.len() {
            return (data, found);
        }
        end = match find_byte(&data[end..], b'\n') {
            Some(i) => end + i + 1,
            None => data.len(),
        };
    }
    (&data[..end], lines)
}

/// Rows of text: `body` holds the rows, whose first line is line `first_line` of the file.
/// With `header_rows`, the row count must match the header (when the whole file is read).
fn read_text_rows<T: Value>(
    body: &[u8],
    first_line: u64,
    dim: usize,
    header_rows: Option<u64>,
    opts: &ReadOptions,
    ctl: &Control,
) -> Result<(Vec<String>, Vec<T>), ReadError> {
    // The rows to read: all, or only the lines up to the limit (the file's later pages are
    // never touched).
    let wanted = match (opts.limit, header_rows) {
        (Some(limit), Some(n)) => Some(limit.min(n.try_into().unwrap_or(usize::MAX))),
        (Some(limit), None) => Some(limit),
        (None, _) => None,
    };
    let region = match wanted {
        Some(w) => first_lines(body, w).0,
        None => body,
    };
    let chunks = chunks_at_newlines(region, TEXT_CHUNK);
    ctl.add_total(chunks.len() as u64);
    let parsed: Vec<Option<TextChunk<T>>> = chunks
        .par_iter()
        .map(|chunk| {
            if ctl.is_cancelled() {
                return None;
            }
            let out = parse_text_chunk::<T>(chunk, dim, opts.utf8);
            ctl.add_done(1);
            Some(out)
        })
        .collect();
    let mut pieces = Vec::with_capacity(parsed.len());
    for piece in parsed {
        pieces.push(piece.ok_or(ReadError::Interrupted)?);
    }

    // Merge in file order: the first problem in the file is the one reported.
    let mut line = first_line; // file line of the current chunk's first line
    let mut rows: u64 = 0;
    let mut pending_blank: Option<u64> = None;
    for piece in &pieces {
        if let (Some(blank), Some(_)) = (pending_blank, piece.first_content) {
            return Err(ReadError::at(
                Location::Line(blank),
                "the line is empty (blank lines are allowed only at the end of the file)",
            ));
        }
        let piece_rows = piece.words.len() as u64;
        if let Some(n) = header_rows {
            if opts.limit.is_none() && rows + piece_rows > n {
                // Rows are consecutive lines, so row n + 1 is on line first_line + n.
                return Err(ReadError::at(
                    Location::Line(first_line + n),
                    format!(
                        "the header (line 1) announces {}, but the file goes on: this is row {}",
                        rows_of(n, dim as u64),
                        n + 1
                    ),
                ));
            }
        }
        if let Some((local, message)) = &piece.error {
            return Err(ReadError::at(Location::Line(line + local), message.clone()));
        }
        rows += piece_rows;
        if pending_blank.is_none() {
            pending_blank = piece.trailing_blank.map(|b| line + b);
        }
        line += piece.lines;
    }
    if let Some(n) = header_rows {
        let expected = wanted.map_or(n, |w| w as u64);
        if rows < expected {
            return Err(ReadError::at(
                Location::Line(1),
                format!(
                    "the header announces {}, but the file has only {}",
                    rows_of(n, dim as u64),
                    plural(rows, "row", "rows")
                ),
            ));
        }
    }
    let total: usize = pieces.iter().map(|p| p.words.len()).sum();
    let mut words = Vec::with_capacity(total);
    let mut values = Vec::with_capacity(total * dim);
    for piece in pieces {
        words.extend(piece.words);
        values.extend_from_slice(&piece.values);
    }
    Ok((words, values))
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

/// Reads the `rows dim` header and checks it against the size of what follows.
fn read_header(
    data: &[u8],
    min_row_bytes: impl Fn(u64) -> u128,
    what: &str,
) -> Result<(u64, usize, usize), ReadError> {
    let (first, body) = split_line(data);
    let header_end = data.len() - body.len();
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
    // Never trust a header before comparing it with the file: each row takes at least
    // `min_row_bytes(dim)` bytes (a one-byte word, its values, separators).
    let need = (rows as u128).saturating_mul(min_row_bytes(dim));
    let have = body.len() as u128;
    if need > have + 1 {
        return Err(ReadError::at(
            Location::Line(1),
            format!(
                "the header announces {} ({what}), which needs at least {need} bytes, but only \
                 {have} bytes follow the header",
                rows_of(rows, dim)
            ),
        ));
    }
    Ok((rows, dim as usize, header_end))
}

fn read_text<T: Value>(
    data: &[u8],
    format: Format,
    opts: &ReadOptions,
    ctl: &Control,
) -> Result<Table<T>, ReadError> {
    let data = strip_bom(data);
    let (dim, header_rows, body, first_line) = if format.has_header() {
        let (rows, dim, end) = read_header(data, |d| 2 * d as u128 + 1, "as text")?;
        (dim, Some(rows), &data[end..], 2)
    } else {
        if data.iter().all(u8::is_ascii_whitespace) {
            return Err(ReadError::at(Location::Line(1), "the file is empty"));
        }
        (glove_dim(split_line(data).0)?, None, data, 1)
    };
    let (words, vectors) = read_text_rows(body, first_line, dim, header_rows, opts, ctl)?;
    Ok(Table {
        words,
        vectors,
        dim,
        header_rows: header_rows.map(|n| n as usize),
        duplicates_dropped: 0,
    })
}

// ---------------------------------------------------------------------------------------------
// Binary reading

struct BinaryRow {
    word: (usize, usize),
    vector: usize,
}

fn read_binary<T: Value>(
    data: &[u8],
    opts: &ReadOptions,
    ctl: &Control,
) -> Result<Table<T>, ReadError> {
    // A row is a word of at least one byte, a space and the float32 values.
    let (rows, dim, start) = read_header(data, |d| 4 * d as u128 + 2, "as float32")?;
    let wanted = opts.limit.map_or(rows, |limit| (limit as u64).min(rows));
    let row_bytes = 4 * dim;
    let at = |row: u64, byte: usize| Location::Row {
        row: row + 1,
        byte: byte as u64,
    };

    // Sequential pass: where each row's word and vector are.
    let mut index = Vec::with_capacity(wanted as usize);
    let mut pos = start;
    for r in 0..wanted {
        if r % (1 << 16) == 0 && ctl.is_cancelled() {
            return Err(ReadError::Interrupted);
        }
        if data[pos..].iter().all(u8::is_ascii_whitespace) {
            return Err(ReadError::at(
                at(r, pos),
                format!(
                    "the file ends after {}, but the header announces {}",
                    plural(r, "row", "rows"),
                    rows_of(rows, dim as u64)
                ),
            ));
        }
        let Some(space) = find_byte(&data[pos..], b' ') else {
            return Err(ReadError::at(
                at(r, pos),
                "the file ends inside a word (a word ends with a space)",
            ));
        };
        let vector = pos + space + 1;
        if space == 0 {
            return Err(ReadError::at(at(r, pos), "the word is empty"));
        }
        if data.len() - vector < row_bytes {
            return Err(ReadError::at(
                at(r, pos),
                format!(
                    "the file ends inside the vector: {} bytes of {row_bytes} ({dim} float32) \
                     remain",
                    data.len() - vector
                ),
            ));
        }
        index.push(BinaryRow {
            word: (pos, pos + space),
            vector,
        });
        pos = vector + row_bytes;
        // word2vec.c ends each row with a newline, gensim does not.
        if data.get(pos) == Some(&b'\n') {
            pos += 1;
        }
    }
    if opts.limit.map_or(true, |limit| limit as u64 >= rows)
        && !data[pos..].iter().all(u8::is_ascii_whitespace)
    {
        return Err(ReadError::at(
            at(rows, pos),
            format!(
                "the header announces {}, but the file goes on for {} more bytes",
                rows_of(rows, dim as u64),
                data.len() - pos
            ),
        ));
    }

    // Parallel pass: decode words and values.
    let groups: Vec<&[BinaryRow]> = index.chunks(ROW_CHUNK).collect();
    ctl.add_total(groups.len() as u64);
    type Decoded<T> = Result<(Vec<String>, Vec<T>), ReadError>;
    let decoded: Vec<Decoded<T>> = groups
        .par_iter()
        .enumerate()
        .map(|(g, group)| {
            if ctl.is_cancelled() {
                return Err(ReadError::Interrupted);
            }
            let mut words = Vec::with_capacity(group.len());
            let mut values = Vec::with_capacity(group.len() * dim);
            for (i, row) in group.iter().enumerate() {
                let r = (g * ROW_CHUNK + i) as u64;
                let word = &data[row.word.0..row.word.1];
                if let Some(bad) = word.iter().find(|&&b| b == b'\n' || b == 0) {
                    let what = if *bad == 0 { "a NUL byte" } else { "a newline" };
                    return Err(ReadError::at(
                        at(r, row.word.0),
                        format!(
                            "the word {} contains {what}: the rows are out of step (is the \
                             header's dimension right? is this a word2vec binary file?)",
                            show(word)
                        ),
                    ));
                }
                words.push(
                    decode_word(word, opts.utf8)
                        .map_err(|m| ReadError::at(at(r, row.word.0), m))?,
                );
                let bytes = &data[row.vector..row.vector + row_bytes];
                let start = values.len();
                values.extend(
                    bytes
                        .chunks_exact(4)
                        .map(|b| T::from_f32(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
                );
                // Checked after the copy, which then vectorises.
                if let Some(j) = values[start..].iter().position(|x| !x.is_finite()) {
                    return Err(ReadError::at(
                        at(r, row.word.0),
                        format!(
                            "value {} of {dim} of {} is {}: NaN and infinite values are not \
                             allowed",
                            j + 1,
                            show(word),
                            values[start + j]
                        ),
                    ));
                }
            }
            ctl.add_done(1);
            Ok((words, values))
        })
        .collect();
    let mut words = Vec::with_capacity(index.len());
    let mut vectors = Vec::with_capacity(index.len() * dim);
    for piece in decoded {
        let (w, v) = piece?;
        words.extend(w);
        vectors.extend_from_slice(&v);
    }
    let mut table = Table {
        words,
        vectors,
        dim,
        header_rows: Some(rows as usize),
        duplicates_dropped: 0,
    };
    table.duplicates_dropped = resolve_duplicates(&mut table, opts.duplicates, |i| {
        at(i as u64, index[i].word.0)
    })?;
    Ok(table)
}

// ---------------------------------------------------------------------------------------------
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

/// Reads an embedding file of the given format from its bytes.
///
/// Progress is reported through `ctl` in parsing tasks; cancelling it stops the read with
/// [`ReadError::Interrupted`]. Runs on the current rayon pool.
pub fn read<T: Value>(
    data: &[u8],
    format: Format,
    opts: &ReadOptions,
    ctl: &Control,
) -> Result<Table<T>, ReadError> {
    if format == Format::Word2VecBinary {
        return read_binary(data, opts, ctl);
    }
    let mut table = read_text(data, format, opts, ctl)?;
    // Text rows are consecutive lines after the header, if any.
    let first_line = if format.has_header() { 2 } else { 1 };
    table.duplicates_dropped = resolve_duplicates(&mut table, opts.duplicates, |i| {
        Location::Line(first_line + i as u64)
    })?;
    Ok(table)
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
    if format == Format::Word2VecBinary && b.contains(&0) {
        return Some("it contains a NUL byte".into());
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
        assert_eq!(
            detect_format(b"3 5\nthe 1\nof 2\n").unwrap(),
            Detected::Embeddings(Format::Glove)
        );
        assert!(detect_format(b"").is_err());
        assert_eq!(
            detect_format(b"\xEF\xBB\xBF2 2\nthe 1 2\n").unwrap(),
            Detected::Embeddings(Format::Word2Vec)
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
