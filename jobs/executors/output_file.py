"""The outputs a `shell` step writes to $JOBSITE_OUTPUT (SPEC §7, docs/templates.md)."""

import json
import re
from pathlib import Path

from .base import StepContext

MAX_OUTPUT_FILE_BYTES = 1024 * 1024
OUTPUT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def read_outputs(path: str | Path, ctx: StepContext) -> dict:
    """The step's outputs from $JOBSITE_OUTPUT: one JSON object, or lines of `key=value`
    and `key<<DELIMITER` … `DELIMITER` (a multi-line value, as GITHUB_OUTPUT takes it:
    the documented form for any value a user controls, docs/templates.md)."""
    with open(path, "rb") as f:
        raw = f.read(MAX_OUTPUT_FILE_BYTES + 1)
    if len(raw) > MAX_OUTPUT_FILE_BYTES:
        ctx.log(
            "WARN", f"$JOBSITE_OUTPUT is larger than {MAX_OUTPUT_FILE_BYTES // 1024} KiB; ignored"
        )
        return {}
    text = raw.decode("utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        try:
            outputs = json.loads(text)
        except ValueError as exc:
            ctx.log("WARN", f"$JOBSITE_OUTPUT is not valid JSON ({exc}); no outputs")
            return {}
        return outputs  # text starting with "{" that parses is always an object
    outputs = {}
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        equals, heredoc = line.find("="), line.find("<<")
        if heredoc > 0 and (equals < 0 or heredoc < equals):
            key, delimiter = line[:heredoc].strip(), line[heredoc + 2 :]
            if not OUTPUT_KEY.match(key) or not delimiter.strip():
                ctx.log("WARN", f"$JOBSITE_OUTPUT line {number} is not key<<DELIMITER; skipped")
                continue
            try:
                end = lines.index(delimiter, number)
            except ValueError:
                ctx.log(
                    "WARN",
                    f"$JOBSITE_OUTPUT line {number}: no line {delimiter!r} ends {key}; ignored from here",
                )
                break
            outputs[key] = "\n".join(lines[number:end])
            number = end + 1
            continue
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not OUTPUT_KEY.match(key):
            ctx.log("WARN", f"$JOBSITE_OUTPUT line {number} is not key=value; skipped")
            continue
        outputs[key] = value.strip()
    return outputs
