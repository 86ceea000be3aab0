"""Third-party logs (httpx, Great Expectations, TensorFlow/absl, Prefect internals) stay off
the console by default and with ``-v``; ``-vv`` shows them. A full MNIST run prints every
stage with its seconds and every epoch, and nothing from httpx, GX or absl."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dataqual.environment import is_native_noise

REPO = Path(__file__).resolve().parents[2]
STAGES = ("ingest", "profile", "validate-raw", "clean", "store", "validate-cleaned", "report")
NOISE = re.compile(r"httpx|httpcore|HTTP Request|great_expectations|absl|I0000 ")

NATIVE = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796176654.903793    9235 port.cc:153] oneDNN custom operations are on.",
    "I0000 00:00:1796176654.993113    9235 cpu_feature_guard.cc:227] This TensorFlow binary",
    "To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild",
    "2025-09-17 14:44:05.157831: I external/local_xla/xla/tsl/cuda/cudart_stub.cc:32] No GPU",
    "W0000 00:00:1758131045.228000 3722035 computation_placer.cc:177] computation placer",
]
KEPT = [
    "E0000 00:00:1758131045.203198 3722035 cuda_dnn.cc:8579] Unable to register cuDNN",
    "Traceback (most recent call last):",
    "ERROR dataqual.train: something real",
]


def _python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPO,
        env=base | {"PYTHONPATH": str(REPO)} | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_native_noise_is_what_tf_cpp_min_log_level_says() -> None:
    assert all(is_native_noise(line, 2) for line in NATIVE)
    assert not any(is_native_noise(line, 2) for line in KEPT)
    assert not any(is_native_noise(line, 0) for line in NATIVE)
    assert is_native_noise(NATIVE[1], 1) and not is_native_noise(NATIVE[-1], 1)


@pytest.mark.parametrize(("level", "shown"), [("2", KEPT), ("0", NATIVE + KEPT)])
def test_native_lines_on_fd_2_are_filtered(level: str, shown: list[str]) -> None:
    """Lines written straight to file descriptor 2 (as TensorFlow's C++ does) inside the
    block are dropped below the level; the rest come out, in order, Python's included."""
    lines = NATIVE + KEPT
    done = _python(
        f"""
        import os, sys
        from dataqual.environment import native_logs_filtered
        with native_logs_filtered():
            for line in {lines[:-1]!r}:
                os.write(2, (line + "\\n").encode())
            print({lines[-1]!r}, file=sys.stderr)
        print("after", file=sys.stderr)
        """,
        TF_CPP_MIN_LOG_LEVEL=level,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [*shown, "after"]


LOG_EVERYTHING = """
    import logging, sys
    from pipelines.logs import configure_logging
    configure_logging(int(sys.argv[1]))
    logging.getLogger("httpx").info("HTTP Request: POST http://127.0.0.1/api/logs/")
    logging.getLogger("great_expectations._docs_decorators").info("gx docs")
    logging.getLogger("absl").info("absl line")
    logging.getLogger("prefect.task_runs").info("Finished in state Completed()")
    logging.getLogger("prefect.flow_runs").info("Beginning flow run 'x'")
    logging.getLogger("dataqual.validate").info("raw validation: 40 checks")
    logging.getLogger("httpx").warning("httpx warning")
    logging.getLogger("dataqual.cli").warning("dataqual warning")
"""


@pytest.mark.parametrize(
    ("verbosity", "expected"),
    [
        (0, ["httpx warning", "dataqual warning"]),
        (1, ["Beginning flow run 'x'", "raw validation: 40 checks", "httpx", "dataqual warning"]),
        (2, ["HTTP Request", "gx docs", "absl line", "Finished in state", "Beginning", "raw"]),
    ],
)
def test_console_levels_by_verbosity(verbosity: int, expected: list[str]) -> None:
    done = _python(LOG_EVERYTHING.replace("sys.argv[1]", str(verbosity)))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    for needle in expected:
        assert any(needle in line for line in lines), (needle, lines)
    if verbosity < 2:
        assert not any(NOISE.search(line) for line in lines if "warning" not in line), lines
        assert not any("Finished in state" in line for line in lines), lines


#: Set by the test harness, not by a user: dropped so the CLI picks its own levels.
HARNESS_VARS = ("TF_CPP_MIN_LOG_LEVEL", "PREFECT_LOGGING_LEVEL", "PREFECT_API_URL", "PREFECT_HOME")


def _cli(tmp_path: Path, *args: str, timeout: float = 300) -> str:
    """``dataqual ARGS`` as a user runs it; returns stdout and stderr together."""
    base = {k: v for k, v in os.environ.items() if k not in HARNESS_VARS}
    home = str(tmp_path / "prefect")
    done = subprocess.run(
        [sys.executable, "-m", "pipelines", *args],
        cwd=REPO,
        env=base | {"DATAQUAL_PREFECT_HOME": home, "PREFECT_HOME": home, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("verbosity", ["-v", "-vv"])
def test_sample_run_is_quiet_until_vv(sample_dir: Path, tmp_path: Path, verbosity: str) -> None:
    """``-v`` adds dataqual's lines but not httpx's, GX's or Prefect's per-task noise;
    ``-vv`` shows them all."""
    out = tmp_path / "out"
    output = _cli(
        tmp_path, verbosity, "run", "--source", str(sample_dir), "--out", str(out), "--no-train"
    )
    lines = output.splitlines()
    noisy = [line for line in lines if NOISE.search(line)]
    if verbosity == "-v":
        assert noisy == [], noisy[:20]
        assert not any("Finished in state Completed()" in line for line in lines)
        assert any("INFO dataqual.validate" in line for line in lines), lines
    else:
        assert any("HTTP Request" in line for line in noisy), lines[:50]
        assert any("great_expectations" in line for line in noisy), lines[:50]
    for stage in STAGES:
        assert any(re.fullmatch(rf"\s*{stage}\s+\d+\.\d\d s", line) for line in lines), stage


@pytest.mark.slow
def test_full_mnist_run_shows_stages_and_epochs_and_no_noise(
    mnist_dir: Path, tmp_path: Path
) -> None:
    """Acceptance: the default output of a full MNIST run shows every stage with its time
    and every epoch, and contains no line from httpx, GX or absl."""
    out = tmp_path / "out"
    output = _cli(
        tmp_path, "run", "--source", str(mnist_dir), "--out", str(out), "--epochs", "2", timeout=900
    )
    lines = output.splitlines()
    assert [line for line in lines if NOISE.search(line)] == [], output[-3000:]
    for stage in (*STAGES, "train"):
        assert any(re.fullmatch(rf"\s*{stage}\s+\d+\.\d\d s", line) for line in lines), (
            stage,
            output[-3000:],
        )
    epochs = [line for line in lines if line.startswith("epoch ")]
    assert len(epochs) == 2, output[-3000:]
    for n, line in enumerate(epochs, start=1):
        assert re.fullmatch(
            rf"epoch {n}/2: loss \d+\.\d{{4}}, accuracy \d\.\d{{4}}, [\d,]+ img/s", line
        ), line


def test_quiet_native_import_drops_the_start_up_lines(tmp_path: Path) -> None:
    """A module that writes absl lines to fd 2 while it loads (as TensorFlow does) is
    imported with them dropped; its real error line and later output still come out."""
    (tmp_path / "noisy_native.py").write_text(
        f"import os\nfor line in {NATIVE + KEPT[:1]!r}:\n    os.write(2, (line + '\\n').encode())\n"
    )
    done = _python(
        """
        import sys
        from dataqual.environment import quiet_native_import
        assert quiet_native_import("noisy_native") is sys.modules["noisy_native"]
        print("after", file=sys.stderr)
        """,
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=f"{REPO}{os.pathsep}{tmp_path}",
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [KEPT[0], "after"]
