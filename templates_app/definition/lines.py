"""Where in a YAML source a validation problem is: DefinitionError's paths
(`steps.fetch.with.url`, `variables.days.min`, `source`) mapped to line numbers, so the
template editor can show each problem at its line."""

import re

import yaml

LINE_IN_MESSAGE = re.compile(r"line (\d+)")


def _child(node, segment):
    """The node under `node` for one path segment (a key, a list index, or a step or
    variable id), or None."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == segment:
                return value
        return None
    if isinstance(node, yaml.SequenceNode):
        if segment.isdigit() and int(segment) < len(node.value):
            return node.value[int(segment)]
        for item in node.value:
            if _child(item, "id") is not None and _child(item, "id").value == segment:
                return item
    return None


def line_of(root, path: str) -> int | None:
    """The 1-based line of the deepest node `path` reaches (the whole path when it exists,
    else the part of it that does)."""
    if root is None:
        return None
    node, line = root, root.start_mark.line + 1
    for segment in re.split(r"\.|\[(\d+)\]", path):
        if not segment:
            continue
        found = _child(node, segment)
        if found is None:
            # A missing key: point at its parent's key line (where it should go).
            break
        node, line = found, found.start_mark.line + 1
    return line


def problems_at_lines(source: str, errors: dict) -> list[dict]:
    """Every problem as {path, message, line}, in line order (problems without a line
    first). `errors` is DefinitionError.errors."""
    try:
        root = yaml.compose(source, Loader=yaml.SafeLoader) if isinstance(source, str) else None
    except (yaml.YAMLError, RecursionError):
        root = None
    problems = []
    for path, messages in errors.items():
        for message in messages:
            line = None
            if path == "source":
                found = LINE_IN_MESSAGE.search(message)
                line = int(found.group(1)) if found else None
            else:
                line = line_of(root, path)
            problems.append({"path": path, "message": message, "line": line})
    problems.sort(key=lambda problem: (problem["line"] is not None, problem["line"] or 0))
    return problems
