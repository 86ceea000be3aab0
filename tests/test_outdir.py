"""``--out`` and ``--overwrite`` never delete what is not a dataqual run, nor touch an input."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataqual.config import RunConfig
from dataqual.errors import OutputError
from dataqual.outdir import check_output, is_previous_run
from dataqual.run import run_pipeline


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its bytes (None for folders, the target for links)."""
    tree: dict[str, bytes | None] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            key = str(p.relative_to(root))
            if p.is_symlink():
                tree[key] = os.readlink(p).encode()
            elif p.is_dir():
                tree[key] = None
            else:
                tree[key] = p.read_bytes()
    return tree


def fake_run(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    run = {"status": "passed", "exit_code": 0, "dataqual_version": "0.1.0"}
    (folder / "run.json").write_text(json.dumps(run))
    (folder / "report.html").write_text("<html></html>")
    return folder


@pytest.fixture
def source(tmp_path: Path, sample_dir: Path) -> Path:
    """A copy of the embedded sample, so that a wrong delete would show."""
    return Path(shutil.copytree(sample_dir, tmp_path / "data"))


def test_out_equal_to_the_source_is_refused_and_the_source_kept(source: Path) -> None:
    before = snapshot(source)
    with pytest.raises(OutputError, match="is the input"):
        run_pipeline(RunConfig(source=source, out=source, overwrite=True, train=False))
    assert snapshot(source) == before


def test_out_inside_the_source_is_refused(source: Path) -> None:
    with pytest.raises(OutputError, match="lies inside the input"):
        check_output(source / "runs" / "x", overwrite=True, inputs=[source])


def test_out_containing_the_source_is_refused(tmp_path: Path, source: Path) -> None:
    fake_run(tmp_path)  # even a folder that looks like a run may not swallow the input
    with pytest.raises(OutputError, match="contains the input"):
        check_output(tmp_path, overwrite=True, inputs=[source])


def test_links_are_seen_through(tmp_path: Path, source: Path) -> None:
    alias = tmp_path / "alias"
    alias.symlink_to(source, target_is_directory=True)
    with pytest.raises(OutputError, match="is the input"):
        check_output(source, overwrite=True, inputs=[alias])
    with pytest.raises(OutputError, match="lies inside the input"):
        check_output(alias / "out", overwrite=True, inputs=[source])


def test_out_holding_a_reference_file_is_refused(tmp_path: Path, source: Path) -> None:
    old = fake_run(tmp_path / "old")
    (old / "profile.parquet").write_bytes(b"PAR1")
    with pytest.raises(OutputError, match="contains the input"):
        check_output(old, overwrite=True, inputs=[source, old / "profile.parquet"])


def test_a_folder_that_is_not_a_run_is_never_overwritten(tmp_path: Path, source: Path) -> None:
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("\\documentclass{book}")
    (thesis / "figures").mkdir()
    before = snapshot(thesis)
    with pytest.raises(OutputError, match=r"thesis\.tex.*nothing was deleted"):
        run_pipeline(RunConfig(source=source, out=thesis, overwrite=True, train=False))
    assert snapshot(thesis) == before


def test_a_forged_run_json_does_not_make_a_run(tmp_path: Path) -> None:
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "run.json").write_text("[1, 2]")
    assert not is_previous_run(folder)
    (folder / "run.json").write_text('{"status": "passed"}')
    assert not is_previous_run(folder)
    assert is_previous_run(fake_run(tmp_path / "real"))


def test_empty_absent_and_previous_runs_are_accepted(tmp_path: Path, source: Path) -> None:
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "empty", tmp_path / "absent", fake_run(tmp_path / "old")):
        assert check_output(out, overwrite=True, inputs=[source]) == out


def test_a_previous_run_is_replaced(tmp_path: Path, source: Path) -> None:
    out = fake_run(tmp_path / "old")
    outcome = run_pipeline(RunConfig(source=source, out=out, overwrite=True, train=False))
    assert outcome.exit_code == 0
    assert not (out / "report.html").read_text().startswith("<html></html>")
    assert (out / "shards" / "manifest.json").is_file()


def test_parent_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output(tmp_path / "notes.txt" / "out", overwrite=False)


def test_path_too_long(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="too long"):
        check_output(tmp_path / ("x" * 300) / "out", overwrite=False)


def test_out_that_is_a_link_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OutputError, match="symbolic link"):
        check_output(tmp_path / "link", overwrite=True)


def test_finish_checks_again(tmp_path: Path, source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Something written into ``out`` while the run worked is not replaced at the end."""
    import dataqual.run as run

    out = tmp_path / "out"
    real_write = run.write_outputs

    def write_then_intrude(*args: object, **kwargs: object) -> object:
        out.mkdir()
        (out / "precious.txt").write_text("made while the run worked")
        return real_write(*args, **kwargs)

    monkeypatch.setattr(run, "write_outputs", write_then_intrude)
    with pytest.raises(OutputError, match=r"precious\.txt"):
        run_pipeline(RunConfig(source=source, out=out, overwrite=True, train=False))
    assert (out / "precious.txt").read_text() == "made while the run worked"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "out"]  # no staging left


# A random tree of folders and files, as nested dicts: name -> subtree or file bytes.
NAMES = st.sampled_from(["a", "b", "run.json", "data", "x.tex", "Data", ".hidden"])
TREES = st.recursive(
    st.binary(max_size=8),
    lambda children: st.dictionaries(NAMES, children, max_size=4),
    max_leaves=12,
)


def build(root: Path, tree: dict | bytes) -> None:
    if isinstance(tree, bytes):
        root.write_bytes(tree)
        return
    root.mkdir()
    for name, sub in tree.items():
        build(root / name, sub)


def all_paths(root: Path) -> list[Path]:
    return [root, *sorted(root.rglob("*"))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=st.dictionaries(NAMES, TREES, max_size=4), pick=st.integers(min_value=0))
def test_any_out_that_is_not_empty_absent_or_a_run_is_refused(tree: dict, pick: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        build(root, tree)
        paths = all_paths(root)
        out = paths[pick % len(paths)]
        allowed = (out.is_dir() and not any(out.iterdir())) or is_previous_run(out)
        before = snapshot(root)
        if allowed:
            assert check_output(out, overwrite=True) == out
        else:
            with pytest.raises(OutputError, match=re.escape(str(out))):
                check_output(out, overwrite=True)
            # and through the pipeline itself, which must refuse before doing any work
            with pytest.raises(OutputError):
                run_pipeline(RunConfig(source=Path(tmp) / "absent", out=out, overwrite=True))
        assert snapshot(root) == before
