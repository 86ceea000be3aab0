"""Webhook alerts against real local HTTP servers: one POST with the run's JSON summary, and
a webhook that answers 500, hangs or is not there never raises and never takes long."""

from __future__ import annotations

import http.server
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dataqual.config import RunConfig
from dataqual.errors import ConfigError
from dataqual.notify import (
    SCHEMA,
    check_webhook_url,
    failure_notification,
    fired_drift,
    notification,
    notify_all,
    post_json,
)
from dataqual.run import RunOutcome, run_pipeline


class _Hook(http.server.BaseHTTPRequestHandler):
    """Records every POST; answers ``server.answer`` after ``server.delay`` seconds."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        self.server.received.append((dict(self.headers), body))  # type: ignore[attr-defined]
        time.sleep(self.server.delay)  # type: ignore[attr-defined]
        self.send_response(self.server.answer)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:  # keep pytest's output clean
        pass


class WebhookServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, answer: int, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _Hook)
        self.answer, self.delay = answer, delay
        self.received: list[tuple[dict[str, str], bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks/secret-token"

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that gave up on a hanging answer closed the connection


@pytest.fixture
def webhook(request: pytest.FixtureRequest) -> Iterator[WebhookServer]:
    """A real HTTP server on a free loopback port; ``indirect`` param: (status, delay)."""
    answer, delay = getattr(request, "param", (200, 0.0))
    server = WebhookServer(answer, delay)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def outcome(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    """A real run of the embedded sample (no training)."""
    out = tmp_path_factory.mktemp("notify") / "out"
    return run_pipeline(RunConfig(source=sample_dir, out=out, train=False))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_run_is_posted_once_as_json(webhook: WebhookServer, outcome: RunOutcome) -> None:
    payload = notification(outcome.summary, outcome.run_json)
    assert post_json(webhook.url, payload) is True
    assert len(webhook.received) == 1
    headers, body = webhook.received[0]
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"].startswith("dataqual/")
    sent = json.loads(body)
    assert sent == json.loads(json.dumps(payload))
    assert sent["schema"] == SCHEMA and sent["event"] == "dataqual.run.passed"
    assert sent["status"] == "passed" and sent["exit_code"] == 0 and sent["error"] is None
    assert sent["dataset"] == "sample-digits"
    assert sent["counts"] == {"rows": 1200, "kept": 1196, "repaired": 1, "quarantined": 4}
    assert sent["blocking"] == [] and sent["failures"] == []
    assert {w["label"] for w in sent["warnings"]} == {w.label for w in outcome.summary.warnings}
    assert sent["warnings"] and all(w["severity"] == "warning" for w in sent["warnings"])
    assert sent["drift"] == [] and sent["drift_detected"] is False  # no --reference: skipped
    run_dir = outcome.run_json.parent.resolve()
    assert sent["run_dir"] == str(run_dir) and sent["run_json"] == str(run_dir / "run.json")
    assert sent["report"]["path"] == str(run_dir / "report.html")
    assert sent["report"]["url"] == (run_dir / "report.html").as_uri()
    assert Path(sent["report"]["path"]).is_file()
    assert sent["data_docs"]["url"].startswith("file://")


def test_a_failed_run_names_its_blocking_checks_and_drift(outcome: RunOutcome) -> None:
    s = outcome.summary
    drift = [c.model_copy(update={"success": False, "skipped": None}) for c in s.drift[:2]]
    failed = s.model_copy(
        update={
            "status": "failed_validation",
            "exit_code": 1,
            "success": False,
            "blocking": s.checks[:1],
            "failures": [s.checks[0].label],
            "drift": [*drift, *s.drift[2:]],
        }
    )
    assert fired_drift(failed) == drift
    payload = notification(failed, outcome.run_json)
    assert payload["event"] == "dataqual.run.failed" and payload["exit_code"] == 1
    assert payload["blocking"][0]["name"] == s.checks[0].name
    assert payload["blocking"][0]["split"] == s.checks[0].split
    assert payload["failures"] == [s.checks[0].label]
    assert [d["name"] for d in payload["drift"]] == [c.name for c in drift]
    assert payload["drift_detected"] is True
    json.dumps(payload)  # plain JSON throughout


def test_bad_input_has_the_same_keys(outcome: RunOutcome, tmp_path: Path) -> None:
    payload = failure_notification(
        "data.csv, record 3: 5 columns, expected 785", tmp_path / "out", source="data.csv"
    )
    assert set(payload) == set(notification(outcome.summary, outcome.run_json))
    assert payload["status"] == "error" and payload["exit_code"] == 2
    assert payload["error"].startswith("data.csv, record 3")
    assert payload["run_dir"] == str((tmp_path / "out").resolve())
    assert payload["dataset"] is None and payload["counts"] is None
    stopped = failure_notification("interrupted", tmp_path, exit_code=130)
    assert stopped["status"] == "interrupted" and stopped["exit_code"] == 130


@pytest.mark.parametrize("webhook", [(500, 0.0)], indirect=True)
def test_a_500_is_retried_then_given_up_without_raising(
    webhook: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="dataqual.notify"):
        assert post_json(webhook.url, {"status": "passed"}, retries=2, backoff=0.05) is False
    assert len(webhook.received) == 3
    [record] = [r for r in caplog.records if r.name == "dataqual.notify"]
    message = record.getMessage()
    assert record.levelno == logging.WARNING and "\n" not in message
    assert f"127.0.0.1:{webhook.server_address[1]}/hooks/..." in message
    assert "HTTP 500" in message and "3 attempt" in message
    assert "secret-token" not in message


@pytest.mark.parametrize("webhook", [(404, 0.0)], indirect=True)
def test_a_4xx_is_not_retried(webhook: WebhookServer) -> None:
    assert post_json(webhook.url, {"status": "passed"}, backoff=0.05) is False
    assert len(webhook.received) == 1


@pytest.mark.parametrize("webhook", [(200, 3.0)], indirect=True)
def test_a_hanging_webhook_gives_up_within_its_timeout(
    webhook: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    timeout, retries, backoff = 0.5, 1, 0.1
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="dataqual.notify"):
        delivered = post_json(
            webhook.url, {"x": 1}, timeout=timeout, retries=retries, backoff=backoff
        )
    elapsed = time.monotonic() - started
    assert delivered is False
    assert elapsed < timeout * (retries + 1) + backoff + 1.0
    assert "no answer within 0.5 s" in caplog.text


def test_an_unreachable_webhook_returns_false(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{_free_port()}/hook"
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="dataqual.notify"):
        assert post_json(url, {"x": 1}, timeout=1.0, retries=2, backoff=0.05) is False
    assert time.monotonic() - started < 3.0
    assert "ConnectionRefusedError" in caplog.text or "Connection refused" in caplog.text


def test_notify_all_posts_to_each_url(webhook: WebhookServer) -> None:
    dead = f"http://127.0.0.1:{_free_port()}/hook"
    result = notify_all([webhook.url, dead], {"x": 1}, retries=0)
    assert result == {webhook.url: True, dead: False}
    assert len(webhook.received) == 1


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://host/x", "not a url", "http://"])
def test_only_http_urls_are_webhooks(url: str) -> None:
    with pytest.raises(ConfigError, match="http:// or https://"):
        check_webhook_url(url)
    assert post_json(url, {"x": 1}, retries=0) is False


def test_an_unserialisable_payload_does_not_raise(webhook: WebhookServer) -> None:
    assert post_json(webhook.url, {"path": Path("/tmp/x"), "when": object()}) is True
    assert json.loads(webhook.received[0][1])["path"] == "/tmp/x"
