"""`report` steps: markdown (already substituted by the engine) becomes an output.

The job's result markdown is the last report step's output (SPEC §4); rendering to HTML
and sanitizing happen where it is shown, not here.
"""

from .base import Executor, Outcome, StepContext


class ReportExecutor(Executor):
    name = "report"
    uses_files = False
    known_outputs = frozenset({"markdown"})
    required = frozenset({"markdown"})
    description = (
        "Produces markdown with {{ }} references filled in; output `markdown`. The last "
        "report step's markdown is the job's result."
    )

    def validate(self, with_: dict) -> list[tuple[str | None, str]]:
        problems = super().validate(with_)
        if (
            isinstance(with_, dict)
            and "markdown" in with_
            and not isinstance(with_["markdown"], str)
        ):
            problems.append(("markdown", "must be text"))
        return problems

    def run(self, ctx: StepContext) -> Outcome:
        markdown = ctx.with_.get("markdown")
        if not isinstance(markdown, str):
            return Outcome.fail("markdown must be text")
        return Outcome.ok({"markdown": markdown})
