"""One policy for every reader: only regular files inside the source are opened or hashed.

A device (a link to ``/dev/zero``), a FIFO, a dangling or looping link, or a link leading
out of the source, in the place of a file a reader needs, is a SourceError naming that
path, raised quickly (a FIFO would block ``open()`` forever, ``/dev/zero`` never ends) and
without opening anything outside the source. Every call that could hang runs in a daemon
thread with a timeout, so a regression fails instead of hanging the suite.

Also here: multi-member gzip (IDX and CSV), names with non-ASCII digits, duplicate shard
ids, a Parquet claiming 10^6-pixel sides, and image structs holding only a path.
"""

from __future__ import annotations

import gzip
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dataqual.errors import FormatError, SourceError, TruncatedError
from dataqual.ingest.csv import CsvSource
from dataqual.ingest.idx import IdxSource
from dataqual.ingest.npz import NpzSource
from dataqual.ingest.parquet import ParquetSource
from dataqual.ingest.paths import file_problem, resolved_root
from dataqual.ingest.sources import detect_format, open_source
from dataqual.store.manifest import MANIFEST_NAME

from .writers import (
    generic_table,
    idx_bytes,
    idx_stream,
    png_bytes,
    random_data,
    read_all,
    write_csv,
    write_idx,
    write_npz,
    write_shards,
)

SHAPE = (4, 4)
DATA = random_data(seed=3, sizes={"train": 12, "test": 5}, shape=SHAPE)
TIMEOUT_S = 20.0
REPO = Path(__file__).resolve().parents[2]

# ---------------------------------------------------------------- recording every open()

_OPENED: list[str] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    """Records the path of every Python-level open (builtins, io, os, gzip, zipfile)."""
    if event == "open" and _OPENED is not None and isinstance(args[0], str | bytes | Path):
        _OPENED.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)  # cannot be removed; a no-op while _OPENED is None


