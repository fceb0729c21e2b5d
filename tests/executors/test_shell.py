import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from jobs.executors.base import FAILED, SUCCEEDED, StepContext
from jobs.executors.shell import ShellExecutor
from tests.processes import unique_sleep, wait_until_gone

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")


def make_ctx(tmp_path, with_, **kwargs):
    kwargs.setdefault(
        "env", {"VAR_REGION": "eu", "JOBSITE_JOB_ID": "job-1", "JOBSITE_STEP_ID": "s"}
    )
    return StepContext(
        with_=with_,
        workdir=tmp_path / "work",
        artifacts_dir=tmp_path / "artifacts",
        inputs_dir=tmp_path / "inputs",
        **kwargs,
    )


def run_script(tmp_path, script, **kwargs):
    ctx = make_ctx(tmp_path, {"script": script}, **kwargs)
    return ShellExecutor().run(ctx), ctx


def messages(ctx, level=None):
    return [message for lvl, message in ctx.logs if level is None or lvl == level]


def test_script_gets_the_jobsite_environment_but_not_the_servers_secrets(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "server-secret")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db/x")
    outcome, ctx = run_script(tmp_path, "env | sort")

    assert outcome.status == SUCCEEDED, outcome.error
    env = dict(line.split("=", 1) for line in messages(ctx, "INFO") if "=" in line)
    assert env["VAR_REGION"] == "eu"
    assert env["JOBSITE_JOB_ID"] == "job-1"
    assert env["JOBSITE_ARTIFACTS"] == str(tmp_path / "artifacts")
    assert env["JOBSITE_INPUTS"] == str(tmp_path / "inputs")
    assert env["JOBSITE_OUTPUT"].startswith(str(tmp_path / "work"))
    assert "PATH" in env
    assert "SECRET_KEY" not in env
    assert "DATABASE_URL" not in env
    assert "server-secret" not in "\n".join(messages(ctx))


def test_step_env_adds_variables_but_cannot_override_jobsite_ones(tmp_path):
    ctx = make_ctx(
        tmp_path, {"script": 'echo "$GREETING $COUNT"', "env": {"GREETING": "hi", "COUNT": 3}}
    )
    assert ShellExecutor().run(ctx).status == SUCCEEDED
    assert messages(ctx) == ["hi 3"]
    problems = ShellExecutor().validate(
        {"script": "true", "env": {"JOBSITE_OUTPUT": "/etc/passwd"}}
    )
    assert problems == [("env", "JOBSITE_OUTPUT is set by jobsite and cannot be overridden")]


def test_a_hostile_variable_value_arrives_verbatim_and_is_never_executed(tmp_path, monkeypatch):
    # Should the value ever be executed, `rm -rf ~` may only reach a throwaway home.
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    marker = tmp_path / "pwned"
    evil = f"$(touch {marker}); rm -rf ~ `touch {marker}` \"double\" 'single' ; | & \\"
    outcome, ctx = run_script(tmp_path, 'echo "$VAR_EVIL"', env={"VAR_EVIL": evil})

    assert outcome.status == SUCCEEDED, outcome.error
    assert messages(ctx) == [evil]
    assert not marker.exists()


def test_a_command_item_with_spaces_and_quotes_arrives_as_one_argument(tmp_path):
    marker = tmp_path / "pwned"
    value = f'it\'s "one" item; touch {marker}'
    # The system's python3: the worker's own interpreter is not visible in the sandbox.
    command = [
        "python3",
        "-c",
        "import sys; print(len(sys.argv) - 1); print(sys.argv[1])",
        value,
    ]
    ctx = make_ctx(tmp_path, {"command": command})

    outcome = ShellExecutor().run(ctx)

    assert outcome.status == SUCCEEDED, outcome.error
    assert messages(ctx) == ["1", value]
    assert not marker.exists()


