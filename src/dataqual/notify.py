"""Webhook alerts: a run's JSON summary, POSTed with a timeout and retries.

:func:`notification` turns a finished run into the payload documented in
``docs/alerts.md``; :func:`failure_notification` does the same for a run that stopped on
bad input or was interrupted, with the same keys. :func:`post_json` delivers one payload
with the standard library (no dependency) and never raises: a webhook that is down, slow
or answers 500 is logged as one WARNING line and the run goes on with its own exit code.
The Prefect events of ``pipelines/events.py`` carry the same payload.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dataqual import __version__
from dataqual.errors import ConfigError
from dataqual.summary import CheckSummary, RunSummary

__all__ = [
    "SCHEMA",
    "check_webhook_url",
    "failure_notification",
    "fired_drift",
    "notification",
    "notify_all",
    "post_json",
]

#: The ``schema`` key of every payload; bumped when a key changes meaning or goes away.
SCHEMA = "dataqual.notification/1"

_log = logging.getLogger("dataqual.notify")

#: Exit codes of an interrupted run (SIGINT, SIGTERM).
_INTERRUPTED = {130, 143}


def check_webhook_url(url: str) -> str:
    """``url`` if it is an ``http(s)://host/...`` URL, else a :class:`ConfigError`
    (``urllib`` would also open ``file://`` URLs, which a webhook must never be)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--notify {url!r}: a webhook must be an http:// or https:// URL")
    return url


def fired_drift(summary: RunSummary) -> list[CheckSummary]:
    """The drift checks that ran (a reference was given) and fired."""
    return [c for c in summary.drift if not c.success and not c.skipped]


def _check(check: CheckSummary) -> dict[str, Any]:
    return {
        "name": check.name,
        "split": check.split,
        "label": check.label,
        "severity": check.severity,
        "action": check.action,
        "description": check.description,
        "unexpected_count": check.unexpected_count,
        "element_count": check.element_count,
    }


def _checks(checks: Iterable[CheckSummary]) -> list[dict[str, Any]]:
    return [_check(c) for c in checks]


def _report(run_dir: Path, relative: str | None) -> dict[str, str] | None:
    if not relative:
        return None
    path = (run_dir / relative).resolve()
    return {"path": str(path), "url": path.as_uri()}


def notification(summary: RunSummary, run_json: Path) -> dict[str, Any]:
    """The JSON payload of a finished run (passed or failed validation); ``run_json`` is
    the run's ``run.json`` inside its final folder."""
    run_dir = Path(run_json).resolve().parent
    drift = fired_drift(summary)
    return {
        "schema": SCHEMA,
        "event": "dataqual.run.passed" if summary.success else "dataqual.run.failed",
        "status": summary.status,
        "exit_code": summary.exit_code,
        "success": summary.success,
        "error": None,
        "dataset": summary.dataset,
        "source": summary.source,
        "format": summary.format,
        "counts": summary.counts.model_dump(mode="json"),
        "failures": list(summary.failures),
        "blocking": _checks(summary.blocking),
        "warnings": _checks(summary.warnings),
        "drift": _checks(drift),
        "drift_detected": bool(drift),
        "training": summary.training,
        "run_dir": str(run_dir),
        "run_json": str(run_dir / Path(run_json).name),
        "report": _report(run_dir, summary.artefacts.get("report")),
        "data_docs": _report(run_dir, summary.artefacts.get("data_docs")),
        "started": summary.started or None,
        "finished": summary.finished or None,
        "seconds": summary.seconds,
        "dataqual_version": summary.dataqual_version,
    }


def failure_notification(
    error: str,
    out: Path,
    *,
    dataset: str | None = None,
    source: str | Path | None = None,
    exit_code: int = 2,
) -> dict[str, Any]:
    """The payload of a run that wrote no result: bad input or settings (exit 2, status
    ``error``) or an interrupt (exit 130/143, status ``interrupted``). Same keys as
    :func:`notification`; what the run never produced is null or empty."""
    return {
        "schema": SCHEMA,
        "event": "dataqual.run.failed",
        "status": "interrupted" if exit_code in _INTERRUPTED else "error",
        "exit_code": exit_code,
        "success": False,
        "error": error,
        "dataset": dataset,
        "source": None if source is None else str(source),
        "format": None,
        "counts": None,
        "failures": [],
        "blocking": [],
        "warnings": [],
        "drift": [],
        "drift_detected": False,
        "training": None,
        "run_dir": str(Path(out).resolve()),
        "run_json": None,
        "report": None,
        "data_docs": None,
        "started": None,
        "finished": None,
        "seconds": None,
        "dataqual_version": __version__,
    }


def _redact(url: str) -> str:
    """The URL without credentials, query or path beyond its first segment (webhook URLs
    such as Slack's carry their secret in the path)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    netloc = f"{host}:{parts.port}" if parts.port else host
    first = parts.path.strip("/").split("/", 1)
    tail = "/..." if len(first) > 1 or parts.query else ""
    return f"{parts.scheme}://{netloc}/{first[0]}{tail}"


def _attempt(request: urllib.request.Request, timeout: float) -> tuple[bool, bool, str]:
    """One POST: (delivered, worth retrying, what happened)."""
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read(65536)
            status = response.status
    except urllib.error.HTTPError as exc:
        return False, exc.code >= 500 or exc.code == 429, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, TimeoutError) or isinstance(exc, TimeoutError):
            return False, True, f"no answer within {timeout:g} s"
        return False, True, f"{type(reason).__name__}: {reason}"
    if 200 <= status < 300:
        return True, False, f"HTTP {status}"
    return False, False, f"HTTP {status}"


def post_json(
    url: str,
    payload: dict[str, Any],
    *,
    timeout: float = 5.0,
    retries: int = 2,
    backoff: float = 0.5,
) -> bool:
    """POST ``payload`` as JSON to ``url``; True when a 2xx answer came back.

    Connection errors, timeouts, 429 and 5xx answers are retried ``retries`` times, waiting
    ``backoff``, then twice that, ...; other 4xx answers are not. It never raises: a failure
    is logged as one WARNING line naming the URL (credentials and path redacted) and the
    last status. At most ``timeout * (retries + 1)`` plus the backoff waits pass.
    """
    target = _redact(url)
    try:
        check_webhook_url(url)
        body = json.dumps(payload, default=str).encode()
        headers = {"Content-Type": "application/json", "User-Agent": f"dataqual/{__version__}"}
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    except Exception as exc:
        _log.warning("webhook %s not notified: %s", target, exc)
        return False
    what = "not tried"
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            delivered, again, what = _attempt(request, timeout)
        except Exception as exc:  # a webhook must never fail the run
            delivered, again, what = False, True, f"{type(exc).__name__}: {exc}"
        if delivered:
            _log.debug("webhook %s notified (%s)", target, what)
            return True
        if not again:
            break
    _log.warning("webhook %s not notified after %d attempt(s): %s", target, attempt + 1, what)
    return False


def notify_all(urls: Iterable[str], payload: dict[str, Any], **options: Any) -> dict[str, bool]:
    """POST ``payload`` to every URL (one after another); URL -> delivered. Never raises;
    ``options`` are :func:`post_json`'s."""
    return {url: post_json(url, payload, **options) for url in urls}