@contextmanager
def recording_opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Paths opened meanwhile, by Python or through pyarrow's file readers (C++ opens
    are not audited, so ``pq.ParquetFile``/``pa.input_stream`` are wrapped)."""
    global _OPENED
    opened: list[str] = []
    real_pf, real_stream = pq.ParquetFile, pa.input_stream

    def parquet_file(source: Any, *args: Any, **kwargs: Any) -> pq.ParquetFile:
        if isinstance(source, str | Path):
            opened.append(str(source))
        return real_pf(source, *args, **kwargs)

    def input_stream(source: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(source, str | Path):
            opened.append(str(source))
        return real_stream(source, *args, **kwargs)

    monkeypatch.setattr(pq, "ParquetFile", parquet_file)
    monkeypatch.setattr(pa, "input_stream", input_stream)
    _OPENED = opened
    try:
        yield opened
    finally:
        _OPENED = None
        monkeypatch.setattr(pq, "ParquetFile", real_pf)
        monkeypatch.setattr(pa, "input_stream", real_stream)


def within(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a daemon thread; fails the test after TIMEOUT_S."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as exc:  # handed back to the test thread
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(TIMEOUT_S)
    if thread.is_alive():
        pytest.fail(f"still running after {TIMEOUT_S}s: blocked on a FIFO or reading a device")
    if "error" in box:
        raise box["error"]
    return box["value"]


# ---------------------------------------------------------------- sources and bad entries


def _idx_folder(root: Path) -> Path:
    return write_idx(root, DATA, gz=True)


def _csv_folder(root: Path) -> Path:
    root.mkdir(parents=True)
    write_csv(root / "train.csv", *DATA["train"], header="pixel")
    write_csv(root / "test.csv.gz", *DATA["test"], header="pixel", gz=True)
    return root


def _csv_file(root: Path) -> Path:
    root.mkdir(parents=True)
    return write_csv(root / "all.csv", *DATA["train"])


def _parquet_flat(root: Path) -> Path:
    root.mkdir(parents=True)
    for split, (x, y) in DATA.items():
        pq.write_table(generic_table(x, y, "fixed"), root / f"{split}.parquet")
    return root


def _parquet_file(root: Path) -> Path:
    root.mkdir(parents=True)
    path = root / "table.parquet"
    pq.write_table(generic_table(*DATA["train"], "fixed"), path)
    return path


def _shards(root: Path, manifest: bool) -> Path:
    source = IdxSource.from_folder(write_idx(root.parent / f"{root.name}-idx", DATA))
    return write_shards(root, source, rows=5, manifest=manifest)


def _npz_file(root: Path) -> Path:
    root.mkdir(parents=True)
    return write_npz(root / "data.npz", DATA)


#: name -> (build the source under a folder, the entry to spoil relative to the source
#: (None: the source file itself), format)
SCENARIOS: dict[str, tuple[Callable[[Path], Path], str | None, str]] = {
    "idx-images": (_idx_folder, "train-images-idx3-ubyte.gz", "idx"),
    "idx-labels": (_idx_folder, "t10k-labels-idx1-ubyte.gz", "idx"),
    "csv-folder": (_csv_folder, "test.csv.gz", "csv"),
    "csv-file": (_csv_file, None, "csv"),
    "parquet-folder": (_parquet_flat, "train.parquet", "parquet"),
    "parquet-file": (_parquet_file, None, "parquet"),
    "shards": (lambda r: _shards(r, manifest=False), "train/part-00001.parquet", "parquet"),
    "manifest-shard": (lambda r: _shards(r, manifest=True), "test/part-00000.parquet", "parquet"),
    "manifest": (lambda r: _shards(r, manifest=True), MANIFEST_NAME, "parquet"),
    "npz-file": (_npz_file, None, "npz"),
}

#: kind -> (turn ``entry`` into it, given the real file moved to ``outside``; the problem)
KINDS: dict[str, tuple[Callable[[Path, Path], None], str]] = {
    "dev-zero": (lambda p, _: p.symlink_to("/dev/zero"), "is a device"),
    "fifo": (lambda p, _: os.mkfifo(p), "is a FIFO"),
    "dangling": (lambda p, _: p.symlink_to(p.parent / "no-such-file"), "leads nowhere"),
    "looping": (lambda p, _: p.symlink_to(p), "leads nowhere"),
    "link-out": (lambda p, out: p.symlink_to(out), "leading outside"),
}


def _spoil(tmp_path: Path, scenario: str, kind: str) -> tuple[Path, Path, Path]:
    """(source, spoiled entry, folder outside the source holding the real file)."""
    build, rel, _ = SCENARIOS[scenario]
    source = build(tmp_path / "src")
    entry = source if rel is None else source / rel
    outside = tmp_path / "outside"
    outside.mkdir()
    real = outside / entry.name
    shutil.move(entry, real)  # the real, valid file: readable, but not inside the source
    KINDS[kind][0](entry, real)
    return source, entry, outside


OPENERS: dict[str, Callable[[Path, str], Any]] = {
    "detected": lambda path, fmt: open_source(path),
    "forced": lambda path, fmt: open_source(path, format=fmt),
    "reader": lambda path, fmt: {
        "idx": IdxSource.from_folder,
        "csv": CsvSource.open,
        "parquet": ParquetSource.open,
        "npz": NpzSource,
    }[fmt](path),
}


#: A single file the user names is read through a link (there is no folder to leave);
#: every other (scenario, kind) is refused.
NAMED_LINKS = [s for s, (_, rel, _) in SCENARIOS.items() if rel is None]
REFUSED = [
    (scenario, kind)
    for scenario in sorted(SCENARIOS)
    for kind in sorted(KINDS)
    if not (scenario in NAMED_LINKS and kind == "link-out")
]


@pytest.mark.parametrize("opener", sorted(OPENERS))
@pytest.mark.parametrize("scenario", NAMED_LINKS)
def test_a_named_file_is_read_through_a_link(tmp_path: Path, scenario: str, opener: str) -> None:
    source, _, outside = _spoil(tmp_path, scenario, "link-out")
    fmt = SCENARIOS[scenario][2]
    opened = within(OPENERS[opener], source, fmt)
    assert [Path(p).resolve() for p in opened.files()] == [outside / source.name]


@pytest.mark.parametrize("opener", sorted(OPENERS))
@pytest.mark.parametrize(("scenario", "kind"), REFUSED)
def test_bad_entry_is_a_source_error_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str, kind: str, opener: str
) -> None:
    source, entry, outside = _spoil(tmp_path, scenario, kind)
    fmt = SCENARIOS[scenario][2]
    started = time.perf_counter()
    with recording_opens(monkeypatch) as opened, pytest.raises(SourceError) as info:
        within(OPENERS[opener], source, fmt)
    assert time.perf_counter() - started < 5.0
    assert info.value.path == str(entry)
    assert KINDS[kind][1] in str(info.value)
    assert str(entry) not in opened  # stat only: no open() of a FIFO, device or bad link
    bad = [p for p in opened if Path(os.path.realpath(p)).is_relative_to(outside)]
    assert not bad, f"read outside the source: {bad}"
    assert not any(os.path.realpath(p) == "/dev/zero" for p in opened)


@pytest.mark.parametrize("kind", ["fifo", "dangling"])
def test_idx_test_split_alone_no_longer_passes(tmp_path: Path, kind: str) -> None:
    """The train files of an IDX folder are broken: not skipped, an error naming them."""
    folder = write_idx(tmp_path / "src", DATA, gz=False)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        (folder / name).unlink()
        KINDS[kind][0](folder / name, tmp_path)
    with pytest.raises(SourceError, match=KINDS[kind][1]) as info:
        within(open_source, folder)
    assert info.value.path == str(folder / "train-images-idx3-ubyte")


def test_a_folder_named_like_a_data_file_is_an_error(tmp_path: Path) -> None:
    folder = _csv_folder(tmp_path / "src")
    (folder / "val.csv").mkdir()
    with pytest.raises(SourceError, match="is a folder") as info:
        open_source(folder)
    assert info.value.path == str(folder / "val.csv")


def test_manifest_shard_path_climbing_out_is_refused(tmp_path: Path) -> None:
    folder = _shards(tmp_path / "src", manifest=True)
    doc = json.loads((folder / MANIFEST_NAME).read_text())
    target = folder / doc["shards"][0]["path"]
    shutil.copy(target, tmp_path / "elsewhere.parquet")
    doc["shards"][0]["path"] = "../elsewhere.parquet"
    (folder / MANIFEST_NAME).write_text(json.dumps(doc))
    with pytest.raises(SourceError, match="outside") as info:
        ParquetSource.open(folder)
    assert info.value.path == str(folder / "../elsewhere.parquet")


def test_links_inside_the_source_are_read(tmp_path: Path) -> None:
    """The policy refuses what leaves the source, not links as such."""
    folder = write_idx(tmp_path / "src", DATA, gz=True)
    (folder / "store").mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        shutil.move(folder / name, folder / "store" / name)
        (folder / name).symlink_to(Path("store") / name)
    linked = tmp_path / "via-link"
    linked.symlink_to(folder, target_is_directory=True)  # the source itself may be a link
    got = read_all(open_source(linked))
    assert np.array_equal(np.concatenate([b.images for b in got["train"]]), DATA["train"][0])


# ---------------------------------------------------------------- files() and lineage


def _decoys(folder: Path, tmp_path: Path) -> None:
    """Entries whose names no reader wants: ignored, never opened, never listed."""
    (folder / "zero").symlink_to("/dev/zero")
    os.mkfifo(folder / "pipe")
    (folder / "gone").symlink_to(folder / "nowhere")
    (tmp_path / "secret.txt").write_text("outside")
    (folder / "secret").symlink_to(tmp_path / "secret.txt")


@pytest.mark.parametrize(
    "scenario", ["idx-images", "csv-folder", "parquet-folder", "shards", "manifest"]
)
def test_files_lists_only_files_that_pass_the_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    build, _, fmt = SCENARIOS[scenario]
    folder = build(tmp_path / "src")
    _decoys(folder, tmp_path)
    if scenario == "manifest":  # a shard the manifest does not list is not read either
        os.mkfifo(folder / "train" / "part-99999.parquet")
    with recording_opens(monkeypatch) as opened:
        source = within(open_source, folder)
        assert detect_format(folder) == fmt
        within(read_all, source)
    root = resolved_root(folder)
    files = source.files()
    assert files and all(file_problem(p, root) is None for p in files)
    names = {p.name for p in files}
    assert not names & {"zero", "pipe", "gone", "secret", "part-99999.parquet"}
    assert not [p for p in opened if Path(p).name in {"zero", "pipe", "gone", "secret"}]


# ---------------------------------------------------------------- multi-member gzip


def _members(raw: bytes, *cuts: int) -> bytes:
    """``raw`` as consecutive gzip members cut at ``cuts`` (an empty member first)."""
    edges = [0, *cuts, len(raw)]
    parts = [gzip.compress(b"", mtime=0)]
    parts += [gzip.compress(raw[a:b], mtime=0) for a, b in itertools.pairwise(edges)]
    return b"".join(parts)


def test_multi_member_gzip_idx_reads_like_one_member(tmp_path: Path) -> None:
    plain = write_idx(tmp_path / "plain", DATA, gz=True)
    multi = write_idx(tmp_path / "multi", DATA, gz=True)
    for path in multi.iterdir():
        raw = gzip.decompress(path.read_bytes())
        path.write_bytes(_members(raw, 3, len(raw) // 2))  # a cut inside the header too
    rows = [(s.name, s.declared_rows) for s in open_source(multi).splits()]
    assert rows == [(s.name, s.declared_rows) for s in open_source(plain).splits()]
    got, want = idx_stream(multi, 5), idx_stream(plain, 5)
    for split in want:
        for g, w in zip(got[split], want[split], strict=True):
            assert g.images.tobytes() == w.images.tobytes()
            assert np.array_equal(g.labels, w.labels)


def test_multi_member_gzip_idx_short_or_long(tmp_path: Path) -> None:
    x, y = DATA["train"]
    folder = write_idx(tmp_path / "src", {"train": (x, y)}, gz=True)
    img = folder / "train-images-idx3-ubyte.gz"
    raw = idx_bytes(x)
    img.write_bytes(_members(raw[:-20], 100))  # the last record is cut short
    with pytest.raises(TruncatedError, match="decompresses to") as info:
        IdxSource.from_folder(folder)
    assert (info.value.path, info.value.record) == (str(img), 10)  # 12 of 16 bytes left
    img.write_bytes(_members(raw + b"\x07" * 30, 100))
    with pytest.raises(FormatError, match="data continues after the 12 records") as info:
        IdxSource.from_folder(folder)
    assert info.value.path == str(img)


def test_gzip_bomb_after_the_records_is_not_decompressed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second member of 32 MiB of zeros: counting stops one byte past the header's claim."""
    x, y = DATA["train"]
    folder = write_idx(tmp_path / "src", {"train": (x, y)}, gz=True)
    img = folder / "train-images-idx3-ubyte.gz"
    raw = idx_bytes(x)
    bomb = gzip.compress(b"\0" * (32 << 20), compresslevel=9, mtime=0)
    img.write_bytes(gzip.compress(raw, mtime=0) + bomb)
    served = [0]

    class Counting(gzip.GzipFile):
        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            served[0] += len(data)
            return data

    monkeypatch.setattr(gzip, "open", lambda path, mode="rb": Counting(path, mode))
    with pytest.raises(FormatError, match="data continues") as info:
        IdxSource.from_folder(folder)
    assert info.value.path == str(img)
    assert served[0] <= 2 * (len(raw) + 1)  # header probe + the count, never the bomb


