"""The two argv rules of SPEC §3 (GitHub's script-injection rules, applied to an argv list
such as a `shell` step's `command`).

The interpreter rule. `{{ }}` is refused in the argument that an interpreter runs as
code: the one after `bash -c`, `python -c`, `node -e`, `perl -e`, `ruby -e`, `php -r`,
`sed -e`, …, and an awk program. A value spliced there would be code (`$(id)`, `;id`,
`` `id` ``); scripts and code get values only from the environment ($VAR_X). Checked when
the template is saved: it depends on the template text alone.

The leading-dash rule. A value that starts with `-` is refused where it begins an argv
element (`["ls", "{{ vars.x }}"]` with x = `--help` or `-la` would be an option), unless
the element comes after a `--` or the variable (or param) declares
`allow_leading_dash: true`. Checked when a job is created or triggered (the values are
known then) and again in the worker just before the step runs (step outputs are only
known then).
"""

import re
from pathlib import PurePosixPath

from jobs.executors.registry import get_executor

from .substitute import PLACEHOLDER_RE, format_value, is_dotted_path, lookup

_SHELLS = {"sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "busybox"}
# Program name → the flags whose next argument is code.
_CODE_FLAGS = {
    **{shell: {"-c"} for shell in _SHELLS},
    "python": {"-c"}, "python2": {"-c"}, "python3": {"-c"}, "pypy": {"-c"}, "pypy3": {"-c"},
    "node": {"-e", "--eval", "-p", "--print"}, "nodejs": {"-e", "--eval", "-p", "--print"},
    "bun": {"-e", "--eval", "-p", "--print"}, "deno": {"eval"},
    "perl": {"-e", "-E"}, "ruby": {"-e"}, "php": {"-r"}, "lua": {"-e"}, "luajit": {"-e"},
    "rscript": {"-e"}, "julia": {"-e", "--eval"}, "tclsh": set(), "osascript": {"-e"},
    "pwsh": {"-c", "-command", "-encodedcommand"}, "powershell": {"-c", "-command", "-encodedcommand"},
    "sed": {"-e", "--expression"}, "gsed": {"-e", "--expression"},
    "awk": {"-e", "--source"}, "gawk": {"-e", "--source"}, "mawk": set(), "nawk": set(),
    "jq": set(), "xargs": set(), "env": set(), "sudo": set(), "nice": set(), "timeout": set(),
}  # fmt: skip
# Programs whose first argument that is not an option is their program text.
_PROGRAM_FIRST = {"awk", "gawk", "mawk", "nawk", "sed", "gsed", "jq"}
_VERSIONED = re.compile(r"^(python|pypy|ruby|perl|php|lua|node)[0-9.]*$")
INTERPRETER_MESSAGE = (
    "argument {index} is code run by {program} {flag}: {{{{ }}}} is not allowed there; "
    "pass values as environment variables ($VAR_NAME) instead"
)


def _program(item):
    name = PurePosixPath(item).name.lower()
    versioned = _VERSIONED.match(name)
    return versioned.group(1) if versioned and versioned.group(1) in _CODE_FLAGS else name


def _is_code_flag(program, item):
    flags = _CODE_FLAGS.get(program, set())
    if (item.lower() if program in ("pwsh", "powershell") else item) in flags:
        return True
    # Short options come bundled: `bash -ec`, `sh -xc`, `python3 -Ic`, `perl -lne`, `sed -ne`.
    letters = {flag[1] for flag in flags if len(flag) == 2 and flag[0] == "-"}
    return bool(re.fullmatch(r"-[A-Za-z]+", item)) and any(letter in item[1:] for letter in letters)


def code_arguments(argv):
    """{index: (program, flag)} of the argv items an interpreter runs as code. A program
    named later in the list (`env bash -c …`, `xargs sh -c …`) takes over from there."""
    found = {}
    program, program_text_pending = None, False
    for index, item in enumerate(argv):
        if not isinstance(item, str):
            continue
        name = _program(item)
        if (program is None or name in _CODE_FLAGS) and "{{" not in item:
            program, program_text_pending = name, name in _PROGRAM_FIRST
            continue
        if index > 0 and program and _is_code_flag(program, argv[index - 1]):
            found[index] = (program, argv[index - 1])
            program_text_pending = False
        elif program_text_pending and _is_code_flag(program, item):
            program_text_pending = False  # `sed -e CODE`: the code is the next item
        elif program_text_pending and not item.startswith("-"):
            found[index] = (program, "(its program text)")
            program_text_pending = False
    return found


def interpreter_problems(argv):
    """(index, message) for each argv item where {{ }} would choose the program or be run
    as code (save time)."""
    if not isinstance(argv, list) or not argv:
        return []
    problems = []
    if isinstance(argv[0], str) and "{{" in argv[0]:
        problems.append((0, "argument 0 is the program to run: {{ }} is not allowed there"))
    problems += [
        (index, INTERPRETER_MESSAGE.format(index=index, program=program, flag=flag))
        for index, (program, flag) in sorted(code_arguments(argv).items())
        if "{{" in argv[index]
    ]
    return problems


def leading_placeholders(argv):
    """(index, dotted path) of each argv element that starts with a {{ }} and comes
    before a `--` (after it nothing is read as an option)."""
    found = []
    if not isinstance(argv, list):
        return found
    for index, item in enumerate(argv):
        if item == "--":
            break
        if not isinstance(item, str) or index == 0:
            continue
        match = PLACEHOLDER_RE.match(item.lstrip())
        if match and is_dotted_path(match.group(1).strip()):
            found.append((index, match.group(1).strip()))
    return found


def dash_problems(argv, context, declarations, *, step_id):
    """(field, message) for each value that would begin an argv element with `-`.

    `context` is the substitution context; `declarations` {"vars": {...}, "params":
    {...}} the declarations of the step's variables and params (allow_leading_dash).
    The field is "variables.<name>", "params.<step>.<name>" or "steps.<id>…" for an
    output. A path the context does not have is left to substitution to report."""
    problems = []
    for index, path in leading_placeholders(argv):
        try:
            value = format_value(lookup(path, context))
        except Exception:  # noqa: BLE001 - an unknown path is substitution's error
            continue
        if not value.startswith("-"):
            continue
        kind, _, rest = path.partition(".")
        name = rest.split(".", 1)[0]
        declared = (declarations.get(kind) or {}).get(name) or {}
        if declared.get("allow_leading_dash") is True:
            continue
        field = {"vars": f"variables.{name}", "params": f"params.{step_id}.{name}"}.get(kind, path)
        problems.append(
            (
                field,
                f"starts with '-' and would be taken as an option by argument {index} of step "
                f"'{step_id}' (its command); put '--' before it, or declare "
                "allow_leading_dash: true",
            )
        )
    return problems


def leading_dash_problems(definition, spec, context):
    """(field, message) for each value that would begin an argv element of step `spec`
    with '-'. `context` may lack what is not known yet (step outputs when a job is
    created): those are checked again in the worker, just before the step runs."""
    executor = get_executor(spec.get("type"))
    key = getattr(executor, "argv_key", None)
    argv = (spec.get("with") or {}).get(key) if key else None
    if not isinstance(argv, list):
        return []
    declarations = {"vars": definition.get("variables", {}), "params": spec.get("params") or {}}
    return dash_problems(argv, context, declarations, step_id=spec["id"])


def job_value_problems(definition, variables, params):
    """{field: [messages]} for the clean values of a job about to be created."""
    errors = {}
    for spec in definition.get("steps", []):
        context = {"vars": variables, "params": (params or {}).get(spec["id"], {})}
        for field, message in leading_dash_problems(definition, spec, context):
            errors.setdefault(field, []).append(message)
    return errors
