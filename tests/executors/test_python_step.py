import threading
import time

import pytest

from jobs.executors.base import FAILED, SUCCEEDED, StepContext
from jobs.executors.python import PythonExecutor

HERE = "tests.executors.test_python_step"
calls = []


def record_call(ctx):
    calls.append(ctx)
    return {"ran": True}


def raises(ctx):
    raise RuntimeError("the upstream file is empty")


def returns_a_list(ctx):
    return [1, 2]


def returns_nothing(ctx):
    ctx.log("INFO", f"args were {ctx.with_}")


def returns_a_set(ctx):
    return {"tags": {"a"}}


def waits_for_cancel(ctx):
    while not ctx.heartbeat():
        time.sleep(0.01)
    return {"partial": True}


@pytest.fixture
def allow(settings):
    def allow(*names):
        settings.JOBSITE_PYTHON_STEPS = [
            *settings.JOBSITE_PYTHON_STEPS,
            *(f"{HERE}:{n}" for n in names),
        ]

    return allow


def run(with_, **kwargs):
    ctx = StepContext(with_=with_, **kwargs)
    return PythonExecutor().run(ctx), ctx


def test_summarize_numbers_reads_a_comma_string_from_args():
    outcome, ctx = run(
        {"callable": "jobs.demo_steps:summarize_numbers", "args": {"numbers": "4, 1, 2.5"}}
    )

    assert outcome.status == SUCCEEDED, outcome.error
    assert outcome.outputs == {"count": 3, "sum": 7.5, "mean": 2.5, "min": 1, "max": 4}
    assert ctx.last_progress == 100
    assert ("INFO", "summarizing 3 numbers") in ctx.logs


def test_summarize_numbers_falls_back_to_the_jobs_variables():
    outcome, _ = run({"callable": "jobs.demo_steps:summarize_numbers"}, vars={"numbers": [10, 20]})
    assert outcome.outputs == {"count": 2, "sum": 30, "mean": 15, "min": 10, "max": 20}


def test_summarize_numbers_fails_clearly_on_a_non_number():
    outcome, _ = run(
        {"callable": "jobs.demo_steps:summarize_numbers", "args": {"numbers": "1, two"}}
    )
    assert outcome.status == FAILED
    assert outcome.error == "ValueError: 'two' is not a number"


def test_count_words_counts_words_and_the_most_frequent_ones():
    text = "The cat and the hat. THE end; the cat's hat!"
    outcome, _ = run({"callable": "jobs.demo_steps:count_words", "args": {"text": text}})

    assert outcome.status == SUCCEEDED, outcome.error
    assert outcome.outputs["words"] == 10
    assert outcome.outputs["top"][:2] == [{"word": "the", "count": 4}, {"word": "hat", "count": 2}]


def test_a_callable_not_in_the_allow_list_is_refused_and_never_called():
    with_ = {"callable": f"{HERE}:record_call"}
    message = f"callable '{HERE}:record_call' is not allowed; add it to JOBSITE_PYTHON_STEPS"

    assert PythonExecutor().validate(with_) == [("callable", message)]
    outcome, _ = run(with_)
    assert outcome.status == FAILED
    assert outcome.error == message
    assert calls == []


def test_the_allow_list_is_checked_again_at_run_time(settings):
    settings.JOBSITE_PYTHON_STEPS = []
    outcome, _ = run({"callable": "jobs.demo_steps:count_words", "args": {"text": "a"}})
    assert outcome.status == FAILED
    assert "is not allowed" in outcome.error


def test_an_allowed_callable_gets_its_args_as_ctx_with(allow):
    allow("returns_nothing")
    with_ = {"callable": f"{HERE}:returns_nothing", "args": {"n": 1}}
    outcome, ctx = run(with_)

    assert outcome.status == SUCCEEDED
    assert outcome.outputs == {}
    assert ctx.logs == [("INFO", "args were {'n': 1}")]
    assert ctx.with_ is with_


def test_an_exception_fails_the_step_and_logs_its_traceback(allow):
    allow("raises")
    outcome, ctx = run({"callable": f"{HERE}:raises"})

    assert outcome.status == FAILED
    assert outcome.error == "RuntimeError: the upstream file is empty"
    ((level, message),) = ctx.logs
    assert level == "ERROR"
    assert message.startswith("Traceback") and "in raises" in message


def test_a_return_value_that_is_not_a_dict_fails(allow):
    allow("returns_a_list", "returns_a_set")
    outcome, _ = run({"callable": f"{HERE}:returns_a_list"})
    assert outcome.status == FAILED
    assert outcome.error == "returned list, expected a dict"
    outcome, _ = run({"callable": f"{HERE}:returns_a_set"})
    assert outcome.status == FAILED
    assert outcome.error.startswith("returned outputs that are not JSON-serializable")


def test_an_unimportable_callable_fails_clearly(settings):
    settings.JOBSITE_PYTHON_STEPS = ["jobs.demo_steps:no_such_function"]
    outcome, _ = run({"callable": "jobs.demo_steps:no_such_function"})
    assert outcome.status == FAILED
    assert outcome.error.startswith(
        "cannot load 'jobs.demo_steps:no_such_function': AttributeError"
    )


def test_a_callable_that_honours_heartbeat_stops_with_the_cancel_reason(allow):
    allow("waits_for_cancel")
    ctx = StepContext(with_={"callable": f"{HERE}:waits_for_cancel"})
    threading.Timer(0.1, ctx.request_stop, args=("canceled",)).start()

    outcome = PythonExecutor().run(ctx)

    assert outcome.status == FAILED
    assert outcome.error == "canceled"


def test_validate_rejects_a_malformed_callable_and_args():
    problems = PythonExecutor().validate({"callable": "jobs.demo_steps.count_words", "args": [1]})
    assert problems == [("callable", "must be 'module:function'"), ("args", "must be a mapping")]
