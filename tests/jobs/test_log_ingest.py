"""A running step's log as stored: StepLogWriter's batches through record_events (COPY
on PostgreSQL, multi-row INSERT on SQLite) keep every character, every seq, the cap and
the masking."""

import pytest

from jobs.models import EventKind, Job, JobEvent, StepRun
from jobs.services import create_job
from jobs.worker import step_logs
from jobs.worker.step_logs import StepLogWriter
from tests.jobs.helpers import make_template

ONE_STEP = """
slug: one-step
name: One step
variables:
  token: {type: secret, default: ""}
settings:
  log_limit_bytes: %d
steps:
  - id: talk
    type: shell
    with:
      script: echo hello
"""

# Characters COPY's text format treats specially, a line that alone would end COPY's
# data, SQL-looking and JSON-looking text, non-ASCII text and an empty line.
AWKWARD_LINES = [
    "plain line",
    "tab\tseparated\tvalues",
    "back\\slash and \\N and \\t written out",
    "\\.",
    "carriage\rreturn inside",
    "two\nlines in one message",
    "",
    "quote ' and double \" and ); DROP TABLE x; --",
    '{"looks": "like json"}',
    "café ünïcödé — ✓ 日本語 😀",
    "trailing spaces   ",
]


def running_step(workspace, *, log_limit_bytes=10_000_000, token=""):
    source = ONE_STEP % log_limit_bytes
    job = create_job(
        workspace,
        template=make_template(workspace, source),
        variables={"token": token},
        start=False,
    )
    step = job.steps.get()
    StepRun.objects.filter(pk=step.pk).update(status="running", attempt=1)
    step.refresh_from_db()
    job.refresh_from_db()
    return job, step


def stored(job):
    return list(
        JobEvent.objects.filter(job=job)
        .order_by("seq")
        .values_list("seq", "kind", "step_id", "level", "message", "data")
    )


def test_every_character_of_a_batch_is_stored_as_it_was_logged(workspace):
    job, step = running_step(workspace)
    writer = StepLogWriter(job, step, attempt=1)
    levels = ["INFO", "WARN", "ERROR", "DEBUG"]
    for number, line in enumerate(AWKWARD_LINES):
        writer.add(levels[number % 4], line)
    writer.set_progress(42.5)
    writer.flush()

    rows = stored(job)
    expected = [
        (number + 1, EventKind.LOG, "talk", levels[number % 4], line, {})
        for number, line in enumerate(AWKWARD_LINES)
    ]
    expected.append(
        (len(AWKWARD_LINES) + 1, EventKind.PROGRESS, "talk", "", "", {"step_progress": 42.5})
    )
    assert rows == expected
    assert Job.objects.get(pk=job.pk).last_event_seq == len(expected)
    step.refresh_from_db()
    assert step.log_bytes == sum(len(line.encode()) + 1 for line in AWKWARD_LINES)
    assert step.progress == 42.5


def test_many_batches_have_gap_free_seq_in_the_order_logged(workspace, monkeypatch):
    monkeypatch.setattr(step_logs, "FLUSH_LINES", 70)
    job, step = running_step(workspace)
    writer = StepLogWriter(job, step, attempt=1)
    for number in range(1000):
        writer.add("INFO", f"line {number}\twith a tab" if number % 7 == 0 else f"line {number}")
    writer.flush()

    rows = stored(job)
    assert [seq for seq, *_ in rows] == list(range(1, 1001))
    assert [message.split("\t")[0] for *_, message, _ in rows] == [
        f"line {number}" for number in range(1000)
    ]


def test_the_log_stops_at_its_cap_with_one_truncation_marker(workspace, monkeypatch):
    monkeypatch.setattr(step_logs, "FLUSH_LINES", 10)
    job, step = running_step(workspace, log_limit_bytes=1000)
    writer = StepLogWriter(job, step, attempt=1)
    for number in range(200):
        writer.add("INFO", f"line {number:03d} of the flood")  # 22 bytes with its newline
    writer.flush()

    messages = [message for *_, message, _ in stored(job)]
    assert messages[:45] == [f"line {number:03d} of the flood" for number in range(45)]
    assert messages[45:] == ["[log truncated: this step's log reached 1000 bytes]"]
    step.refresh_from_db()
    assert step.log_bytes == 45 * 22


def test_secret_values_are_masked_in_every_line_of_a_batch(workspace):
    job, step = running_step(workspace, token="hunter2-secret")
    writer = StepLogWriter(job, step, attempt=1)
    writer.add("INFO", "token=hunter2-secret")
    writer.add("INFO", "nothing to hide")
    writer.add("ERROR", "twice: hunter2-secret hunter2-secret\tend")
    writer.flush()

    assert [message for *_, message, _ in stored(job)] == [
        "token=***",
        "nothing to hide",
        "twice: *** ***\tend",
    ]


def test_a_zombie_attempt_writes_nothing(workspace):
    job, step = running_step(workspace)
    zombie = StepLogWriter(job, step, attempt=1)
    StepRun.objects.filter(pk=step.pk).update(attempt=2)  # the step was reclaimed
    for number in range(10):
        zombie.add("INFO", f"line {number}")
    zombie.flush()

    assert stored(job) == []
    assert Job.objects.get(pk=job.pk).last_event_seq == 0


@pytest.mark.parametrize(
    "data",
    [{"a": "tab\there", "b": "back\\slash", "c": ["x", 1, None]}, {"quote": '"', "nl": "\n"}],
)
def test_event_data_with_escapes_round_trips_in_a_batch(workspace, data):
    from jobs.engine.events import record_events
    from jobs.engine.transitions import locked_job

    job, _ = running_step(workspace)
    with locked_job(job.pk) as locked:
        record_events(
            locked,
            [
                {"kind": EventKind.LOG, "step_id": "talk", "level": "INFO", "message": "before"},
                {"kind": EventKind.PROGRESS, "step_id": "talk", "data": data},
            ],
        )

    assert stored(job) == [
        (1, EventKind.LOG, "talk", "INFO", "before", {}),
        (2, EventKind.PROGRESS, "talk", "", "", data),
    ]
