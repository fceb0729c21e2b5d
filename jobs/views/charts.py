"""Geometry for the server-rendered SVG pictures: the dashboard's 24 h chart, a job's step
timeline and a template's step graph.

These functions only compute numbers; the templates draw them, so every label goes
through Django's auto-escaping. Positions are SVG attributes, never `style=`, which
keeps the Content-Security-Policy free of 'unsafe-inline'.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import TruncHour
from django.utils import timezone

from jobs.engine.states import JobStatus

# --- the dashboard's 24 h chart ------------------------------------------------------------

# The SVGs have no viewBox: horizontal positions are percentages of their width and
# vertical ones are pixels, so they fill any width (desktop or phone) while their text
# keeps its real size instead of being scaled down with the drawing.
CHART_PLOT_HEIGHT = 140  # px of bars; the hour labels sit below
FAILED_STATUSES = (JobStatus.FAILED, JobStatus.PARTIAL, JobStatus.CANCELED)


def _pct(value):
    return f"{value:.2f}%"


@dataclass
class HourBar:
    start: object  # aware datetime of the hour
    succeeded: int = 0
    failed: int = 0  # failed, partial or canceled: anything that did not simply succeed
    x: str = ""
    width: str = ""
    center: str = ""
    ok_y: float = 0
    ok_height: float = 0
    failed_y: float = 0
    failed_height: float = 0
    rate_y: float | None = None

    @property
    def total(self):
        return self.succeeded + self.failed

    @property
    def failure_rate(self):
        return self.failed / self.total if self.total else None


@dataclass
class FinishedChart:
    bars: list
    peak: int
    total: int
    failed: int
    rate_segments: list = field(default_factory=list)  # lines between hours with a rate
    plot_height: int = CHART_PLOT_HEIGHT
    height: int = CHART_PLOT_HEIGHT + 22
    hour_labels: list = field(default_factory=list)

    @property
    def failure_rate(self):
        return round(100 * self.failed / self.total) if self.total else None


def finished_per_hour(jobs, now=None):
    """Jobs finished in each of the last 24 hours (the current hour last), split into
    succeeded and not, laid out as bars, plus the failure rate per hour as a line."""
    # Hours of the site's time zone, so the labels and the database's buckets agree.
    now = timezone.localtime(now or timezone.now())
    current_hour = now.replace(minute=0, second=0, microsecond=0)
    first_hour = current_hour - timedelta(hours=23)
    bars = [HourBar(start=first_hour + timedelta(hours=i)) for i in range(24)]
    by_start = {bar.start: bar for bar in bars}
    rows = (
        jobs.filter(finished_at__gte=first_hour, status__in=[JobStatus.SUCCEEDED, *FAILED_STATUSES])
        .annotate(hour=TruncHour("finished_at", tzinfo=timezone.get_current_timezone()))
        .values("hour", "status")
        .annotate(n=Count("id"))
    )
    for row in rows:
        bar = by_start.get(row["hour"])
        if bar is None:
            continue
        if row["status"] == JobStatus.SUCCEEDED:
            bar.succeeded += row["n"]
        else:
            bar.failed += row["n"]

    chart = FinishedChart(
        bars=bars,
        peak=max((bar.total for bar in bars), default=0),
        total=sum(bar.total for bar in bars),
        failed=sum(bar.failed for bar in bars),
    )
    top = 4  # px left free above the tallest bar
    scale = (CHART_PLOT_HEIGHT - top) / max(chart.peak, 1)
    slot = 100 / len(bars)
    previous = None
    for index, bar in enumerate(bars):
        bar.x = _pct(index * slot + slot * 0.15)
        bar.width = _pct(slot * 0.7)
        bar.center = _pct((index + 0.5) * slot)
        bar.ok_height = round(bar.succeeded * scale, 1)
        bar.failed_height = round(bar.failed * scale, 1)
        bar.ok_y = round(CHART_PLOT_HEIGHT - bar.ok_height, 1)
        bar.failed_y = round(bar.ok_y - bar.failed_height, 1)
        if bar.failure_rate is not None:
            bar.rate_y = round(CHART_PLOT_HEIGHT - bar.failure_rate * (CHART_PLOT_HEIGHT - top), 1)
            if previous is not None:
                chart.rate_segments.append(
                    {
                        "x1": previous.center,
                        "y1": previous.rate_y,
                        "x2": bar.center,
                        "y2": bar.rate_y,
                    }
                )
            previous = bar
        if index % 6 == 0 or index == len(bars) - 1:
            chart.hour_labels.append(
                {
                    "x": bar.center,
                    "start": bar.start,
                    "anchor": "end" if index == len(bars) - 1 else "middle",
                }
            )
    return chart


# --- a job's step timeline --------------------------------------------------------------

TIMELINE_ROW = 24  # px per step; the step names beside the drawing use the same height
TIMELINE_AXIS = 20  # px above the first row for the time labels


@dataclass
class TimelineRow:
    step: object
    y: int
    x: str = ""
    width: str = ""
    drawn: bool = False


@dataclass
class Timeline:
    rows: list
    height: int
    ticks: list
    span_ms: int = 0
    axis: int = TIMELINE_AXIS
    row_height: int = TIMELINE_ROW


def _nice_step(span_seconds):
    for step in (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600):
        if span_seconds / step <= 5:
            return step
    return 43200


def _tick_label(seconds):
    if seconds < 60:
        return f"{seconds:g}s"
    if seconds < 3600:
        return f"{seconds / 60:g}m"
    return f"{seconds / 3600:g}h"


def step_timeline(job, steps, now=None):
    """Each step as a bar from its start to its end (now, while it runs) on one time
    axis that starts when the job started. Steps that never started have no bar."""
    now = now or timezone.now()
    height = TIMELINE_AXIS + len(steps) * TIMELINE_ROW
    rows = [
        TimelineRow(step=step, y=TIMELINE_AXIS + i * TIMELINE_ROW) for i, step in enumerate(steps)
    ]
    # A reused step ran in an earlier job: its times belong to that job's axis, not this
    # one's, so it gets no bar (the table says "reused").
    ran = [step for step in steps if step.started_at and not step.reused_from_id]
    started = [step.started_at for step in ran]
    if not started and not job.started_at:
        return Timeline(rows=rows, height=height, ticks=[])
    origin = min([*started, *([job.started_at] if job.started_at else [])])
    ends = [step.finished_at or now for step in ran]
    end = max([*ends, job.finished_at or now, origin])
    span = max((end - origin).total_seconds(), 1.0)
    usable = 98.0  # percent; a little room at the right for the last tick's label
    for row in rows:
        step = row.step
        if step.started_at and not step.reused_from_id:
            finish = step.finished_at or now
            left = (step.started_at - origin).total_seconds() / span * usable
            # A step that took a few milliseconds still gets a visible sliver.
            width = max((finish - step.started_at).total_seconds() / span * usable, 0.6)
            row.x, row.width, row.drawn = _pct(left), _pct(min(width, 100 - left)), True
    tick = _nice_step(span)
    ticks = []
    value = 0.0
    while value <= span + 1e-9:
        position = value / span * usable
        ticks.append(
            {
                "x": _pct(position),
                "label": _tick_label(value),
                "anchor": "start" if value == 0 else ("end" if position > 92 else "middle"),
            }
        )
        value += tick
    return Timeline(rows=rows, height=height, ticks=ticks, span_ms=int(span * 1000))


# --- a template's step graph ------------------------------------------------------------

NODE_WIDTH, NODE_HEIGHT, COLUMN_GAP, ROW_GAP = 150, 40, 50, 14


def step_graph(step_specs):
    """Lay the steps out left to right by depth (a step sits one column right of the
    deepest step it needs), with one curve per `needs` edge."""
    depth = {}
    by_id = {spec["id"]: spec for spec in step_specs}

    def depth_of(step_id, seen=()):
        if step_id not in depth:
            needs = [n for n in by_id[step_id].get("needs", []) if n in by_id and n not in seen]
            depth[step_id] = 1 + max((depth_of(n, (*seen, step_id)) for n in needs), default=-1)
        return depth[step_id]

    columns = {}
    for spec in step_specs:
        columns.setdefault(depth_of(spec["id"]), []).append(spec)
    nodes = {}
    for column, specs in columns.items():
        for row, spec in enumerate(specs):
            nodes[spec["id"]] = {
                "spec": spec,
                "x": column * (NODE_WIDTH + COLUMN_GAP),
                "y": row * (NODE_HEIGHT + ROW_GAP),
            }
    edges = []
    for spec in step_specs:
        target = nodes[spec["id"]]
        for need in spec.get("needs", []):
            source = nodes.get(need)
            if source is None:
                continue
            x1, y1 = source["x"] + NODE_WIDTH, source["y"] + NODE_HEIGHT / 2
            x2, y2 = target["x"], target["y"] + NODE_HEIGHT / 2
            middle = (x1 + x2) / 2
            edges.append(
                {
                    "d": f"M{x1},{y1} C{middle},{y1} {middle},{y2} {x2 - 4},{y2}",
                    "source": need,
                    "target": spec["id"],
                }
            )
    width = (max(columns, default=0) + 1) * (NODE_WIDTH + COLUMN_GAP) - COLUMN_GAP
    height = (
        max((len(specs) for specs in columns.values()), default=1) * (NODE_HEIGHT + ROW_GAP)
        - ROW_GAP
    )
    return {
        "nodes": list(nodes.values()),
        "edges": edges,
        "width": max(width, NODE_WIDTH),
        "height": max(height, NODE_HEIGHT),
        "node_width": NODE_WIDTH,
        "node_height": NODE_HEIGHT,
    }


def run_graph(job, steps):
    """The job's step graph (the template page's layout) with each node coloured by its
    step's status: the same step rows the timeline draws."""
    graph = step_graph(job.definition.get("steps", []))
    by_id = {step.step_id: step for step in steps}
    for node in graph["nodes"]:
        step = by_id.get(node["spec"]["id"])
        node["status"] = step.status if step else "pending"
        node["step"] = step
    return graph