def test_multi_member_gzip_csv_and_detection(tmp_path: Path) -> None:
    x, y = DATA["train"]
    plain = write_csv(tmp_path / "plain.csv", x, y, header="pixel")
    raw = plain.read_bytes()
    multi = tmp_path / "multi" / "train.csv.gz"
    multi.parent.mkdir()
    multi.write_bytes(_members(raw, 10, len(raw) // 2))  # an empty first member, mid-row cuts
    assert detect_format(multi) == "csv"
    assert detect_format(multi.parent) == "csv"
    got = read_all(open_source(multi), 5)["train"]
    want = read_all(open_source(plain), 5)["train"]
    assert [g.images.tobytes() for g in got] == [w.images.tobytes() for w in want]
    assert np.array_equal(np.concatenate([g.labels for g in got]), y.astype(np.int64))


# ---------------------------------------------------------------- names with odd digits


@pytest.mark.parametrize("name", ["a²b", "²1", "1²2", "٣", "x①"])
def test_non_ascii_digit_names_do_not_crash_the_folder_readers(tmp_path: Path, name: str) -> None:
    images = tmp_path / "images"
    for i, img in enumerate(DATA["train"][0][:4]):
        (images / str(i % 2)).mkdir(parents=True, exist_ok=True)
        (images / str(i % 2) / f"{i}.png").write_bytes(png_bytes(img))
    (images / "0" / f"{name}.png").write_bytes(png_bytes(DATA["train"][0][5]))
    source = open_source(images)
    assert sum(len(b) for b in source.iter_batches("train")) == 5

    shards = tmp_path / "flat"
    shards.mkdir()
    x, y = DATA["train"]
    pq.write_table(generic_table(x[:6], y[:6], "fixed"), shards / "train-1.parquet")
    pq.write_table(generic_table(x[6:], y[6:], "fixed"), shards / f"train-{name}.parquet")
    assert sum(s.declared_rows or 0 for s in open_source(shards).splits()) == 12


@pytest.mark.parametrize("column", ["pixel" + "9" * 20, "pixel" + "9" * 5000, "pixel٣", "1²x1"])
def test_csv_header_with_odd_numbers_is_a_format_error(tmp_path: Path, column: str) -> None:
    path = tmp_path / "train.csv"
    names = ["label", *(f"pixel{i}" for i in range(15)), column]
    path.write_text(",".join(names) + "\n" + ",".join(["1"] + ["0"] * 16) + "\n")
    with pytest.raises(FormatError) as info:
        open_source(path)
    assert info.value.path == str(path)


# ---------------------------------------------------------------- Parquet shards


def _with_ids(path: Path, ids: list[str | None]) -> None:
    table = pq.read_table(path)
    pos = table.schema.get_field_index("id")
    new = table.set_column(pos, pa.field("id", pa.string()), pa.array(ids, pa.string()))
    pq.write_table(new.replace_schema_metadata(table.schema.metadata), path)


@pytest.mark.parametrize("manifest", [False, True])
def test_duplicate_shard_id_is_a_format_error_naming_shard_and_id(
    tmp_path: Path, manifest: bool
) -> None:
    folder = _shards(tmp_path / "src", manifest=manifest)
    second = folder / "train" / "part-00001.parquet"
    ids = pq.read_table(second, columns=["id"]).column("id").to_pylist()
    ids[2] = "train/3"  # the id of record 3 of part-00000
    _with_ids(second, ids)
    with pytest.raises(FormatError) as info:
        open_source(folder)
    err = info.value
    assert (err.path, err.record) == (str(second), 2)
    assert "'train/3'" in str(err) and "part-00000.parquet" in str(err)


def test_duplicate_id_across_splits_and_null_id(tmp_path: Path) -> None:
    folder = _shards(tmp_path / "src", manifest=False)
    test = folder / "test" / "part-00000.parquet"
    ids = pq.read_table(test, columns=["id"]).column("id").to_pylist()
    _with_ids(test, ["train/0", *ids[1:]])
    with pytest.raises(FormatError, match="'train/0' appears twice") as info:
        open_source(folder)
    assert (info.value.path, info.value.record) == (str(test), 0)  # test streams after train
    _with_ids(test, [None, *ids[1:]])
    with pytest.raises(FormatError, match="null") as info:
        open_source(folder)
    assert (info.value.path, info.value.record) == (str(test), 0)


def _huge_metadata_table(tmp_path: Path, shard: bool) -> Path:
    """A table whose schema metadata claims 10^6 x 10^6 images (about 45 TiB for 48 rows)."""
    x, y = DATA["train"]
    if shard:
        table = pq.read_table(next((_shards(tmp_path / "s", manifest=False) / "train").iterdir()))
    else:
        table = generic_table(x, y, "png")
    meta = {b"dataqual.height": b"1000000", b"dataqual.width": b"1000000"}
    path = tmp_path / "huge" / "train.parquet"
    path.parent.mkdir()
    pq.write_table(table.replace_schema_metadata(meta), path)
    return path


@pytest.mark.parametrize("shard", [False, True], ids=["encoded", "shard"])
def test_claimed_million_pixel_side_allocates_nothing(tmp_path: Path, shard: bool) -> None:
    path = _huge_metadata_table(tmp_path, shard)
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(SourceError) as info:
            within(open_source, path)
        if not shard:  # the constructor alone takes the claim without allocating from it
            assert within(ParquetSource.open, path).shape == (10**6, 10**6)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 5.0
    assert peak < 16 << 20
    assert info.value.path == str(path)
    assert ("larger than the limit" if not shard else "1000000x1000000") in str(info.value)


@pytest.mark.parametrize("value", [b"1e6", b"\xc2\xb2", b"-28", b"9" * 5000, b" 28"])
def test_bad_shape_metadata_is_a_format_error(tmp_path: Path, value: bytes) -> None:
    x, y = DATA["train"]
    path = tmp_path / "t.parquet"
    meta = {b"dataqual.height": value, b"dataqual.width": b"4"}
    pq.write_table(generic_table(x, y, "png").replace_schema_metadata(meta), path)
    with pytest.raises(FormatError, match=r"dataqual\.height") as info:
        open_source(path)
    assert info.value.path == str(path)


def test_cli_exits_2_on_a_million_pixel_claim_and_on_a_fifo(tmp_path: Path) -> None:
    """End to end through the console script: bad input, exit 2, nothing written."""
    huge = _huge_metadata_table(tmp_path, shard=False)
    fifo_source = _csv_folder(tmp_path / "csvs")
    (fifo_source / "train.csv").unlink()
    os.mkfifo(fifo_source / "train.csv")
    for source, needle in ((huge, "larger than the limit"), (fifo_source, "FIFO")):
        out = tmp_path / f"out-{source.name}"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "pipelines.cli",
                "run",
                "--source",
                str(source),
                "--out",
                str(out),
                "--no-train",
            ],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PREFECT_HOME": str(tmp_path / "prefect")},
        )
        assert done.returncode == 2, done.stderr
        assert needle in done.stderr and str(source) in done.stderr
        assert not out.exists()


