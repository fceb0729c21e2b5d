"""A template's declared `outputs` (SPEC §3): what a finished job shows as its outputs,
{name: text with {{ }} | "artifact:<step>/<path>"}, checked against its steps."""

from jobs.executors.registry import get_executor

from .parse import add_error
from .substitute import ReferenceScope, reference_problems, references
from .variables import NAME_RE

ARTIFACT_OUTPUT = "artifact:"
OUTPUT_FORMS = (
    '"{{ steps.<id>.outputs.<key> }}" (or other text with {{ }}) or "artifact:<step>/<path>"'
)


def normalize_outputs(raw, errors):
    """The job's declared outputs (SPEC §3): {name: text with {{ }} | "artifact:<step>/<path>"}."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        add_error(errors, "outputs", f"must be a mapping of names to {OUTPUT_FORMS}")
        return {}
    outputs = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not NAME_RE.fullmatch(name):
            add_error(
                errors, f"outputs.{name}", "an output name is lower-case letters, digits and _"
            )
        elif not isinstance(value, str) or not value.strip():
            add_error(errors, f"outputs.{name}", f"must be {OUTPUT_FORMS}")
        else:
            outputs[name] = value
    return outputs


def parse_artifact_output(value):
    """ "artifact:<step>/<path>" → (step id, path); None for any other output."""
    if not value.startswith(ARTIFACT_OUTPUT):
        return None
    step_id, _, path = value[len(ARTIFACT_OUTPUT) :].partition("/")
    return step_id, path


def check_outputs(definition, errors):
    """Every declared output names a step that exists and, where the step's type knows
    its outputs (noop, report, http, sleep), an output that step makes."""
    steps = {step["id"]: step for step in definition["steps"]}
    for name, value in definition.get("outputs", {}).items():
        where = f"outputs.{name}"
        artifact = parse_artifact_output(value)
        if artifact is not None:
            step_id, path = artifact
            step = steps.get(step_id)
            if step is None:
                add_error(errors, where, f"unknown step '{step_id}' in '{value}'")
            elif not path or path.startswith("/") or ".." in path.split("/"):
                add_error(
                    errors,
                    where,
                    f"'{value}': give the artifact's path inside the step's artifacts, e.g. artifact:{step_id}/report.csv",
                )
            elif step["type"] and not get_executor(step["type"]).uses_files:
                add_error(
                    errors,
                    where,
                    f"step '{step_id}' is a {step['type']} step: it makes no artifacts",
                )
            continue
        scope = ReferenceScope(where, frozenset(definition["variables"]), frozenset(steps))
        for _, message in reference_problems(value, scope):
            add_error(errors, where, message)
        for path in references(value):
            parts = path.split(".")
            if (
                parts[0] != "steps"
                or len(parts) < 4
                or parts[2] != "outputs"
                or parts[1] not in steps
            ):
                continue
            step = steps[parts[1]]
            known = get_executor(step["type"]).output_names(step["with"]) if step["type"] else None
            if known is not None and parts[3] not in known:
                offered = ", ".join(sorted(known)) or "none"
                add_error(
                    errors, where,
                    f"unknown output '{parts[3]}' of step '{parts[1]}' (a {step['type']} step's outputs: {offered})",
                )  # fmt: skip