def test_level_prefixes_set_the_level_and_stderr_is_a_warning(tmp_path):
    script = """
    echo "DEBUG: details"
    echo "INFO: progress"
    echo "WARN: careful"
    echo "WARNING: also careful"
    echo "ERROR: broken"
    echo "plain line"
    echo "INFO:no space"
    echo "to stderr" >&2
    echo "ERROR: bad on stderr" >&2
    """
    outcome, ctx = run_script(tmp_path, script)

    assert outcome.status == SUCCEEDED, outcome.error
    assert set(ctx.logs) == {
        ("DEBUG", "details"),
        ("INFO", "progress"),
        ("WARN", "careful"),
        ("WARN", "also careful"),
        ("ERROR", "broken"),
        ("INFO", "plain line"),
        ("INFO", "no space"),
        ("WARN", "to stderr"),
        ("ERROR", "bad on stderr"),
    }
    stdout_order = [m for _, m in ctx.logs if m not in ("to stderr", "bad on stderr")]
    assert stdout_order[0] == "details" and stdout_order[-1] == "no space"


def test_invalid_utf8_and_a_last_line_without_newline_are_still_logged(tmp_path):
    outcome, ctx = run_script(tmp_path, r"printf 'caf\xe9\nend'")
    assert outcome.status == SUCCEEDED
    assert messages(ctx) == ["caf\ufffd", "end"]


def test_key_value_lines_in_jobsite_output_become_outputs(tmp_path):
    script = """
    echo "rows=42" >> "$JOBSITE_OUTPUT"
    echo "# a comment" >> "$JOBSITE_OUTPUT"
    echo "" >> "$JOBSITE_OUTPUT"
    echo "url=https://x.test/?a=b" >> "$JOBSITE_OUTPUT"
    echo "not a pair" >> "$JOBSITE_OUTPUT"
    echo "stdout is not an output"
    """
    outcome, ctx = run_script(tmp_path, script)

    assert outcome.status == SUCCEEDED, outcome.error
    assert outcome.outputs == {"rows": "42", "url": "https://x.test/?a=b"}
    assert outcome.exit_code == 0
    assert ("WARN", "$JOBSITE_OUTPUT line 5 is not key=value; skipped") in ctx.logs


def test_a_json_object_in_jobsite_output_becomes_outputs(tmp_path):
    outcome, _ = run_script(
        tmp_path, """echo '{"rows": 42, "tags": ["a", "b"]}' > "$JOBSITE_OUTPUT" """
    )
    assert outcome.status == SUCCEEDED, outcome.error
    assert outcome.outputs == {"rows": 42, "tags": ["a", "b"]}


def test_files_in_the_artifacts_dir_stay_for_the_engine_to_collect(tmp_path):
    outcome, ctx = run_script(tmp_path, 'echo "a,b" > "$JOBSITE_ARTIFACTS/orders.csv"; pwd')
    assert outcome.status == SUCCEEDED, outcome.error
    assert (tmp_path / "artifacts" / "orders.csv").read_text() == "a,b\n"
    assert messages(ctx) == [str(tmp_path / "work")]


def test_without_a_workdir_the_step_runs_in_a_temp_dir_that_is_removed_afterwards(tmp_path):
    ctx = StepContext(
        with_={"script": "pwd"}, artifacts_dir=tmp_path / "a", inputs_dir=tmp_path / "i"
    )
    assert ShellExecutor().run(ctx).status == SUCCEEDED
    (workdir,) = messages(ctx)
    assert not Path(workdir).exists()


def test_a_non_zero_exit_fails_with_the_exit_code_and_last_stderr_line(tmp_path):
    outcome, _ = run_script(
        tmp_path, 'echo "rows=1" >> "$JOBSITE_OUTPUT"; echo "disk full" >&2; exit 3'
    )
    assert outcome.status == FAILED
    assert outcome.exit_code == 3
    assert outcome.error == "exited with code 3: disk full"


def test_a_script_stops_at_its_first_failing_command(tmp_path):
    outcome, ctx = run_script(tmp_path, "false | cat\necho after")
    assert outcome.status == FAILED
    assert outcome.exit_code == 1
    assert "after" not in messages(ctx)


def test_an_unknown_command_fails_with_a_clear_error(tmp_path):
    ctx = make_ctx(tmp_path, {"command": ["no-such-command-jobsite"]})
    outcome = ShellExecutor().run(ctx)
    assert outcome.status == FAILED
    assert outcome.error == "command not found: no-such-command-jobsite"


def test_a_missing_bash_fails_with_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    outcome, _ = run_script(tmp_path, "true")
    assert outcome.status == FAILED
    assert outcome.error == "bash was not found on PATH; cannot run a script"


