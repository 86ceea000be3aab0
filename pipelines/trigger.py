"""Trigger a deployment of a dataqual flow on a Prefect server and follow it; list recent runs.

``trigger`` creates the run with Prefect's ``run_deployment`` and, with ``wait``, polls it to
a final state, printing each state and each log line of the run, and returns the run's own
exit code (0 / 1 / 2 / 3, as ``dataqual run``). ``recent_runs`` reads the run flow's recent
runs. Prefect is imported inside the functions: callers set the API URL first.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dataqual import errors
from dataqual.errors import ConfigError, DataqualError

__all__ = [
    "PATH_KEYS",
    "RUN_FLOW",
    "RunRow",
    "exit_code_for",
    "parse_params",
    "recent_runs",
    "trigger",
]

#: The run flow's name (``pipelines.flows.run_flow``).
RUN_FLOW = "dataqual-run"
#: Parameter names whose string values are paths, made absolute against the caller's folder.
PATH_KEYS = frozenset(
    {"source", "out", "out_root", "mirror", "cache_dir", "suites_dir", "spec_file"}
    | {"reference", "run_dir", "suites", "spec"}
)
EXIT_PASSED, EXIT_FAILED_VALIDATION, EXIT_BAD_INPUT, EXIT_INTERNAL = 0, 1, 2, 3
#: Names of the exceptions that mean bad input when a failed run's message starts with one.
_BAD_INPUT = tuple(
    name
    for name in errors.__all__
    if isinstance(cls := getattr(errors, name), type)
    and issubclass(cls, DataqualError)
    and name != "ValidationFailed"
)


def _value(key: str, text: str, cwd: Path) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        value = text
    return _absolute(key, value, cwd)


def _absolute(key: str, value: Any, cwd: Path) -> Any:
    """Path parameters (``PATH_KEYS``, at any depth, and strings that start with ``./``,
    ``../`` or ``~``) made absolute, so a run does not depend on the worker's folder."""
    if isinstance(value, dict):
        return {k: _absolute(k, v, cwd) for k, v in value.items()}
    if not isinstance(value, str) or "://" in value:
        return value
    if key in PATH_KEYS or value.startswith(("./", "../", "~")):
        return str((cwd / Path(value).expanduser()).resolve())
    return value


def parse_params(items: Iterable[str], cwd: Path | None = None) -> dict[str, Any]:
    """``KEY=VALUE`` items as a parameters dict: a VALUE that parses as JSON is used as JSON,
    else as a string; ``a.b=V`` sets key ``b`` inside parameter ``a`` (``config.source=...``
    for the run flow's ``config``); path values are made absolute (see ``PATH_KEYS``)."""
    cwd = (cwd or Path.cwd()).resolve()
    params: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {item!r}: expected KEY=VALUE")
        *parents, leaf = key.strip().split(".")
        target = params
        for part in parents:
            target = target.setdefault(part, {})
            if not isinstance(target, dict):
                raise ConfigError(f"--param {item!r}: {part} is already set to a value")
        target[leaf] = _value(leaf, text, cwd)
    return params


def exit_code_for(state: Any, result: Any = None) -> int:
    """The exit code of a finished flow run: 0 completed, 1 failed validation, 2 failed on bad
    input, 3 crashed, cancelled or anything else. ``result`` (a ``RunOutcome`` when the
    result is available) decides a completed run's code."""
    if state.is_completed():
        return int(getattr(result, "exit_code", EXIT_PASSED))
    message = state.message or ""
    if state.is_failed():
        if "failed validation" in message or "ValidationFailed" in message:
            return EXIT_FAILED_VALIDATION
        if any(f"{name}:" in message or f"{name}(" in message for name in _BAD_INPUT):
            return EXIT_BAD_INPUT
    return EXIT_INTERNAL


def _split_name(deployment: str) -> None:
    flow, sep, name = deployment.partition("/")
    if not (sep and flow and name) or "/" in name:
        raise ConfigError(
            f"deployment {deployment!r}: expected FLOW/NAME, such as dataqual-run/nightly"
        )


def _create_run(client: Any, deployment: str, params: dict[str, Any]) -> Any:
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    _split_name(deployment)
    try:
        client.read_deployment_by_name(deployment)
    except ObjectNotFound:
        api = str(client.api_url).rstrip("/")
        raise ConfigError(f"no deployment {deployment} on {api}") from None
    return run_deployment(deployment, parameters=params, timeout=0, as_subflow=False)


