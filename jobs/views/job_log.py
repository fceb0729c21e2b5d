"""The job page's log, as JSON for its windowed viewer (static/js/joblog.js).

One GET answers every question the viewer asks (SPEC §8, §9):

- `?tail=N` — the last N lines (a page opened cold);
- `?after=SEQ` — the live tail: what came after the newest line the viewer holds. When
  the viewer is further behind than one answer carries, the answer *jumps*: it holds the
  newest lines and says how many were skipped, so a tab following a step that prints
  30,000 lines a second stays on its newest lines instead of crawling through them;
- `?before=SEQ` — earlier lines (of one `step`), to read back from a jump;
- `?around=SEQ` — the lines around one line (a permalink `#L<seq>`, a search hit);
- `?q=TEXT` — the lines that contain TEXT (case-insensitive), in order, after `after`.

Every answer carries the job's status, the seq of its last event (`last_seq`, read with
the job row before the lines, so `next_after` never passes an event it did not see) and
its steps as the API shows them (jobs/representation.py) with each one's attempts (from
the step.status events), so lines are grouped by step and attempt. Messages go out as HTML made by the same `ansi` filter as the page: escaped,
colours as classes.
"""

import bisect
import time

from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from jobs.engine.log_format import LEVELS, levels_at_least, tail_lines
from jobs.engine.states import JOB_TERMINAL, StepStatus
from jobs.models import EventKind
from jobs.representation import datetime_formatter, step_to_dict
from jobs.templatetags.jobsite_ui import ansi
from jobs.views.permissions import job_for, member_required

# One answer holds at most this many lines; a live tail further behind than this jumps.
ANSWER_LINES = 2000
SEARCH_LINES = 200
SEARCH_SECONDS = 0.4
# Wildly large numbers in a query are clamped, not refused: this is the page's own fetch.
MAX_SEQ = 2**62


def int_param(request, name, default=None, low=0, high=MAX_SEQ):
    try:
        value = int(request.GET[name])
    except (KeyError, ValueError):
        return default
    return min(max(value, low), high)


def step_attempts(job, steps):
    """Each step's attempts, oldest first: {step_id: [{attempt, first_seq, status,
    started_at, finished_at, error}]}. Read from the step.status events (a handful per
    step, found by the partial index on non-log events), so an earlier attempt keeps its
    own error and its own lines: a log line belongs to the attempt that was running when
    it was written (a zombie attempt cannot write, step_logs fences it)."""
    events = (
        job.events.exclude(kind=EventKind.LOG)
        .filter(kind=EventKind.STEP_STATUS)
        .order_by("seq")
        .values_list("seq", "step_id", "data", "created_at")
    )
    attempts = {}
    for seq, step_id, data, created_at in events:
        data = data or {}
        runs = attempts.setdefault(step_id, [])
        if data.get("to") == StepStatus.RUNNING:
            runs.append(
                {
                    "attempt": data.get("attempt") or len(runs) + 1,
                    "first_seq": seq,
                    "status": StepStatus.RUNNING,
                    "started_at": created_at,
                    "finished_at": None,
                    "duration_ms": None,
                    "error": "",
                }
            )
        elif runs and runs[-1]["finished_at"] is None and data.get("from") == StepStatus.RUNNING:
            # An attempt that ended in "retrying" failed; the step is the one retrying.
            ended = data.get("to", "")
            runs[-1].update(
                status=StepStatus.FAILED if ended == StepStatus.RETRYING else ended,
                finished_at=created_at,
                error=data.get("error", ""),
                duration_ms=int((created_at - runs[-1]["started_at"]).total_seconds() * 1000),
            )
    # The step row is the truth for the newest attempt (its status may have moved on
    # without leaving the running state through an event we read, e.g. a force cancel).
    for step in steps:
        runs = attempts.get(step.step_id)
        if runs and runs[-1]["attempt"] == step.attempt and step.status != StepStatus.RETRYING:
            runs[-1]["status"] = step.status
            runs[-1]["error"] = step.error or runs[-1]["error"]
    return attempts


def attempts_json(attempts):
    out = {}
    for step_id, runs in attempts.items():
        out[step_id] = [
            {
                "attempt": run["attempt"],
                "first_seq": run["first_seq"],
                "status": run["status"],
                "error": run["error"],
                "duration_ms": run["duration_ms"],
            }
            for run in runs
        ]
    return out


