"""`sleep` steps: wait, cancellably. For demos and tests."""

import time

from .base import Executor, Outcome, StepContext, has_placeholder, is_number

SLICE_SECONDS = 0.1


class SleepExecutor(Executor):
    name = "sleep"
    uses_files = False
    known_outputs = frozenset()
    required = frozenset({"seconds"})
    description = "Waits `seconds` (reporting progress); stops at once when canceled."

    def validate(self, with_: dict) -> list[tuple[str | None, str]]:
        problems = super().validate(with_)
        if isinstance(with_, dict) and "seconds" in with_:
            seconds = with_["seconds"]
            if not has_placeholder(seconds) and not (is_number(seconds) and seconds >= 0):
                problems.append(("seconds", "must be a number ≥ 0"))
        return problems

    def run(self, ctx: StepContext) -> Outcome:
        seconds = ctx.with_.get("seconds")
        try:
            # Substitution may have made a string of it ("{{ vars.delay }}" → "2").
            seconds = float(seconds) if isinstance(seconds, str) else seconds
        except ValueError:
            pass
        if not (is_number(seconds) and seconds >= 0):
            return Outcome.fail(f"seconds must be a number ≥ 0, not {seconds!r}")
        start = time.monotonic()
        end = start + seconds
        while (now := time.monotonic()) < end:
            if reason := ctx.should_stop():
                return Outcome.fail(reason)
            ctx.progress(100 * (now - start) / seconds)
            time.sleep(min(SLICE_SECONDS, end - now))
        if reason := ctx.should_stop():
            return Outcome.fail(reason)
        ctx.progress(100)
        return Outcome.ok()
