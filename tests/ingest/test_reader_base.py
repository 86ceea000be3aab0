"""The reader base and registry: every format is a registered Reader subclass, detection
asks them in priority order, low-level failures become SourceErrors in one place, and a
source re-opens from (path, format, options) alone, or travels to another process."""

from __future__ import annotations

import pickle
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dataqual.errors import ConfigError, FormatError, SourceError, TruncatedError
from dataqual.imageset import ImageSource, SplitInfo
from dataqual.ingest import formats
from dataqual.ingest.formats import FORMAT_OPTIONS, FORMATS, Probe, readers, register_reader
from dataqual.ingest.reader import Reader, Records, wrap_errors
from dataqual.ingest.sources import detect_format, open_source
from dataqual.ingest.split import SplitSpec

from .writers import random_data, read_all, write_csv, write_idx, write_images, write_npz

BUILT_IN = ["idx", "npz", "parquet", "csv", "images"]


@pytest.fixture
def registry() -> Iterator[None]:
    """Undo registrations made by a test."""
    saved = (dict(formats._ENTRIES), dict(formats._OPENERS), dict(formats._OPTIONS))
    yield
    live_dicts = (formats._ENTRIES, formats._OPENERS, formats._OPTIONS)
    for live, old in zip(live_dicts, saved, strict=True):
        live.clear()
        live.update(old)


def test_built_in_formats_are_registered_readers_in_detection_order() -> None:
    names = [e.name for e in readers()]
    assert names[: len(BUILT_IN)] == BUILT_IN
    assert set(BUILT_IN) <= set(FORMATS) and set(BUILT_IN) <= set(FORMAT_OPTIONS)
    for entry in readers():
        assert issubclass(entry.reader, Reader) and entry.reader.format == entry.name
    assert FORMAT_OPTIONS["parquet"] == {"shape", "label_column", "image_column", "split_column"}
    assert FORMAT_OPTIONS["idx"] == frozenset() and FORMAT_OPTIONS["csv"] == {"shape"}


class _Lines(Reader):
    """A tiny reader for the registry tests: one 1x1 image per byte of the file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._description = str(path)
        self._shape = (1, 1)

    @classmethod
    def open(cls, path: Path, *, max_expansion: float = 16.0, **options: Any) -> _Lines:
        return cls(path)

    def splits(self) -> list[SplitInfo]:
        return [SplitInfo("train", None, (self._path,))]

    def records(self, split: str, rows: int) -> Iterator[Records]:
        data = np.frombuffer(self._path.read_bytes(), np.uint8)
        for start in range(0, len(data), rows):
            part = data[start : start + rows]
            yield Records(labels=part.astype(np.int64) % 10, images=part.reshape(-1, 1, 1))


def test_priority_puts_a_plugin_detector_before_the_built_in_ones(
    registry: None, tmp_path: Path
) -> None:
    path = tmp_path / "t.lines"
    path.write_bytes(b"1,2,3\n4,5,6\n")  # text with commas: CSV, unless asked first
    assert detect_format(path) == "csv"
    register_reader("late", detect=lambda p: p.path.suffix == ".lines")(_Lines)
    assert detect_format(path) == "csv"
    register_reader("early", detect=lambda p: p.path.suffix == ".lines", priority=0)(_Lines)
    assert detect_format(path) == "early"
    source = open_source(path)
    assert isinstance(source, _Lines) and isinstance(source, ImageSource)
    batches = list(source.iter_batches("train", 5))
    assert [len(b) for b in batches] == [5, 5, 2]  # the base re-cut 5-row records exactly
    assert batches[1].ids.tolist() == [f"train/{i}" for i in range(5, 10)]
    assert np.array_equal(source.labels("train"), np.frombuffer(path.read_bytes(), np.uint8) % 10)


def test_registry_refuses_what_cannot_work(registry: None) -> None:
    with pytest.raises(ConfigError, match="already registered"):
        register_reader("csv")(_Lines)
    with pytest.raises(TypeError, match="Reader subclass"):
        register_reader("nope")(dict)  # type: ignore[type-var]
    with pytest.raises(ConfigError, match="unknown format 'nope'; known formats: csv"):
        open_source(Path(__file__), format="nope")


def test_wrap_errors_names_the_file_and_record(tmp_path: Path) -> None:
    wrapped = wrap_errors(tmp_path / "f", "broke ({exc})", kind=TruncatedError, record=7)
    with pytest.raises(TruncatedError) as info, wrapped:
        raise zlib.error("bad block")
    assert str(info.value) == f"{tmp_path / 'f'}, record 7: broke (bad block)"
    assert isinstance(info.value.__cause__, zlib.error)
    ours = FormatError("x", "already ours", record=3)
    with pytest.raises(FormatError) as info, wrap_errors("y", "not used"):
        raise ours
    assert info.value is ours
    made = wrap_errors("z", lambda exc: SourceError("z", f"made: {exc}"))
    with pytest.raises(SourceError, match="made: boom"), made:
        raise OSError("boom")
    with pytest.raises(KeyError), wrap_errors("z", "not caught"):
        raise KeyError("a bug, not the file's fault")


@pytest.fixture
def sources(tmp_path: Path) -> dict[str, Path]:
    data = random_data(3, {"train": 23, "test": 9})
    x, y = data["train"]
    return {
        "idx": write_idx(tmp_path / "idx", data),
        "npz": write_npz(tmp_path / "m.npz", data),
        "csv": write_csv(tmp_path / "train.csv", x, y),
        "images": write_images(tmp_path / "img", data),
    }


def test_every_reader_reopens_from_its_origin_and_pickles(sources: dict[str, Path]) -> None:
    for fmt, path in sources.items():
        source = open_source(path)
        want = read_all(source, 8)
        assert source.origin is not None and source.origin.format == fmt
        again = source.origin.open()
        moved = pickle.loads(pickle.dumps(source))
        for other in (again, moved):
            got = read_all(other, 8)
            assert list(got) == list(want), fmt
            for split in want:
                for g, w in zip(got[split], want[split], strict=True):
                    assert g.images.tobytes() == w.images.tobytes(), fmt
                    assert g.ids.tolist() == w.ids.tolist(), fmt


def test_labels_is_part_of_every_source(sources: dict[str, Path]) -> None:
    for fmt, path in sources.items():
        source = open_source(path)
        for split in source.splits():
            streamed = np.concatenate([b.labels for b in source.iter_batches(split.name, 7)])
            assert np.array_equal(source.labels(split.name), streamed), fmt
            assert source.labels(split.name).dtype == np.int64
    cut = open_source(sources["csv"], split=SplitSpec(test_fraction=0.25, seed=1))
    for name in ("train", "test"):
        streamed = np.concatenate([b.labels for b in cut.iter_batches(name, 5)])
        assert np.array_equal(cut.labels(name), streamed)


def test_detection_refuses_pieces_of_a_dataset(tmp_path: Path) -> None:
    single = tmp_path / "x.npy"
    np.save(single, np.zeros((2, 2), np.uint8))
    with pytest.raises(SourceError, match=r"single \.npy array"):
        detect_format(single)
    assert Probe(tmp_path, True).head == b""


def test_files_default_to_the_files_the_splits_name(tmp_path: Path) -> None:
    """A reader that lists its files in its splits need not list them again."""
    path = tmp_path / "data.lines"
    path.write_bytes(bytes(range(10)))
    reader = _Lines.open(path)
    assert reader.files() == [path]