def steps_json(steps, attempts):
    """Each step as the API shows it (jobs/representation.py's step_to_dict), with what
    the viewer adds: the step's attempt budget and its attempts. Without `outputs`: the
    page shows them in its step table, and this answer is fetched every second while a
    tab follows the log (a step's outputs may be up to 1 MiB)."""
    now = timezone.now()
    when = datetime_formatter()
    out = []
    for step in steps:
        data = step_to_dict(step, now, when)
        del data["outputs"]
        data["max_attempts"] = step.max_attempts
        data["attempts"] = attempts.get(step.step_id, [])
        out.append(data)
    return out


def lines_json(events, attempts):
    starts = {step_id: [run["first_seq"] for run in runs] for step_id, runs in attempts.items()}
    numbers = {step_id: [run["attempt"] for run in runs] for step_id, runs in attempts.items()}
    out = []
    for seq, step_id, level, message, created_at in events:
        attempt = 0
        if step_id in starts:
            index = bisect.bisect_right(starts[step_id], seq) - 1
            attempt = numbers[step_id][max(index, 0)]
        out.append(
            [seq, int(created_at.timestamp() * 1000), level, step_id, attempt, str(ansi(message))]
        )
    return out


def search(events, query, after, last_seq):
    """The lines after `after` that contain `query`, oldest first, read in widening
    windows of seq for at most about SEARCH_SECONDS: the first answer comes quickly
    even when the text is rare in a million lines (a LIKE over all of them takes ~2 s on
    SQLite), and `searched_to` tells where to go on."""
    deadline = time.monotonic() + SEARCH_SECONDS
    found, position, window = [], after, 20_000
    while position < last_seq and len(found) <= SEARCH_LINES:
        upper = min(position + window, last_seq)
        found += list(
            events.filter(seq__gt=position, seq__lte=upper, message__icontains=query).order_by(
                "seq"
            )[: SEARCH_LINES + 1 - len(found)]
        )
        position, window = upper, window * 2
        if time.monotonic() > deadline:
            break
    if len(found) > SEARCH_LINES:
        found = found[:SEARCH_LINES]
        position = found[-1][0]
    return {"lines": found, "query": query, "searched_to": position, "more": position < last_seq}


@require_GET
@member_required
def job_log(request, job_id):
    job = job_for(request, job_id)
    # The job row first: every event up to its last_event_seq is committed.
    last_seq = job.last_event_seq
    steps = list(job.steps.all())
    attempts = step_attempts(job, steps)
    events = job.events.filter(kind=EventKind.LOG, seq__lte=last_seq)
    level = request.GET.get("level", "").upper()
    if level in LEVELS:
        events = events.filter(level__in=levels_at_least(level))
    if request.GET.get("step"):
        events = events.filter(step_id=request.GET["step"])
    events = events.values_list("seq", "step_id", "level", "message", "created_at")
    limit = int_param(request, "limit", ANSWER_LINES, 1, ANSWER_LINES)
    answer = {"skipped": 0}
    query = request.GET.get("q", "").strip()
    if query:
        answer.update(search(events, query, int_param(request, "after", 0), last_seq))
    elif "around" in request.GET:
        around = int_param(request, "around", 0)
        half = limit // 2
        before = list(events.filter(seq__lt=around).order_by("-seq")[:half])[::-1]
        rest = list(events.filter(seq__gte=around).order_by("seq")[: limit - half])
        answer.update(lines=before + rest, around=around)
    elif "before" in request.GET:
        before = int_param(request, "before", 0)
        # With `after` too: the newest lines of a gap the live tail jumped over.
        events = events.filter(seq__gt=int_param(request, "after", 0))
        lines = list(events.filter(seq__lt=before).order_by("-seq")[: limit + 1])
        answer.update(lines=lines[:limit][::-1], more=len(lines) > limit)
    elif "after" in request.GET:
        after = int_param(request, "after", 0)
        # Further behind than one answer carries (by seq, which counts every event):
        # jump to the newest lines and say how many were skipped.
        if last_seq - after > limit:
            lines = tail_lines(events.filter(seq__gt=after), last_seq, limit)
            skipped = (lines[0][0] - after - 1) if lines else 0
            answer.update(lines=lines, skipped=max(skipped, 0))
        else:
            answer.update(lines=list(events.filter(seq__gt=after).order_by("seq")[:limit]))
        answer["next_after"] = last_seq
    else:
        lines = tail_lines(events, last_seq, limit)
        answer.update(lines=lines, more=bool(lines) and events.filter(seq__lt=lines[0][0]).exists())
        answer["next_after"] = last_seq
    answer["lines"] = lines_json(answer["lines"], attempts)
    answer.update(
        status=job.status,
        terminal=job.status in JOB_TERMINAL,
        last_seq=last_seq,
        steps=steps_json(steps, attempts_json(attempts)),
    )
    response = JsonResponse(answer)
    response["Cache-Control"] = "no-store"
    return response
