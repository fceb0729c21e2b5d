"""A finished job's result: the last report step's markdown, the template's `result`
text, or an automatic summary of steps, durations and outputs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from jobs.engine.states import StepStatus
from jobs.engine.substitution import substitution_context
from templates_app.definition import SubstitutionError, render

if TYPE_CHECKING:
    from jobs.models import Job, StepRun


def _cell(value):
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= 80 else text[:77] + "…"


def _duration(step):
    ms = step.duration_ms
    if ms is None:
        return "—"
    return f"{ms / 1000:.1f} s" if ms >= 1000 else f"{ms} ms"


def summary_markdown(job: Job, steps: list[StepRun]) -> str:
    lines = [f"# {job.name}", "", "| step | status | duration | outputs |", "|---|---|---|---|"]
    for step in steps:
        outputs = ", ".join(f"{key}={_cell(value)}" for key, value in (step.outputs or {}).items()) or "—"
        status = step.status + (f" ({_cell(step.error)})" if step.error and step.status != StepStatus.SUCCEEDED else "")
        lines.append(f"| {step.step_id} | {status} | {_duration(step)} | {outputs} |")
    return "\n".join(lines) + "\n"


def build_result(job: Job, steps: list[StepRun]) -> tuple[str, dict]:
    """(markdown, outputs) for a job whose steps are all finished."""
    outputs = {step.step_id: step.outputs for step in steps if step.outputs}
    report_ids = [spec["id"] for spec in job.definition.get("steps", []) if spec.get("type") == "report"]
    by_id = {step.step_id: step for step in steps}
    for step_id in reversed(report_ids):
        step = by_id.get(step_id)
        if step and step.status == StepStatus.SUCCEEDED and step.outputs.get("markdown"):
            return step.outputs["markdown"], outputs
    template = job.definition.get("result")
    if template:
        try:
            return render(template, substitution_context(job, steps)), outputs
        except SubstitutionError:
            pass  # an output a failed step never produced: fall back to the summary
    return summary_markdown(job, steps), outputs
