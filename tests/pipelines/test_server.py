"""``dataqual server`` / ``start_server``: a real ``prefect server start`` on a free loopback
port, found by the CLI through its record, stopped by its pid."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
from pipelines.server import (
    SERVER_RECORD,
    api_url_for,
    free_port,
    running_server,
    server_healthy,
    start_server,
)

from dataqual.errors import ConfigError
from tests.pipelines.ops_helpers import REPO, dataqual_command, env_for


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_taken_port_is_one_line_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(ConfigError, match=f"port {port} on 127.0.0.1 is in use"):
            start_server(port, tmp_path)
    assert not (tmp_path / SERVER_RECORD).exists()


def test_a_stale_record_is_no_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    dead = subprocess.Popen(["true"])
    dead.wait()
    record = tmp_path / SERVER_RECORD
    record.write_text(json.dumps({"pid": dead.pid, "url": "http://127.0.0.1:9"}))
    assert running_server(tmp_path) is None
    assert not record.exists()
    assert api_url_for(tmp_path) is None
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")
    assert api_url_for(tmp_path) == "http://127.0.0.1:9/api"


@pytest.mark.slow
def test_start_server_answers_is_recorded_and_stops(tmp_path: Path) -> None:
    server = start_server(free_port(), tmp_path)
    try:
        assert server_healthy(server.api_url)
        assert running_server(tmp_path) == server.api_url
        record = json.loads((tmp_path / SERVER_RECORD).read_text())
        assert record["pid"] == server.pid
        assert (tmp_path / "prefect.db").is_file()  # its database lives in the given home
    finally:
        server.stop()
    assert not _alive(server.pid)
    assert not server_healthy(server.api_url)
    assert running_server(tmp_path) is None


@pytest.mark.slow
def test_dataqual_server_prints_where_it_is_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        dataqual_command("--prefect-home", str(tmp_path), "server", "--port", str(port)),
        env=env_for(tmp_path, None),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lines = []
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C"):
                break
        text = "".join(lines)
        api = f"http://127.0.0.1:{port}/api"
        assert f"UI:  http://127.0.0.1:{port}" in text
        assert f"export PREFECT_API_URL={api}" in text
        (warm_line,) = [line for line in lines if line.startswith("Warm runner (pid ")]
        warm_pid = int(warm_line.split()[3].rstrip("):"))
        assert server_healthy(api)
        server_pid = json.loads((tmp_path / SERVER_RECORD).read_text())["pid"]
        started = time.monotonic()
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 130
        assert time.monotonic() - started < 15
    finally:
        if process.poll() is None:
            process.kill()
    assert "server stopped" in process.stderr.read()
    assert not _alive(server_pid)
    assert not _alive(warm_pid)  # its warm runner stops with it
    assert not server_healthy(api)
    assert not (tmp_path / SERVER_RECORD).exists()
    assert not (tmp_path / "dataqual-warm.json").exists()
