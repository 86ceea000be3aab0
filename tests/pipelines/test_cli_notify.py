"""`dataqual run --notify URL` end to end: one POST per run, and a webhook that fails or
hangs never changes the run's exit code."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pipelines.cli import main

from tests.test_notify import WebhookServer


@pytest.fixture
def hook(request: pytest.FixtureRequest) -> Iterator[WebhookServer]:
    answer, delay = getattr(request, "param", (200, 0.0))
    server = WebhookServer(answer, delay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _run(sample_dir: Path, out: Path, url: str) -> int:
    argv = ["run", "--source", str(sample_dir), "--out", str(out), "--no-train"]
    return main([*argv, "--notify", url])


@pytest.mark.usefixtures("prefect_harness")
def test_a_run_posts_its_summary_once(
    sample_dir: Path, tmp_path: Path, hook: WebhookServer
) -> None:
    assert _run(sample_dir, tmp_path / "out", hook.url) == 0
    assert len(hook.received) == 1
    payload = json.loads(hook.received[0][1])
    assert payload["status"] == "passed" and payload["counts"]["rows"] == 1200
    assert Path(payload["report"]["path"]) == tmp_path / "out" / "report.html"


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize("hook", [(500, 0.0), (200, 8.0)], indirect=True, ids=["500", "hangs"])
def test_a_failing_webhook_never_changes_the_exit_code(
    sample_dir: Path, tmp_path: Path, hook: WebhookServer
) -> None:
    assert _run(sample_dir, tmp_path / "out", hook.url) == 0
    assert (tmp_path / "out" / "run.json").is_file()


def test_a_bad_webhook_url_is_refused_before_any_work(
    sample_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(sample_dir, tmp_path / "out", "file:///etc/passwd") == 2
    assert "file:///etc/passwd" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
