"""Progress lines: one per stage with its seconds, one per epoch; plain when stdout is not a
terminal, rich when it is; safe from worker threads; sent to a real Prefect server's run
logs (not printed a second time) from inside a flow run."""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import pytest
from pipelines.console import (
    ProgressPrinter,
    RunLogProgress,
    format_event,
    log_progress_to_prefect,
    show_progress,
)

from dataqual.progress import EpochDone, StageDone, emit

EPOCH = EpochDone(
    epoch=3, epochs=10, loss=0.12344, accuracy=0.965, seconds=1.5, images_per_second=41234.4
)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_stage_and_epoch_lines() -> None:
    assert format_event(StageDone("ingest", 0.4213)) == "  ingest            0.42 s"
    assert format_event(StageDone("validate-cleaned", 12.5)) == "  validate-cleaned 12.50 s"
    assert format_event(EPOCH) == "epoch 3/10: loss 0.1234, accuracy 0.9650, 41,234 img/s"


def test_plain_when_not_a_terminal() -> None:
    stream = io.StringIO()
    with show_progress(stream) as printer:
        assert not printer.rich
        emit(StageDone("profile", 1.0))
        emit(EPOCH)
    emit(StageDone("after", 1.0))  # unsubscribed: not printed
    assert stream.getvalue() == (
        "  profile           1.00 s\nepoch 3/10: loss 0.1234, accuracy 0.9650, 41,234 img/s\n"
    )


def test_rich_on_a_terminal_prints_the_same_text() -> None:
    stream = _Tty()
    printer = ProgressPrinter(stream)
    assert printer.rich
    printer(StageDone("store", 2.0))
    printer(EPOCH)
    text = stream.getvalue()
    assert "store" in text and "2.00 s" in text
    assert "epoch 3/10" in text and "41,234 img/s" in text
    assert len(text.splitlines()) == 2


def test_lines_from_many_threads_stay_whole() -> None:
    stream = io.StringIO()
    printer = ProgressPrinter(stream, rich=False)
    threads = [
        threading.Thread(target=lambda: [printer(StageDone("clean", 0.5)) for _ in range(200)])
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = stream.getvalue().splitlines()
    assert lines == ["  clean             0.50 s"] * 1600


def test_run_log_progress_outside_a_run_does_nothing() -> None:
    RunLogProgress()(StageDone("ingest", 1.0))  # no flow run: no error, nothing sent


@pytest.mark.usefixtures("prefect_harness")
def test_progress_reaches_the_run_logs_once(capfd: pytest.CaptureFixture[str]) -> None:
    """Inside a real flow run, stage and epoch lines go to the server's logs of that run
    (flow and task), and not to the console."""
    from prefect import flow, task
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogHandler
    from prefect.runtime import flow_run

    @task
    def train() -> None:
        emit(EPOCH)

    @flow(name="dataqual-console-test")
    def progress_flow() -> Any:
        with log_progress_to_prefect():
            emit(StageDone("ingest", 0.25))
            train()
        return flow_run.id

    run_id = progress_flow()
    APILogHandler().flush()
    wanted = {format_event(StageDone("ingest", 0.25)), format_event(EPOCH)}
    deadline = time.monotonic() + 30
    with get_client(sync_client=True) as client:
        while True:
            logs = client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])), limit=200
            )
            messages = [log.message for log in logs]
            if wanted <= set(messages) or time.monotonic() > deadline:
                break
            time.sleep(0.25)
    assert wanted <= set(messages), messages
    assert all(messages.count(line) == 1 for line in wanted)
    epoch_log = next(log for log in logs if log.message == format_event(EPOCH))
    assert epoch_log.task_run_id is not None  # attributed to the task that trained
    captured = capfd.readouterr()
    assert "epoch 3/10" not in captured.out + captured.err
    assert "ingest" not in captured.out + captured.err
