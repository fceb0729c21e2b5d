import threading
import time

import pytest

from jobs.executors.base import FAILED, SUCCEEDED, StepContext
from jobs.executors.noop import NoopExecutor
from jobs.executors.registry import executor_names, get_executor
from jobs.executors.report import ReportExecutor
from jobs.executors.sleep import SleepExecutor


def test_every_built_in_step_type_is_registered_under_its_own_name():
    for name in ("shell", "http", "python", "report", "sleep", "noop"):
        executor = get_executor(name)
        assert executor.name == name
        assert executor.description
        assert name in executor_names()


def test_report_outputs_its_markdown():
    ctx = StepContext(with_={"markdown": "# Export for eu\n42 rows exported.\n"})
    outcome = ReportExecutor().run(ctx)
    assert outcome.status == SUCCEEDED
    assert outcome.outputs == {"markdown": "# Export for eu\n42 rows exported.\n"}


def test_report_requires_markdown_text():
    assert ReportExecutor().validate({}) == [("markdown", "is required")]
    assert ReportExecutor().validate({"markdown": ["x"]}) == [("markdown", "must be text")]


def test_sleep_waits_and_reports_progress():
    ctx = StepContext(with_={"seconds": 0.3})
    started = time.monotonic()
    outcome = SleepExecutor().run(ctx)

    assert outcome.status == SUCCEEDED
    assert 0.3 <= time.monotonic() - started < 1
    assert ctx.last_progress == 100


def test_sleep_accepts_a_number_that_substitution_made_a_string():
    assert SleepExecutor().run(StepContext(with_={"seconds": "0"})).status == SUCCEEDED


def test_sleep_stops_soon_after_cancel():
    ctx = StepContext(with_={"seconds": 30})
    threading.Timer(0.2, ctx.request_stop, args=("canceled",)).start()
    started = time.monotonic()
    outcome = SleepExecutor().run(ctx)

    assert outcome.status == FAILED
    assert outcome.error == "canceled"
    assert time.monotonic() - started < 1
    assert 0 < ctx.last_progress < 100


def test_sleep_past_the_step_timeout_fails_as_timed_out():
    outcome = SleepExecutor().run(StepContext(with_={"seconds": 30}, timeout=1))
    assert outcome.status == FAILED
    assert outcome.error == "timed out after 1 s"


@pytest.mark.parametrize("seconds", [-1, True, "soon", None])
def test_sleep_rejects_anything_but_a_non_negative_number(seconds):
    assert SleepExecutor().validate({"seconds": seconds}) == [("seconds", "must be a number ≥ 0")]
    assert SleepExecutor().run(StepContext(with_={"seconds": seconds})).status == FAILED


def test_sleep_accepts_a_templated_number_at_save_time():
    assert SleepExecutor().validate({"seconds": "{{ vars.delay }}"}) == []


def test_noop_succeeds_with_its_outputs():
    outcome = NoopExecutor().run(StepContext(with_={"outputs": {"rows": 3}}))
    assert outcome.status == SUCCEEDED
    assert outcome.outputs == {"rows": 3}
    assert NoopExecutor().run(StepContext()).outputs == {}


def test_noop_fails_on_purpose_when_asked():
    outcome = NoopExecutor().run(StepContext(with_={"fail": True}))
    assert outcome.status == FAILED
    assert outcome.error == "failed on purpose"


def test_noop_validates_its_parameters():
    problems = NoopExecutor().validate({"outputs": [1], "fail": "yes", "other": 1})
    assert problems == [
        ("other", "is not a parameter of 'noop' steps"),
        ("outputs", "must be a mapping"),
        ("fail", "must be true or false"),
    ]
