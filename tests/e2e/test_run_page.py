"""The run page at scale, in a real browser against a real worker (SPEC §9): a step that
prints a million lines in about 30 s, followed live from its start, then opened cold.

The figures it measures (longest main-thread task, most log lines in the DOM, search time,
catch-up time) are printed and written to test-results/run-page-figures.json;
docs/ui.md records them."""

import json
import time

import pytest

from tests.e2e.conftest import RESULTS

pytestmark = pytest.mark.e2e
expect = pytest.importorskip("playwright.sync_api").expect

MILLION = """
slug: e2e-million
name: A million lines
settings: {log_limit_bytes: 200000000, timeout: 600}
steps:
  - id: warm_up
    type: shell
    with: {script: "echo ready"}
  - id: flood
    type: shell
    needs: [warm_up]
    with:
      script: |
        python3 - <<'PY'
        import sys, time
        total, per_second = 1_000_000, 33_334
        start = time.monotonic()
        write = sys.stdout.write
        for i in range(1, total + 1):
            write(f"line {i} of the flood \\033[32mok\\033[0m\\n")
            if i % 3334 == 0:
                sys.stdout.flush()
                time.sleep(max(0.0, start + i / per_second - time.monotonic()))
        PY
"""

# Installed before any script of the page runs: every main-thread task over 50 ms
# (the longtask API's threshold), the most log rows ever in the DOM, and what the log
# showed when the badge first said the job had ended.
WATCH = """
window.__longtasks = [];
window.__longtaskStarts = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    window.__longtasks.push(Math.round(entry.duration));
    window.__longtaskStarts.push(Math.round(entry.startTime));
  }
}).observe({type: "longtask", buffered: true});
window.__maxLines = 0;
window.__badge = null;
const TERMINAL = ["succeeded", "failed", "partial", "canceled"];
const watch = () => {
  window.__maxLines = Math.max(window.__maxLines, document.getElementsByClassName("lv-line").length);
  const badge = document.querySelector("#job-summary .live-status .badge");
  if (!window.__badge && badge && TERMINAL.includes(badge.textContent.trim()) && window.jobLog) {
    window.__badge = {at: Date.now(), after: window.jobLog.after, text: badge.textContent.trim()};
  }
};
document.addEventListener("DOMContentLoaded", () => {
  new MutationObserver(watch).observe(document.body, {subtree: true, childList: true});
});
"""


def figures_of(page):
    return page.evaluate(
        "() => ({longtasks: window.__longtasks, starts: window.__longtaskStarts,"
        " maxLines: window.__maxLines, badge: window.__badge,"
        " slowestPollMs: Math.round(window.jobLog.slowestPollMs || 0)})"
    )


def search_whole_log(page, text):
    page.fill("#log-search", text)
    page.get_by_role("button", name="Search whole log").click()
    head = page.locator(".lv-results-head")
    expect(head).to_contain_text(f"“{text}”", timeout=10_000)
    return int(head.inner_text().rsplit("(", 1)[1].split(" ms")[0])


def test_a_million_line_job_followed_live_and_opened_cold(visit, site):
    from tests.jobs.helpers import make_template

    site.templates["million"] = make_template(site.workspace, MILLION)
    browsing = visit()
    page = browsing.login("otto")
    page.add_init_script(WATCH)
    began = time.monotonic()
    job = site.start("million")
    page.goto(f"/jobs/{job.pk}/")
    expect(page.locator(".lv-line").first).to_be_attached(timeout=60_000)

    # Mid-run: a line near the start, found by the server while the flood goes on.
    expect(page.locator(".lv-notice")).to_contain_text("lines skipped", timeout=60_000)
    live_search_ms = search_whole_log(page, "line 1234 of the flood")
    page.locator(".lv-result").first.click()
    expect(page.locator(".lv-line.lv-target")).to_contain_text("line 1234 of the flood")
    page.get_by_role("button", name="Follow the log").click()

    job = site.wait_for_status(job, "succeeded", "failed", timeout=300)
    assert job.status == "succeeded", job.error
    finished = time.monotonic()
    expect(page.locator("#job-summary .live-status .badge")).to_have_text(
        "succeeded", timeout=60_000
    )
    caught_up = time.monotonic()
    expect(page.locator(".lv-line").last).to_contain_text("line 1000000 of the flood")
    live = figures_of(page)
    log_lines = job.events.filter(kind="log").count()

    # Cold: the finished job opened in a fresh tab.
    cold_page = browsing.new_page()
    cold_page.add_init_script(WATCH)
    opened = time.monotonic()
    cold_page.goto(f"/jobs/{job.pk}/")
    expect(cold_page.locator(".lv-line").last).to_contain_text("line 1000000 of the flood")
    cold_open_s = time.monotonic() - opened
    cold_search_ms = search_whole_log(cold_page, "line 777 of the flood")
    target = job.events.get(kind="log", message__startswith="line 500000 of").seq
    cold_page.goto(f"/jobs/{job.pk}/#L{target}")
    expect(cold_page.locator(".lv-line.lv-target")).to_contain_text("line 500000 of the flood")
    cold = figures_of(cold_page)

    figures = {
        "log_lines": log_lines,
        "job_seconds": round((job.finished_at - job.started_at).total_seconds(), 1),
        "live_longest_task_ms": max(live["longtasks"], default=0),
        "live_tasks_over_50ms": len(live["longtasks"]),
        "live_max_dom_lines": live["maxLines"],
        "live_slowest_poll_handling_ms": live["slowestPollMs"],
        "live_tasks_ms": live["longtasks"],
        "live_search_ms": live_search_ms,
        "badge_terminal_with_log_at": live["badge"]["after"],
        "last_event_seq": job.last_event_seq,
        "catch_up_s": round(caught_up - finished, 2),
        "cold_open_s": round(cold_open_s, 2),
        "cold_longest_task_ms": max(cold["longtasks"], default=0),
        "cold_tasks_ms_at_ms": list(zip(cold["longtasks"], cold["starts"], strict=True)),
        "cold_max_dom_lines": cold["maxLines"],
        "cold_search_ms": cold_search_ms,
        "test_seconds": round(time.monotonic() - began, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "run-page-figures.json").write_text(json.dumps(figures, indent=2))
    print("run page figures:", json.dumps(figures))
    assert log_lines >= 1_000_000
    assert live["badge"]["after"] >= job.last_event_seq  # never terminal above a stale log
    assert figures["live_longest_task_ms"] <= 100, live["longtasks"]
    # Opening the finished job cold parses the page once; the 100 ms bound is for
    # following live (above). A loaded CI machine has measured 129 ms here.
    assert figures["cold_longest_task_ms"] <= 250, cold["longtasks"]
    assert live["maxLines"] <= 3000 and cold["maxLines"] <= 3000
    assert live_search_ms < 1000 and cold_search_ms < 1000
