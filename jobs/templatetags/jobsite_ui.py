"""Filters and tags of the jobsite pages: ANSI-colored log text made inert, sanitized
markdown, durations, and query strings that keep the current filters."""

import json
import re

from django import template
from django.utils import timezone
from django.utils.html import escape
from django.utils.http import urlencode
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from jobs.views.markdown import render_markdown

register = template.Library()

# CSI sequences (colors, cursor moves), OSC sequences (titles, hyperlinks), any other
# two-byte escape, and C0 control characters except tab.
ANSI_RE = re.compile(
    r"\x1b\[([0-9;?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?|[\x00-\x08\x0b-\x1f\x7f]"
)
ANSI_COLORS = {1: "red", 2: "green", 3: "yellow", 4: "blue", 5: "magenta", 6: "cyan"}


def _apply_sgr(params, state):
    codes = [int(code) if code.isdigit() else 0 for code in (params or "0").split(";")]
    index = 0
    while index < len(codes):
        code = codes[index]
        if code == 0:
            state.clear()
        elif code == 1:
            state["bold"] = True
        elif code == 22:
            state.pop("bold", None)
        elif 30 <= code <= 37 or 90 <= code <= 97:
            color = ANSI_COLORS.get(code % 10)
            if color:
                state["color"] = color
            else:  # black and white read badly on one of the two themes: use the default
                state.pop("color", None)
        elif code == 39:
            state.pop("color", None)
        elif code in (38, 48):  # 256-color or true-color: skip its arguments
            index += 2 if codes[index + 1 : index + 2] == [5] else 4
        index += 1


@register.filter(is_safe=True)
def ansi(text):
    """Log text with ANSI colors as CSS classes and every other escape or control
    character removed. The text itself is always HTML-escaped: nothing in a log line
    can become markup."""
    text = str(text or "")
    out, state, position = [], {}, 0

    def emit(chunk):
        if not chunk:
            return
        classes = []
        if state.get("bold"):
            classes.append("ansi-bold")
        if state.get("color"):
            classes.append(f"ansi-{state['color']}")
        if classes:
            out.append(f'<span class="{" ".join(classes)}">{escape(chunk)}</span>')
        else:
            out.append(escape(chunk))

    for match in ANSI_RE.finditer(text):
        emit(text[position : match.start()])
        if match.group(2) == "m":
            _apply_sgr(match.group(1), state)
        position = match.end()
    emit(text[position:])
    return mark_safe("".join(out))


@register.filter(is_safe=True)
def markdown(text):
    return mark_safe(render_markdown(text))


@register.filter
def duration(ms):
    """1520 → "1.5 s", 65000 → "1 min 05 s", 3_700_000 → "1 h 01 min"."""
    if ms is None or ms == "":
        return "—"
    ms = int(ms)
    if ms < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def filesize(size):
    size = int(size or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} B"


@register.simple_tag(takes_context=True)
def query(context, **changes):
    """The current query string with some parameters changed (None or "" removes one),
    for filter links and paging that keep the other filters."""
    params = context["request"].GET.copy()
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = value
    encoded = urlencode(sorted((k, v) for k, values in params.lists() for v in values))
    return f"?{encoded}" if encoded else "?"


@register.filter
def value_text(value):
    """A variable's value as a person reads it: true/false, lists joined, None as —."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(value_text(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


@register.filter
def ago(moment):
    """ "just now", "5 minutes ago", "2 days ago"."""
    if not moment:
        return "—"
    if (timezone.now() - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment).split(',')[0]} ago"


@register.filter
def when(moment):
    """A time of today as 16:05:12; an older one as Nov 3, 16:05."""
    if not moment:
        return "—"
    local = timezone.localtime(moment)
    if local.date() == timezone.localdate():
        return local.strftime("%H:%M:%S")
    return f"{local.strftime('%b')} {local.day}, {local.strftime('%H:%M')}"


ACTOR_KINDS = {"user": "{}", "admin": "{} (admin)", "key": "API key {}", "schedule": "schedule {}"}


@register.filter
def actor(value):
    """Who started a job, for people: "user:ada" → "ada", "key:ci-bot" → "API key ci-bot",
    "trigger_url" → "trigger URL"."""
    value = str(value or "")
    if not value:
        return "—"
    kind, _, name = value.partition(":")
    if name and kind in ACTOR_KINDS:
        return ACTOR_KINDS[kind].format(name)
    return value.replace("_url", " URL").replace("_", " ")
