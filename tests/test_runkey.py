"""The run key: stable for the same work, different when data, suites or options change."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

from dataqual.config import RunConfig
from dataqual.runkey import key_of_run, run_key, run_options, source_files, write_key
from dataqual.validate.suites import default_suites_dir

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "sample"


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    source, suites = tmp_path / "src", tmp_path / "suites"
    shutil.copytree(SAMPLE, source)
    shutil.copytree(default_suites_dir(), suites)
    return source, suites


def _key(source: Path, suites: Path, **options: object) -> str:
    config = RunConfig(source=source, suites_dir=suites, **{"out": "out", **options})
    return run_key(config, source_files(config))


def test_key_is_stable_and_ignores_where_to_write(tmp_path: Path) -> None:
    source, suites = _copy(tmp_path)
    first = _key(source, suites)
    assert first == _key(source, suites)
    assert first == _key(source, suites, out=tmp_path / "elsewhere", overwrite=True)
    assert first == _key(source, suites, workers=3, wait_lock=5, notify=["http://x/"])
    assert len(first) == 64


def test_key_changes_with_a_source_byte(tmp_path: Path) -> None:
    source, suites = _copy(tmp_path)
    before = _key(source, suites)
    files = source_files(RunConfig(source=source, out=tmp_path / "o"))
    assert files
    gz = next(f for f in files if f.name.startswith("t10k-images"))
    data = bytearray(gzip.decompress(gz.read_bytes()))
    data[-1] ^= 1  # one pixel of the last image
    gz.write_bytes(gzip.compress(bytes(data)))
    assert _key(source, suites) != before


def test_key_changes_with_a_suite(tmp_path: Path) -> None:
    source, suites = _copy(tmp_path)
    before = _key(source, suites)
    suite = sorted(suites.glob("*.json"))[0]
    suite.write_text(suite.read_text() + "\n")
    assert _key(source, suites) != before


def test_key_changes_with_an_option(tmp_path: Path) -> None:
    source, suites = _copy(tmp_path)
    before = _key(source, suites)
    assert _key(source, suites, train=False) != before
    assert _key(source, suites, shard_rows=7) != before


def test_options_hold_absolute_paths_and_sorted_plugins(tmp_path: Path) -> None:
    config = RunConfig(source=Path("rel/src"), out=tmp_path, plugins=["b", "a"])
    options = run_options(config)
    assert Path(options["source"]).is_absolute()
    assert options["plugins"] == ["a", "b"]
    assert "out" not in options and "workers" not in options


def test_key_is_read_back_from_a_run_folder(tmp_path: Path) -> None:
    assert key_of_run(tmp_path) is None
    assert key_of_run(None) is None
    write_key(tmp_path, "abc", RunConfig(source=SAMPLE, out=tmp_path))
    assert key_of_run(tmp_path) == "abc"
    (tmp_path / "runkey.json").write_text("{not json")
    assert key_of_run(tmp_path) is None