def trigger(
    deployment: str,
    params: dict[str, Any],
    *,
    wait: bool = False,
    timeout: float | None = None,
    echo: Callable[[str], None] = print,
    poll: float = 1.0,
) -> int:
    """Start a run of ``deployment`` (``FLOW/NAME``) with ``params``; without ``wait`` return
    0 once it is scheduled, else follow it and return its exit code (3 on ``timeout``)."""
    from prefect import get_client
    from prefect.exceptions import PrefectHTTPStatusError

    with get_client(sync_client=True) as client:
        try:
            run = _create_run(client, deployment, params)
        except PrefectHTTPStatusError as exc:
            raise ConfigError(f"deployment {deployment}: {exc.response.text[:300]}") from None
        echo(f"flow run {run.name} ({run.id}) of {deployment}: {run.state_name}")
        if not wait:
            return EXIT_PASSED
        return _follow(client, run.id, timeout=timeout, echo=echo, poll=poll)


def _follow(
    client: Any, run_id: Any, *, timeout: float | None, echo: Callable[[str], None], poll: float
) -> int:
    deadline = None if timeout is None else time.monotonic() + timeout
    seen_state, seen_logs = "", 0
    while True:
        run = client.read_flow_run(run_id)
        seen_logs += _print_logs(client, run_id, seen_logs, echo)
        if run.state_name != seen_state:
            seen_state = run.state_name or ""
            message = f": {run.state.message}" if run.state and run.state.message else ""
            echo(f"state {seen_state}{message}")
        if run.state is not None and run.state.is_final():
            _print_logs(client, run_id, seen_logs, echo)
            return exit_code_for(run.state, _result(run.state))
        if deadline is not None and time.monotonic() > deadline:
            echo(
                f"dataqual: flow run {run.name} still {seen_state} after {timeout:g} s; "
                "stopped waiting"
            )
            return EXIT_INTERNAL
        time.sleep(poll)


def _print_logs(client: Any, run_id: Any, offset: int, echo: Callable[[str], None]) -> int:
    """Print the run's log lines from ``offset`` on, each task's prefixed with its name."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.client.schemas.sorting import LogSort

    logs = client.read_logs(
        LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])),
        offset=offset,
        sort=LogSort.TIMESTAMP_ASC,
    )
    for log in logs:
        task = f"{_task_name(client, log.task_run_id)}: " if log.task_run_id else ""
        echo(f"  {log.timestamp:%H:%M:%S} {task}{log.message}")
    return len(logs)


_TASK_NAMES: dict[Any, str] = {}


def _task_name(client: Any, task_run_id: Any) -> str:
    if task_run_id not in _TASK_NAMES:
        try:
            _TASK_NAMES[task_run_id] = client.read_task_run(task_run_id).name
        except Exception:  # a name is a nicety: never fail the command for it
            _TASK_NAMES[task_run_id] = "task"
    return _TASK_NAMES[task_run_id]


def _result(state: Any) -> Any:
    """The run's returned value when Prefect persisted it (a ``RunOutcome``), else None."""
    if not state.is_completed():
        return None
    try:
        return state.result(raise_on_failure=False)
    except Exception:  # not persisted, or not readable here: the state decides
        return None


@dataclass(frozen=True)
class RunRow:
    """One flow run as ``dataqual runs`` prints it."""

    name: str
    state: str
    start: str
    data: str
    out: str

    def line(self) -> str:
        return f"{self.name:28s} {self.state:10s} {self.start:20s} {self.data:24s} {self.out}"


def _row(run: Any) -> RunRow:
    params = run.parameters or {}
    config = params.get("config") if isinstance(params.get("config"), dict) else {}
    merged = {**params, **(config or {})}
    data = merged.get("dataset") or merged.get("source") or "-"
    out = merged.get("out") or merged.get("out_root") or "-"
    when = run.start_time or run.expected_start_time
    start = when.strftime("%Y-%m-%d %H:%M:%S") if when else "-"
    return RunRow(run.name, run.state_name or "-", start, str(data), str(out))


def recent_runs(limit: int = 20, flow: str = RUN_FLOW) -> list[RunRow]:
    """The ``limit`` most recent runs of ``flow``, newest first."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName
    from prefect.client.schemas.sorting import FlowRunSort

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[flow])),
            sort=FlowRunSort.EXPECTED_START_TIME_DESC,
            limit=limit,
        )
    return [_row(run) for run in runs]
