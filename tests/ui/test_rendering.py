"""The pieces pages are drawn with: sanitized markdown, inert ANSI log text, durations
and the 24 h chart's numbers."""

from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Job
from jobs.services import create_job
from jobs.templatetags.jobsite_ui import ansi, duration, value_text
from jobs.views.charts import finished_per_hour, step_graph
from jobs.views.markdown import render_markdown


def test_markdown_keeps_formatting_and_drops_anything_active():
    html = render_markdown(
        "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n<script>alert(1)</script>"
        '<img src="x" onerror="alert(2)"> [bad](javascript:alert(3)) [mail](mailto:a@b.c) '
        '<a href="data:text/html,hi">data</a> <iframe src="https://evil.example"></iframe>'
    )
    assert "<h3>Title</h3>" in html and "<table>" in html  # headings sit below the page's own
    assert "<script" not in html and "alert(1)" not in html
    assert "onerror" not in html and "javascript:" not in html and "data:text" not in html
    assert "<iframe" not in html
    assert 'href="mailto:a@b.c"' in html


def test_ansi_colors_become_classes_and_everything_else_is_text():
    assert (
        str(ansi("\x1b[1;31mbad\x1b[0m <b>"))
        == '<span class="ansi-bold ansi-red">bad</span> &lt;b&gt;'
    )
    assert str(ansi("a\x1b]0;title\x07b\x1b[2Kc\x07d")) == "abcd"
    assert str(ansi("\x1b[38;5;196mx\x1b[39m")) == "x"


def test_durations_read_like_a_person_would_say_them():
    assert duration(None) == "—"
    assert duration(250) == "250 ms"
    assert duration(1520) == "1.5 s"
    assert duration(65_000) == "1 min 05 s"
    assert duration(3_720_000) == "1 h 02 min"


def test_values_are_shown_as_text():
    assert (
        value_text(True) == "true"
        and value_text(["eu", "us"]) == "eu, us"
        and value_text(None) == "—"
    )


@pytest.mark.django_db
def test_the_24h_chart_counts_jobs_per_hour_and_their_failure_rate(workspace, two_steps):
    now = timezone.now().replace(minute=30)
    statuses = ["succeeded", "succeeded", "failed", "partial", "canceled"]
    for index, status in enumerate(statuses):
        job = create_job(workspace, template=two_steps, start=False)
        hours_ago = 0 if index < 3 else 5
        Job.objects.filter(pk=job.pk).update(
            status=status, finished_at=now - timedelta(hours=hours_ago)
        )
    old = create_job(workspace, template=two_steps, start=False)
    Job.objects.filter(pk=old.pk).update(status="failed", finished_at=now - timedelta(hours=30))
    chart = finished_per_hour(Job.objects.filter(workspace=workspace), now=now)
    assert len(chart.bars) == 24 and chart.total == 5 and chart.failed == 3 and chart.peak == 3
    assert (chart.bars[-1].succeeded, chart.bars[-1].failed) == (2, 1)
    assert (chart.bars[-6].succeeded, chart.bars[-6].failed) == (0, 2)
    assert chart.bars[-6].failure_rate == 1.0 and round(chart.bars[-1].failure_rate, 2) == 0.33
    assert len(chart.rate_segments) == 1  # from the hour 5 h ago to the current hour


def test_step_graph_puts_each_step_right_of_what_it_needs():
    graph = step_graph([
        {"id": "a", "type": "noop"}, {"id": "b", "type": "noop"},
        {"id": "c", "type": "noop", "needs": ["a", "b"]}, {"id": "d", "type": "noop", "needs": ["c"]},
    ])  # fmt: skip
    x = {node["spec"]["id"]: node["x"] for node in graph["nodes"]}
    assert x["a"] == x["b"] < x["c"] < x["d"]
    assert len(graph["edges"]) == 3


def test_result_headings_move_below_the_pages_own():
    assert render_markdown("# a\n\n## b\n\n##### e") == "<h3>a</h3>\n<h4>b</h4>\n<h6>e</h6>"
    assert render_markdown("# a", heading_shift=0) == "<h1>a</h1>"


def test_who_started_a_job_reads_as_a_name_not_a_code():
    from jobs.templatetags.jobsite_ui import actor

    assert actor("user:admin") == "admin"
    assert actor("key:ci-bot") == "API key ci-bot"
    assert actor("schedule:nightly") == "schedule nightly"
    assert actor("trigger_url") == "trigger URL"
    assert actor("") == "—"
