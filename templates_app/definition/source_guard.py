"""Sources that would take the YAML reader down: aliases that expand to billions of
values, an alias inside itself, nesting deeper than the parser can recurse. Checked
before a source is loaded, whoever reads it (UI, admin, API, inline recipes)."""

import re

import yaml

# A few hundred bytes of YAML anchors and aliases (`&a`/`*a`) can stand for billions of
# values; far more than any template needs.
MAX_SOURCE_NODES = 100_000
EXPLOSIVE = f"the source nests too deeply or its YAML aliases expand past {MAX_SOURCE_NODES} values"


class _Explosive(Exception):
    pass


# The YAML composer recurses once per level and gives up near 500 levels, after work
# that grows with the square of the depth (a second of CPU for 50,000 `[`): deeper flow
# brackets than this are refused before it starts.
MAX_FLOW_DEPTH = 400
_BRACKET = re.compile(r"[\[\]{}]")


def flow_depth_exceeds(text: str, limit: int = MAX_FLOW_DEPTH) -> bool:
    """Whether `[`/`{` open more than `limit` levels at some point of `text` (counted
    without regard to quoting: more than `limit` unclosed brackets inside strings is no
    template either)."""
    depth = 0
    for match in _BRACKET.finditer(text):
        if match.group() in "[{":
            depth += 1
            if depth > limit:
                return True
        elif depth:
            depth -= 1
    return False


def explosive_yaml_problem(text: str) -> str | None:
    """The problem with YAML text that would take the parser down, else None: nesting
    deeper than Python's recursion allows, an alias that contains itself, or aliases
    that expand to more than MAX_SOURCE_NODES values. Only the node graph is built
    (no values), so this is cheap whatever the aliases stand for."""
    if flow_depth_exceeds(text):
        return EXPLOSIVE
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return None  # not YAML at all: the parser says what is wrong with it
    except RecursionError:
        return EXPLOSIVE
    if root is None:
        return None
    sizes, visiting = {}, set()

    def expanded(node):
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in visiting:
            raise _Explosive  # an alias inside itself
        visiting.add(id(node))
        children = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        total = 1
        for child in children:
            total += expanded(child)
            if total > MAX_SOURCE_NODES:
                raise _Explosive
        visiting.discard(id(node))
        sizes[id(node)] = total
        return total

    try:
        expanded(root)
    except (_Explosive, RecursionError):
        return EXPLOSIVE
    return None