def test_background_children_do_not_outlive_the_step(tmp_path):
    # The background sleep holds stdout open: without killing the group the step would
    # wait for it, and it would outlive the step.
    marker = unique_sleep()
    started = time.monotonic()
    outcome, ctx = run_script(tmp_path, f"sleep {marker} & echo done")

    assert outcome.status == SUCCEEDED, outcome.error
    assert time.monotonic() - started < 2
    assert wait_until_gone(marker) == []


def test_cancel_kills_the_whole_process_group_even_children_ignoring_sigterm(tmp_path):
    marker = unique_sleep()
    script = f"""
    trap '' TERM
    sleep {marker} &
    echo started
    sleep {marker}
    """
    ctx = make_ctx(tmp_path, {"script": script}, kill_grace=0.5)

    def cancel_once_started():
        deadline = time.monotonic() + 5
        while ("INFO", "started") not in ctx.logs and time.monotonic() < deadline:
            time.sleep(0.02)
        ctx.request_stop("canceled")

    threading.Thread(target=cancel_once_started, daemon=True).start()
    started = time.monotonic()
    outcome = ShellExecutor().run(ctx)

    assert outcome.status == FAILED
    assert outcome.error == "canceled"
    assert time.monotonic() - started < 3
    assert wait_until_gone(marker) == []


def test_a_canceled_step_gets_the_grace_period_for_its_term_handler(tmp_path):
    # In the sandbox too: SIGTERM reaches the step's processes, not bwrap, whose death
    # would end the whole sandbox at once.
    script = "trap 'echo cleaning up; sleep 0.3; echo cleaned up; exit 0' TERM\necho started\nsleep 30 & wait"
    ctx = make_ctx(tmp_path, {"script": script}, kill_grace=3)

    def cancel_once_started():
        deadline = time.monotonic() + 5
        while ("INFO", "started") not in ctx.logs and time.monotonic() < deadline:
            time.sleep(0.02)
        ctx.request_stop("canceled")

    threading.Thread(target=cancel_once_started, daemon=True).start()
    outcome = ShellExecutor().run(ctx)

    assert outcome.error == "canceled"
    assert messages(ctx) == ["started", "cleaning up", "cleaned up"]


def test_a_step_past_its_timeout_is_killed_and_fails(tmp_path):
    marker = unique_sleep()
    started = time.monotonic()
    outcome, _ = run_script(tmp_path, f"sleep {marker}", timeout=1)

    assert outcome.status == FAILED
    assert outcome.error == "timed out after 1 s"
    assert time.monotonic() - started < 3
    assert wait_until_gone(marker) == []


@pytest.mark.parametrize(
    ("with_", "problem"),
    [
        ({}, (None, "needs exactly one of 'command' or 'script'")),
        ({"command": ["ls"], "script": "ls"}, (None, "needs exactly one of 'command' or 'script'")),
        (
            {"command": "ls -l"},
            ("command", "must be a list of strings (argv); use 'script' for shell text"),
        ),
        ({"command": ["ls", 3]}, ("command", "every item must be a string")),
        ({"command": []}, ("command", "must not be empty")),
        ({"script": "ls", "cwd": "/"}, ("cwd", "is not a parameter of 'shell' steps")),
    ],
)
def test_validate_rejects_malformed_steps(with_, problem):
    assert problem in ShellExecutor().validate(with_)


def test_validate_accepts_a_command_or_a_script():
    assert ShellExecutor().validate({"command": ["echo", "{{ vars.x }}"]}) == []
    assert ShellExecutor().validate({"script": "echo hi", "env": {"A": "b"}}) == []


def lines_one_by_one(output, default):
    """What the log of `output` must be: each line decoded on its own (invalid UTF-8
    replaced), without its newline and trailing carriage returns, its level prefix
    applied; a last line without a newline counts too."""
    raw_lines = output.split(b"\n")
    if raw_lines[-1] == b"":
        raw_lines.pop()
    expected = []
    for raw in raw_lines:
        line = raw.decode("utf-8", errors="replace").rstrip("\r")
        level = default
        for prefix, name in (
            ("DEBUG:", "DEBUG"),
            ("INFO:", "INFO"),
            ("WARNING:", "WARN"),
            ("WARN:", "WARN"),
            ("ERROR:", "ERROR"),
        ):
            if line.startswith(prefix):
                level, line = name, line[len(prefix) :]
                line = line[1:] if line.startswith(" ") else line
                break
        expected.append((level, line))
    return expected