# ---------------------------------------------------------------- image structs


def _struct_table(values: list[dict[str, Any]], fields: list[tuple[str, pa.DataType]]) -> pa.Table:
    y = np.arange(len(values)) % 10
    return pa.table({"image": pa.array(values, pa.struct(fields)), "label": pa.array(y)})


def test_struct_holding_only_a_path_is_refused(tmp_path: Path) -> None:
    png = tmp_path / "outside.png"
    png.write_bytes(png_bytes(DATA["train"][0][0]))
    path = tmp_path / "src" / "t.parquet"
    path.parent.mkdir()
    pq.write_table(_struct_table([{"path": str(png)}] * 3, [("path", pa.string())]), path)
    with pytest.raises(FormatError, match="without a 'bytes' field") as info:
        open_source(path)
    assert info.value.path == str(path)
    # text in 'bytes' would be taken for a file name by the image decoder: refused too
    fields = [("bytes", pa.string()), ("path", pa.string())]
    pq.write_table(_struct_table([{"bytes": str(png), "path": str(png)}] * 3, fields), path)
    with pytest.raises(FormatError, match="'bytes' field has type string"):
        open_source(path)


def test_struct_path_is_never_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    png = tmp_path / "outside.png"
    png.write_bytes(png_bytes(np.full(SHAPE, 200, np.uint8)))
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    fields = [("bytes", pa.binary()), ("path", pa.string())]
    rows = [
        {"bytes": png_bytes(DATA["train"][0][0]), "path": None},
        {"bytes": None, "path": str(png)},
        {"bytes": None, "path": str(fifo)},
    ]
    path = tmp_path / "src" / "t.parquet"
    path.parent.mkdir()
    pq.write_table(_struct_table(rows, fields), path)
    with recording_opens(monkeypatch) as opened:
        batch = within(lambda: list(open_source(path).iter_batches("train")))[0]
    assert batch.images[0].tobytes() == DATA["train"][0][0].tobytes()
    assert not batch.images[1:].any()
    assert batch.defects["unreadable"].tolist() == [0, 1, 1]
    assert not {str(png), str(fifo)} & set(opened)
