"""A finished job's result: the last report step's markdown, the template's `result`
text, or an automatic summary of steps, durations and outputs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from django.urls import reverse

from jobs.engine.artifacts import artifact_name
from jobs.engine.states import StepStatus
from jobs.engine.substitution import substitution_context
from templates_app.definition import SubstitutionError, parse_artifact_output, render

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
        outputs = (
            ", ".join(f"{key}={_cell(value)}" for key, value in (step.outputs or {}).items()) or "—"
        )
        status = step.status + (
            f" ({_cell(step.error)})" if step.error and step.status != StepStatus.SUCCEEDED else ""
        )
        lines.append(f"| {step.step_id} | {status} | {_duration(step)} | {outputs} |")
    return "\n".join(lines) + "\n"


def declared_outputs(job: Job, steps: list[StepRun]) -> dict:
    """The job's declared `outputs` (SPEC §3), resolved now that its steps have finished:
    text with {{ }} is filled in from the steps' outputs (null when a step never made
    the value), "artifact:<step>/<path>" becomes the artifact's name, size, sha256,
    content type and download path (null when the step left no such file)."""
    declared = job.definition.get("outputs") or {}
    context = substitution_context(job, steps)
    wanted = {name: parse_artifact_output(value) for name, value in declared.items()}
    artifact_names = {artifact_name(*where) for where in wanted.values() if where}
    artifacts = (
        {a.name: a for a in job.artifacts.filter(name__in=artifact_names)} if artifact_names else {}
    )
    outputs = {}
    for name, value in declared.items():
        if wanted[name]:
            artifact = artifacts.get(artifact_name(*wanted[name]))
            outputs[name] = artifact and {
                "artifact": artifact.name, "size": artifact.size, "sha256": artifact.sha256,
                "content_type": artifact.content_type,
                "url": reverse("api-job-artifact", args=[job.pk, artifact.name]),
            }  # fmt: skip
            continue
        try:
            outputs[name] = render(value, context)
        except SubstitutionError:
            outputs[name] = None
    return outputs


def build_result(job: Job, steps: list[StepRun]) -> tuple[str, dict]:
    """(markdown, outputs) for a job whose steps are all finished. The outputs are the
    declared ones when the definition declares `outputs`, else every step's outputs by
    step id."""
    if "outputs" in job.definition:
        outputs = declared_outputs(job, steps)
    else:
        outputs = {step.step_id: step.outputs for step in steps if step.outputs}
    report_ids = [
        spec["id"] for spec in job.definition.get("steps", []) if spec.get("type") == "report"
    ]
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