# Each argument is one chunk, every byte an octal escape of printf's format: written
# with one write() each, a pause between them so the reader sees them apart. sh and
# printf start in a millisecond where python3 takes tens (30 examples, each a process).
WRITE_CHUNKS = 'for chunk; do printf "$chunk"; sleep 0.002; done'


def printf_escaped(chunk):
    return "".join(f"\\{byte:03o}" for byte in chunk)


OUTPUT_PIECES = st.sampled_from(
    [
        b"a",
        b"line",
        b" ",
        b"\n",
        b"\n",
        b"\r",
        b"\t",
        b"\xe9",
        b"\xe2\x82",
        b"\xac",
        "é".encode(),
        "😀".encode(),
        b"INFO:",
        b"ERROR: ",
        b"WARNING:",
        b"WARN:x",
        b"DEBUG: ",
    ]
)


CHUNKS = st.lists(st.lists(OUTPUT_PIECES, max_size=40).map(b"".join), min_size=1, max_size=6)
PROPERTY = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}


# Each example is a step run: the default suite tries 10 ways to cut the output (the
# explicit ones split a character, a CRLF and a level prefix), the slow suite (CI) 150.
@settings(max_examples=10, **PROPERTY)
@given(chunks=CHUNKS)
@example(chunks=[b"caf\xc3", b"\xa9 ok\r", b"\nWAR", b"N: x\n\xe2\x82", b"\xac"])
@example(chunks=[b"INFO:a\n\xff\n", b"", b"last without newline"])
def test_output_read_in_any_chunks_is_logged_as_if_read_line_by_line(tmp_path, chunks):
    check_chunks(tmp_path, chunks)


@pytest.mark.slow
@settings(max_examples=150, **PROPERTY)
@given(chunks=CHUNKS)
def test_output_read_in_any_chunks_is_logged_as_if_read_line_by_line_150_ways(tmp_path, chunks):
    check_chunks(tmp_path, chunks)


def check_chunks(tmp_path, chunks):
    ctx = make_ctx(
        tmp_path,
        {"command": ["sh", "-c", WRITE_CHUNKS, "sh", *(printf_escaped(c) for c in chunks)]},
    )
    outcome = ShellExecutor().run(ctx)

    assert outcome.status == SUCCEEDED, outcome.error
    assert ctx.logs == lines_one_by_one(b"".join(chunks), "INFO")


def test_a_line_longer_than_64_kib_is_logged_in_pieces(tmp_path):
    script = "import sys; sys.stdout.write('x' * 150000 + '\\nafter\\n')"
    outcome, ctx = run_script(tmp_path, f'python3 -c "{script}"')

    assert outcome.status == SUCCEEDED, outcome.error
    pieces = messages(ctx)
    assert pieces[-1] == "after"
    assert len(pieces) >= 3 and "".join(pieces[:-1]) == "x" * 150000
    assert all(len(piece) == 65536 for piece in pieces[:-2])


def test_a_flood_of_lines_arrives_complete_and_in_order(tmp_path):
    outcome, ctx = run_script(
        tmp_path, "seq -f 'line %g of the flood' 1 200000; echo 'ERROR: last' >&2"
    )

    assert outcome.status == SUCCEEDED, outcome.error
    assert messages(ctx, "INFO") == [f"line {number} of the flood" for number in range(1, 200001)]
    assert messages(ctx, "ERROR") == ["last"]


def test_argv_items_filled_with_numbers_booleans_or_nothing_become_text(tmp_path):
    from jobs.executors.base import StepContext
    from jobs.executors.shell import ShellExecutor

    ctx = StepContext(
        with_={"command": ["printf", "%s|%s|%s|%s\\n", 7, 2.5, True, None]}, workdir=tmp_path / "w"
    )
    outcome = ShellExecutor().run(ctx)
    assert outcome.status == "succeeded", outcome.error
    assert ("INFO", "7|2.5|true|") in ctx.logs
