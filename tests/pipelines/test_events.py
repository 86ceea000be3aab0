"""Prefect events of a run, emitted inside a real flow run and read back from a real Prefect
server's events API; the example automation of docs/alerts.md is accepted by that server."""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from dataqual.config import RunConfig
from dataqual.run import RunOutcome, run_pipeline
from dataqual.summary import RunSummary
from tests.test_notify import WebhookServer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "alerts.md"

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture(scope="module")
def outcome(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> RunOutcome:
    """A real run of the embedded sample (no training)."""
    out = tmp_path_factory.mktemp("events") / "out"
    return run_pipeline(RunConfig(source=sample_dir, out=out, train=False))


def _renamed(summary: RunSummary, **update: Any) -> RunSummary:
    """The summary under a dataset name of its own (tests share one server)."""
    return summary.model_copy(update={"dataset": f"t-{uuid.uuid4().hex[:10]}", **update})


def _read_back(resource_id: str, expected: int, timeout: float = 30.0) -> list[Any]:
    """The server's events about ``resource_id``, once ``expected`` of them are stored."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventResourceFilter
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=10)
    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:  # a new filter each time: its `occurred.until` defaults to "now"
            query = EventFilter(resource=EventResourceFilter(id=[resource_id]))
            events = client.read_events(filter=query, limit=50).events
            if len(events) >= expected or time.monotonic() > deadline:
                return sorted(events, key=lambda e: e.occurred)
            time.sleep(0.25)


def _in_a_flow(fn: Any, *args: Any) -> Any:
    from prefect import flow

    return flow(name="dataqual-events-test")(fn)(*args)


def test_a_passed_run_emits_one_event_about_its_dataset(outcome: RunOutcome) -> None:
    from pipelines.events import emit_run_events

    summary = _renamed(outcome.summary)
    sent = _in_a_flow(emit_run_events, summary, outcome.run_json)
    assert [e.event for e in sent] == ["dataqual.run.passed"]
    [event] = _read_back(f"dataqual.dataset.{summary.dataset}", 1)
    assert event.event == "dataqual.run.passed"
    assert event.resource.id == f"dataqual.dataset.{summary.dataset}"
    assert event.resource.name == summary.dataset
    assert event.payload["status"] == "passed" and event.payload["exit_code"] == 0
    assert event.payload["counts"] == summary.counts.model_dump()
    report = outcome.run_json.parent.resolve() / "report.html"
    assert event.payload["report"] == {"path": str(report), "url": report.as_uri()}
    roles = {r.role for r in event.related}
    assert "flow-run" in roles, "inside a flow run, Prefect relates the event to it"


def test_a_failed_run_with_drift_emits_failed_then_drift(outcome: RunOutcome) -> None:
    from pipelines.events import emit_run_events

    s = outcome.summary
    drift = [c.model_copy(update={"success": False, "skipped": None}) for c in s.drift[:1]]
    summary = _renamed(
        s,
        status="failed_validation",
        exit_code=1,
        success=False,
        blocking=s.checks[:1],
        failures=[s.checks[0].label],
        drift=[*drift, *s.drift[1:]],
    )
    sent = _in_a_flow(emit_run_events, summary, outcome.run_json)
    assert [e.event for e in sent] == ["dataqual.run.failed", "dataqual.drift.detected"]
    failed, drifted = _read_back(f"dataqual.dataset.{summary.dataset}", 2)
    assert (failed.event, drifted.event) == ("dataqual.run.failed", "dataqual.drift.detected")
    assert failed.payload["failures"] == [s.checks[0].label]
    assert failed.payload["blocking"][0]["name"] == s.checks[0].name
    assert [d["name"] for d in drifted.payload["drift"]] == [drift[0].name]
    assert drifted.payload["report"] == failed.payload["report"]
    assert drifted.follows == failed.id


def test_bad_input_emits_a_failed_event(tmp_path: Path) -> None:
    from pipelines.events import emit_failure_event

    name = f"t-{uuid.uuid4().hex[:10]}"
    message = "x.csv, record 2: 3 columns, expected 785"
    _in_a_flow(emit_failure_event, message, tmp_path / "out")  # dataset unknown: no spec yet
    event = _in_a_flow(lambda: emit_failure_event(message, tmp_path, dataset=name))
    assert event.event == "dataqual.run.failed"
    [stored] = _read_back(f"dataqual.dataset.{name}", 1)
    assert stored.payload["status"] == "error" and stored.payload["error"] == message
    assert stored.payload["exit_code"] == 2


def test_the_documented_automation_notifies_on_a_failed_run(tmp_path: Path) -> None:
    """docs/alerts.md's automation, created on the server with a real webhook block, sends
    one notification, its templates filled from the event, when a run fails."""
    from pipelines.events import emit_failure_event
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client
    from prefect.events.schemas.automations import AutomationCore

    server = WebhookServer(200, 0.0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    block = CustomWebhookNotificationBlock(
        name="t", url=server.url, json_data={"text": "{{subject}}|{{body}}"}
    )
    block_id = str(block.save(f"t-{uuid.uuid4().hex[:10]}"))
    [text] = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S)
    [data] = yaml.safe_load(text.replace("<BLOCK_DOCUMENT_ID>", block_id))["automations"]
    assert data["trigger"]["expect"] == ["dataqual.run.failed"]
    name = f"t-{uuid.uuid4().hex[:10]}"
    data["trigger"]["match"] = {"prefect.resource.id": f"dataqual.dataset.{name}"}  # only ours
    with get_client(sync_client=True) as client:
        created = client.create_automation(AutomationCore.model_validate(data))
    try:
        time.sleep(2)  # the triggers service picks up new automations
        emit_failure_event("bad.csv: broken", tmp_path, dataset=name)
        deadline = time.monotonic() + 60
        while not server.received and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        with get_client(sync_client=True) as client:
            client.delete_automation(created)
        server.shutdown()
        server.server_close()
    [(_, body)] = server.received
    subject, body_text = json.loads(body)["text"].split("|", 1)
    assert subject == f"dataqual: {name} error"
    assert f"dataqual run on {name}: error (exit 2)" in body_text
    assert "error: bad.csv: broken" in body_text and "report: none" in body_text
