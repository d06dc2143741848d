"""The readers never crash, hang or misread: the cases of issue 8, each named after what it
protects. Cases that could kill the interpreter run in a subprocess, so that a crash fails the
test instead of ending the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import zipfile

import numpy as np
import pytest

import nnoverlap as nno
from nnoverlap import Embeddings, FormatError, _core, load


def write(tmp_path, name: str, data: bytes | str):
    p = tmp_path / name
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def run_python(code: str, *, timeout: float = 120, limit_memory: int | None = None, **kw):
    """Runs `code` in a fresh interpreter (optionally with its address space limited)."""
    prelude = ""
    if limit_memory is not None:
        prelude = (
            "import resource\n"
            f"resource.setrlimit(resource.RLIMIT_AS, ({limit_memory}, {limit_memory}))\n"
        )
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        **kw,
    )


# --- headers that would size an allocation --------------------------------------------------------

HUGE_HEADERS = [
    b"0 1000000000000\ncat 0.1 0.2\n",  # aborted the process (a 4 TB allocation)
    b"0 18446744073709551615\ncat 0.1 0.2\n",  # raised PanicException
    b"0 1000000000\ncat 0.1 0.2\n",  # 15 s and 3.8 GB before its error
    b"1 1000000000000\ncat 0.1 0.2\n",
    b"18446744073709551615 18446744073709551615\ncat 0.1 0.2\n",
]


@pytest.mark.parametrize("raw", HUGE_HEADERS)
@pytest.mark.parametrize("fmt", [None, "word2vec", "fasttext", "word2vec-binary"])
def test_huge_header_is_a_format_error_in_bounded_memory(tmp_path, raw, fmt):
    p = write(tmp_path, "h.txt", raw)
    # 1 GiB of address space: the old reader needed 3.8 GB (or 4 TB) before its error.
    out = run_python(
        f"""
        import nnoverlap
        try:
            nnoverlap.load({str(p)!r}, format={fmt!r}, threads=1)
        except nnoverlap.FormatError as e:
            print("FormatError", e.line, e.row)
        """,
        limit_memory=1 << 30,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("FormatError"), (out.stdout, out.stderr)


def test_huge_header_through_a_pipe_is_a_format_error(tmp_path):
    # A pipe has no size to check a header against: nothing may be allocated from it.
    out = run_python(
        """
        import sys, nnoverlap
        try:
            nnoverlap.load("/dev/stdin", threads=1)
        except nnoverlap.FormatError as e:
            print("FormatError", e.line)
        """,
        limit_memory=1 << 30,
        input="0 1000000000\ncat 0.1 0.2\n",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["FormatError", "2"]


def test_zero_row_header_reads_zero_rows(tmp_path):
    e = load(write(tmp_path, "z.txt", "0 5\n"), format="word2vec")
    assert len(e) == 0 and e.vectors.shape == (0, 5)


def test_zero_row_header_with_rows_after_it_is_an_error(tmp_path):
    for fmt in ("word2vec", "fasttext"):
        with pytest.raises(FormatError, match="announces 0 rows") as info:
            load(write(tmp_path, "z.txt", "0 2\ncat 1 2\n"), format=fmt)
        assert info.value.line == 2


# --- threads --------------------------------------------------------------------------------------


@pytest.mark.parametrize("threads", [1.5, "2", 2.0])
def test_threads_must_be_an_int(tmp_path, threads):
    p = write(tmp_path, "g.txt", "a 1\n")
    with pytest.raises(TypeError, match="threads"):
        load(p, threads=threads)


@pytest.mark.parametrize("threads", [0, -1, 10**6])
def test_threads_out_of_range(tmp_path, threads):
    p = write(tmp_path, "g.txt", "a 1\n")
    with pytest.raises(ValueError, match=f"between 1 and {_core.THREAD_LIMIT}"):
        load(p, threads=threads)


# --- a file that shrinks while it is read ---------------------------------------------------------


def test_file_truncated_while_loading_is_an_error_not_sigbus(tmp_path):
    rng = np.random.default_rng(0)
    n = 200_000
    e = Embeddings([f"w{i}" for i in range(n)], rng.normal(size=(n, 50)).astype(np.float32))
    p = tmp_path / "big.txt"
    e.save(p, format="glove")
    out = run_python(
        f"""
        import os, nnoverlap
        p = {str(p)!r}
        calls = []
        def shrink(done, total):
            if not calls:
                os.truncate(p, os.path.getsize(p) // 3)
            calls.append(done)
        try:
            e = nnoverlap.load(p, threads=1, progress=shrink)
            print("loaded", len(e), len(calls))
        except nnoverlap.FormatError as err:
            print("FormatError", len(calls))
        """
    )
    # The old memory-mapped reader died of SIGBUS here (returncode -7).
    assert out.returncode == 0, (out.returncode, out.stderr)
    assert out.stdout.split()[0] in ("loaded", "FormatError")


# --- format detection and line lengths are bounded ------------------------------------------------


def _endless(fd: int, head: bytes, stop: threading.Event) -> None:
    block = b"x" * 65536
    try:
        os.write(fd, head)
        while not stop.is_set():
            os.write(fd, block)
    except OSError:
        pass
    finally:
        os.close(fd)


def test_an_endless_second_line_is_an_error_after_a_bounded_read():
    # Detection used to scan a whole 2 GB second line, and the reader to read it all: an endless
    # one would never end. Now both stop after a bounded number of bytes.
    r, w = os.pipe()
    stop = threading.Event()
    t = threading.Thread(target=_endless, args=(w, b"2 3\n", stop), daemon=True)
    t.start()
    try:
        with pytest.raises(FormatError, match="longer than") as info:
            load(f"/dev/fd/{r}", threads=1)
        assert info.value.line == 2
    finally:
        stop.set()
        os.close(r)
        t.join(10)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_ctrl_c_while_waiting_for_a_fifo_without_writer(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import signal, sys, nnoverlap
                signal.signal(signal.SIGINT, signal.default_int_handler)
                print("ready", flush=True)
                try:
                    nnoverlap.load({str(fifo)!r})
                except KeyboardInterrupt:
                    print("interrupted", flush=True)
                    sys.exit(0)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        import time

        time.sleep(1.0)  # let it block in open()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "interrupted" in out


# --- silent misreads ------------------------------------------------------------------------------


def test_header_then_one_value_rows_is_not_read_as_glove(tmp_path):
    # Was read as GloVe, with the header as the word "3" -> [300].
    p = write(tmp_path, "w.txt", b"3 300\ncat 0.1\ndog 0.2\nemu 0.3\n")
    with pytest.raises(FormatError, match="header announces 3 rows of 300 values") as info:
        load(p)
    assert info.value.line == 1
    # Without the size check (a pipe), the first row says what is wrong and what to do.
    p = write(tmp_path, "w.txt", b"3 300\n" + b"cat 0.1\n" * 400)
    with pytest.raises(FormatError, match='300 values.*format="glove"') as info:
        load(p)
    assert info.value.line == 2


def test_trailing_tab_on_a_word2vec_text_line_is_not_read_as_binary(tmp_path):
    p = write(tmp_path, "w.txt", b"2 2\ncat 0.1 0.2\t\ndog 0.3 0.4\n")
    with pytest.raises(FormatError) as info:
        load(p)
    assert info.value.line == 2 and info.value.row is None  # a text error, not binary garbage


def test_cr_only_line_ends_are_an_error_not_one_word(tmp_path):
    for raw in (b"cat 1 2\rdog 3 4\remu 5 6\r", b"3 2\rcat 1 2\rdog 3 4\remu 5 6\r"):
        with pytest.raises(FormatError, match="carriage return"):
            load(write(tmp_path, "cr.txt", raw))


def test_glove_file_whose_first_row_looks_like_a_header_is_refused(tmp_path):
    e = Embeddings(["1", "y"], np.array([[1.0], [2.0]], np.float32))
    p = tmp_path / "g.txt"
    with pytest.raises(ValueError, match="word2vec header"):
        e.save(p, format="glove")
    assert not p.exists()
    # Another order is fine and reads back exactly.
    e2 = Embeddings(["y", "1"], np.array([[2.0], [1.0]], np.float32))
    e2.save(p, format="glove")
    assert load(p).words == ["y", "1"]


def test_saving_zero_rows_as_glove_is_refused(tmp_path):
    e = Embeddings([], np.zeros((0, 3), np.float32))
    with pytest.raises(ValueError, match="0 rows"):
        e.save(tmp_path / "g.txt", format="glove")
    e.save(tmp_path / "w.txt", format="word2vec")
    assert load(tmp_path / "w.txt").vectors.shape == (0, 3)


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove", "fasttext"])
def test_a_leading_bom_is_skipped_in_every_format(tmp_path, fmt):
    e = Embeddings(["cat", "dog"], np.array([[1, 2], [3, 4]], np.float32))
    p = tmp_path / "e"
    e.save(p, format=fmt)
    p.write_bytes(b"\xef\xbb\xbf" + p.read_bytes())
    got = load(p)
    assert got.words == ["cat", "dog"] and got.vectors.tolist() == [[1, 2], [3, 4]]
    assert got.format == fmt.replace("fasttext", "word2vec")


def test_a_bom_later_in_the_file_is_part_of_the_word(tmp_path):
    e = load(write(tmp_path, "g.txt", "a 1\n\ufeffb 2\n"))
    assert e.words == ["a", "\ufeffb"]


def test_a_leading_bom_in_a_words_file_is_skipped(tmp_path):
    np.save(tmp_path / "e.npy", np.eye(2, dtype=np.float32))
    (tmp_path / "e.words.txt").write_bytes(b"\xef\xbb\xbfcat\ndog\n")
    assert load(tmp_path / "e.npy").words == ["cat", "dog"]


@pytest.mark.parametrize("raw", [b"c\x00t 1 2\ndog 3 4\n", b"2 2\nc\x00t 1 2\ndog 3 4\n"])
def test_nul_in_a_text_word_is_refused_as_in_binary(tmp_path, raw):
    with pytest.raises(FormatError, match="NUL") as info:
        load(write(tmp_path, "n.txt", raw))
    assert info.value.line == raw.count(b"\n", 0, raw.index(b"\x00")) + 1


def test_nul_in_a_word_is_refused_by_every_writer(tmp_path):
    e = Embeddings(["c\x00t"], np.ones((1, 2), np.float32))
    for fmt, name in [("glove", "g.txt"), ("word2vec", "w.txt"), ("npy", "e.npy")]:
        with pytest.raises(ValueError, match="NUL"):
            e.save(tmp_path / name, format=fmt)


def test_complex_vectors_are_not_saved_without_their_imaginary_part(tmp_path):
    e = Embeddings(["a", "b"], np.array([[1 + 2j], [3 - 1j]]))
    for fmt, name in [("glove", "g.txt"), ("npy", "e.npy")]:
        with pytest.raises(TypeError, match="complex"):
            e.save(tmp_path / name, format=fmt)
        assert not (tmp_path / name).exists()


# --- pipes and special files ----------------------------------------------------------------------


def _feed(fd: int, data: bytes) -> None:
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


@pytest.mark.parametrize("fmt", ["word2vec", "word2vec-binary", "glove"])
def test_a_pipe_is_read_as_a_stream(tmp_path, fmt):
    # `compare <(cat a.vec) b.vec` said "the file is empty".
    e = Embeddings([f"w{i}" for i in range(3000)], np.arange(6000, dtype=np.float32).reshape(-1, 2))
    p = tmp_path / "e"
    e.save(p, format=fmt)
    r, w = os.pipe()
    t = threading.Thread(target=_feed, args=(w, p.read_bytes()))
    t.start()
    try:
        got = load(f"/dev/fd/{r}")
    finally:
        t.join()
        os.close(r)
    assert got.format == fmt and got.words == e.words
    assert np.array_equal(got.vectors, e.vectors)


def test_dev_stdin_is_read(tmp_path):
    out = run_python(
        """
        import nnoverlap
        e = nnoverlap.load("/dev/stdin")
        print(e.format, e.words, e.vectors.tolist())
        """,
        input="2 2\ncat 1 2\ndog 3 4\n",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "word2vec ['cat', 'dog'] [[1.0, 2.0], [3.0, 4.0]]"


def test_a_proc_file_is_read_not_said_to_be_empty():
    # /proc files report a size of 0; they used to be "empty".
    with pytest.raises(FormatError) as info:
        load("/proc/self/status")
    assert "empty" not in str(info.value)


# --- errors that name the file and the cause ------------------------------------------------------


def test_value_overflowing_float32_says_so_and_offers_float64(tmp_path):
    p = write(tmp_path, "g.txt", "cat 1 2\ndog 1 1e39\n")
    with pytest.raises(FormatError, match='overflows float32.*dtype="float64"') as info:
        load(p)
    assert info.value.line == 2
    assert load(p, dtype=np.float64).vectors[1, 1] == 1e39


def test_binary_float32_overflow_in_npy_says_so(tmp_path):
    np.save(tmp_path / "e.npy", np.array([[1.0], [1e39]]))
    (tmp_path / "e.words.txt").write_text("a\nb\n")
    with pytest.raises(FormatError, match="overflows float32"):
        load(tmp_path / "e.npy")
    assert load(tmp_path / "e.npy", dtype=np.float64).vectors[1, 0] == 1e39


@pytest.mark.parametrize(
    "damage",
    [
        lambda b: b[: len(b) - 7],  # truncated data
        lambda b: b[:20],  # truncated header
        lambda b: b[:8] + b"\x00\x00" + b"garbage" * 10,  # broken header
    ],
)
def test_npy_errors_name_the_file(tmp_path, damage):
    np.save(tmp_path / "e.npy", np.ones((3, 4), np.float32))
    (tmp_path / "e.words.txt").write_text("a\nb\nc\n")
    p = tmp_path / "e.npy"
    p.write_bytes(damage(p.read_bytes()))
    with pytest.raises(FormatError) as info:
        load(p)
    assert str(info.value).startswith(str(p))


def test_npy_of_objects_is_refused_without_unpickling(tmp_path):
    np.save(tmp_path / "e.npy", np.array([[object()]], dtype=object), allow_pickle=True)
    (tmp_path / "e.words.txt").write_text("a\n")
    with pytest.raises(FormatError, match="real numbers|pickle|object"):
        load(tmp_path / "e.npy")


# --- files of kinds we do not read ----------------------------------------------------------------


def _zip(path, member: str) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr(member, b"hello")


UNREADABLE = {
    "png": (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4), "PNG image"),
    "zip": (lambda p: _zip(p, "notes.txt"), "zip archive"),
    "pickle": (lambda p: p.write_bytes(b"\x80\x04\x95" + bytes(range(200))), "pickle"),
    "torch": (lambda p: _zip(p, "archive/data.pkl"), "PyTorch"),
    "legacy torch": (lambda p: p.write_bytes(b"\x80\x02\x8a\n" + bytes(100)), "pickle"),
}


@pytest.mark.parametrize("kind", list(UNREADABLE))
def test_files_we_do_not_read_get_one_line_naming_them(tmp_path, kind):
    make, what = UNREADABLE[kind]
    p = tmp_path / "f.bin"
    make(p)
    with pytest.raises(FormatError) as info:
        load(p)
    msg = str(info.value)
    assert what in msg and "\n" not in msg and "\\x" not in msg, msg
    assert "word2vec" in msg  # says what we read instead


def test_nothing_is_unpickled(tmp_path):
    import pickle

    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    (tmp_path / "e.kv").write_bytes(pickle.dumps(Evil()))
    with pytest.raises(FormatError, match="pickle"):
        load(tmp_path / "e.kv")
    assert not marker.exists()


def test_a_directory_is_an_oserror(tmp_path):
    with pytest.raises(IsADirectoryError):
        load(tmp_path)


def test_top_level_load_is_the_io_load():
    assert nno.load is load
