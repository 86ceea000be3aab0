"""Benchmark: start-up of ``dataqual run --no-train``, from the command to the first stage.

For the embedded sample (``data/sample``) and full MNIST (``--source``), each run is the real
console command in a fresh process. "first stage" is from just before the process is
launched (``time.time()``) to the start of its ``ingest`` task run, as Prefect recorded it
(UTC wall clock); "flow" is to the start of the flow run; "wall" is the whole command. Three
modes: "warm", with a ``dataqual server`` and its warm runner started once by the benchmark
(the CLI finds them through their records in the Prefect home; the runner forks each
command from a process that has imported Prefect, pandas, GX and dataqual) and stopped by
pid at the end; "server", the same server with ``DATAQUAL_NO_WARM=1`` (each command imports
everything itself); "ephemeral", with no server, so every run starts a private Prefect
server. Baselines measured in the same
run: ``python -c pass``, ``python -c "import pipelines.cli"`` and the imports of a run
(``import pipelines.cli, pipelines.flows``). Everything runs in fresh
temporary Prefect homes (``PREFECT_HOME`` and ``DATAQUAL_PREFECT_HOME``). Runs alternate
and medians are reported, with ratios to the two import baselines.

    python benchmarks/bench_startup.py [--source ../shared/datasets/mnist] [--repeats 3]
                                       [--datasets sample mnist]
                                       [--modes warm server ephemeral]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = REPO.parent / "shared" / "datasets" / "mnist"
SAMPLE = REPO / "data" / "sample"
BASELINES = {
    "python_pass": "pass",
    "import_cli": "import pipelines.cli",
    "import_run": "import pipelines.cli, pipelines.flows",  # all a run imports before a stage
}


def _env(home: Path, *, warm: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.pop("DATAQUAL_NO_WARM", None)
    if not warm:
        env["DATAQUAL_NO_WARM"] = "1"
    env.update(
        PREFECT_HOME=str(home),
        DATAQUAL_PREFECT_HOME=str(home),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        GX_ANALYTICS_ENABLED="false",
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=os.pathsep.join([str(REPO), str(REPO / "src")]),
    )
    return env


def _timestamp(value: str) -> float:
    """A Prefect timestamp (ISO 8601, UTC) as seconds since the epoch."""
    text = value.replace(" ", "T")
    stamp = datetime.fromisoformat(text if "+" in text or text.endswith("Z") else text + "+00:00")
    return stamp.timestamp()


def _post(url: str, body: dict[str, Any]) -> Any:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.loads(resp.read())


def _starts_from_api(api_url: str) -> dict[str, float]:
    """The start of the newest ``dataqual-run`` flow run and of its ``ingest`` task run,
    read from the server's API."""
    flows = {"flows": {"name": {"any_": ["dataqual-run"]}}, "sort": "START_TIME_DESC"}
    run = _post(f"{api_url}/flow_runs/filter", {**flows, "limit": 1})[0]
    deadline = time.monotonic() + 30  # task runs are recorded from events, a little later
    while True:
        tasks = _post(f"{api_url}/task_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})
        starts = [t["start_time"] for t in tasks if t["name"].startswith("ingest")]
        if (starts and starts[0]) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    return {"flow": _timestamp(run["start_time"]), "ingest": _timestamp(starts[0])}


def _starts_from_db(home: Path) -> dict[str, float]:
    """The same, read from the Prefect database in ``home`` (the store behind the ephemeral
    server's API, which is gone once the command has exited)."""
    with sqlite3.connect(f"file:{home / 'prefect.db'}?mode=ro", uri=True) as db:
        flow_id, flow_start = db.execute(
            "SELECT fr.id, fr.start_time FROM flow_run fr JOIN flow f ON fr.flow_id = f.id "
            "WHERE f.name = 'dataqual-run' ORDER BY fr.start_time DESC LIMIT 1"
        ).fetchone()
        (ingest,) = db.execute(
            "SELECT start_time FROM task_run WHERE flow_run_id = ? AND name LIKE 'ingest%' "
            "ORDER BY start_time LIMIT 1",
            (flow_id,),
        ).fetchone()
    return {"flow": _timestamp(flow_start), "ingest": _timestamp(ingest)}


def _run(
    source: Path, out: Path, home: Path, api_url: str | None, *, warm: bool
) -> dict[str, float]:
    """One ``dataqual run SOURCE --no-train`` as the user types it."""
    command = [sys.executable, "-m", "pipelines", "run", "--source", str(source)]
    command += ["--out", str(out), "--no-train"]
    launched, t = time.time(), time.perf_counter()
    env = _env(home, warm=warm)
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    wall = time.perf_counter() - t
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}")
    starts = _starts_from_api(api_url) if api_url else _starts_from_db(home)
    return {
        "first_stage": starts["ingest"] - launched,
        "flow_start": starts["flow"] - launched,
        "wall": wall,
    }


def _baseline(code: str, home: Path) -> float:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=_env(home), check=True, cwd=REPO)
    return time.perf_counter() - t


def _await_warm(home: Path, timeout: float = 120.0) -> None:
    from pipelines.warm_client import WARM_RECORD

    deadline = time.monotonic() + timeout
    while not (home / WARM_RECORD).is_file():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no warm runner in {home} after {timeout:.0f} s")
        time.sleep(0.2)


def _measure(args: argparse.Namespace, tmp: Path) -> dict[str, list[dict[str, float]]]:
    """Every case once per repeat, alternating, each in a fresh process."""
    sys.path[:0] = [str(REPO), str(REPO / "src")]
    from pipelines.server import free_port, start_server

    homes = {mode: tmp / f"home-{mode}" for mode in ("server", "ephemeral")}
    homes["warm"] = homes["server"]  # one server; "server" runs bypass its warm runner
    server = None
    if {"server", "warm"} & set(args.modes):
        server = start_server(free_port(), homes["server"])
        _await_warm(homes["server"])
    sources = {"sample": SAMPLE, "mnist": args.source}
    runs: dict[str, list[dict[str, float]]] = {}
    try:
        for repeat in range(args.repeats + 1):  # repeat 0 warms caches and creates the DBs
            for name, code in BASELINES.items():
                seconds = _baseline(code, homes["ephemeral"])
                if repeat:
                    runs.setdefault(name, []).append({"wall": seconds})
            for dataset in args.datasets:
                for mode in args.modes:
                    out = tmp / f"out-{dataset}-{mode}-{repeat}"
                    api = server.api_url if mode != "ephemeral" and server else None
                    result = _run(sources[dataset], out, homes[mode], api, warm=mode == "warm")
                    if repeat:
                        runs.setdefault(f"{dataset}_{mode}", []).append(result)
    finally:
        if server is not None:
            server.stop()
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="full MNIST")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--datasets", nargs="+", choices=["sample", "mnist"], default=["sample", "mnist"]
    )
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=["warm", "server", "ephemeral"],
        default=["warm", "server", "ephemeral"],
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dataqual-bench-startup-") as tmp:
        runs = _measure(args, Path(tmp))
    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in runs.items()}
    ratios = {
        case: {
            f"{m}_to_{base}": value / med[base]["wall"]
            for m, value in metrics.items()
            for base in ("import_cli", "import_run")
        }
        for case, metrics in med.items()
        if case not in BASELINES
    }
    report = {
        "source": str(args.source),
        "repeats": args.repeats,
        "cpus": os.cpu_count(),
        "median": med,
        "ratios": ratios,
        "runs": runs,
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
