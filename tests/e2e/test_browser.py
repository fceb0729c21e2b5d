"""The web UI in a real browser, against a real worker: what an operator does all day."""

import re
import time

import pytest

from jobs.models import Job
from tests.e2e.conftest import DESKTOP, PHONE

pytestmark = pytest.mark.e2e
# Only `make test-e2e` installs Playwright; the default suite must still collect this file.
expect = pytest.importorskip("playwright.sync_api").expect

LIVE_WAIT = 30_000  # ms: a job of a few seconds, with room for a slow CI machine


def job_status(page):
    return page.locator("#job-summary .badge").first


def log_lines(page):
    """The log rows in the DOM (the viewer draws only those in and near its window)."""
    return page.locator("#log .lv-line")


def test_log_in_start_after_fixing_an_error_and_follow_the_job_live(visit, site):
    page = visit().login("otto")
    expect(page.locator("h1")).to_have_text("Dashboard")
    page.get_by_role("link", name="Templates").click()
    page.get_by_role("link", name="Greeting").click()

    page.fill("#id_var-count", "99")
    page.fill("#id_job_name", "Greeting from the browser")
    page.get_by_role("button", name="Start", exact=True).click()
    expect(page.locator("#id_var-count_error")).to_contain_text("must be at most 10")
    expect(page.locator("#id_var-count")).to_be_focused()  # the first invalid field
    assert Job.objects.count() == 0
    expect(page.locator("#id_job_name")).to_have_value("Greeting from the browser")

    page.fill("#id_var-count", "6")
    page.fill("#id_var-who", "browser")
    page.get_by_role("button", name="Start", exact=True).click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    expect(page.locator("h1.job-title")).to_have_text("Greeting from the browser")

    # Lines arrive while the job runs, without a reload.
    expect(job_status(page)).to_have_text("running", timeout=LIVE_WAIT)
    expect(log_lines(page).first).to_contain_text("line 1 for browser", timeout=LIVE_WAIT)
    assert log_lines(page).count() < 6  # the page is following a job still running
    expect(job_status(page)).to_have_text("succeeded", timeout=LIVE_WAIT)

    # Every line exactly once, in order; polling stopped; result and artifact shown.
    expect(log_lines(page)).to_have_count(6)
    texts = [line.inner_text() for line in log_lines(page).locator(".lv-msg").all()]
    assert texts == [f"line {i} for browser" for i in range(1, 7)]
    expect(page.locator("#job-poller")).not_to_have_attribute("hx-trigger", re.compile("every"))
    expect(page.locator(".markdown h3")).to_have_text("Greeted browser")
    expect(page.get_by_role("link", name="step:talk.greeting.txt")).to_be_visible()
    expect(page.locator("#job-summary progress")).to_have_attribute("value", "100")
    job = Job.objects.get()
    assert job.status == "succeeded" and job.variables == {"count": 6, "who": "browser"}


def test_a_double_click_on_start_makes_one_job(visit, site):
    page = visit().login("otto")
    page.goto("/templates/e2e-greet/")
    page.fill("#id_var-count", "1")
    page.get_by_role("button", name="Start", exact=True).dblclick()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    expect(job_status(page)).to_have_text("succeeded", timeout=LIVE_WAIT)
    assert Job.objects.count() == 1


def test_the_log_follows_new_lines_until_the_reader_scrolls_up(visit, site):
    job = site.start("chatty")
    page = visit().login("otto")
    page.goto(f"/jobs/{job.pk}/")
    log = page.locator("#log")
    at_bottom = "(box) => box.scrollHeight - box.scrollTop - box.clientHeight < 24"
    expect(log).to_contain_text("chatter 40", timeout=LIVE_WAIT)
    assert log.evaluate(at_bottom)  # following
    follow = page.get_by_role("button", name="Follow the log")
    expect(follow).to_be_hidden()
    log.evaluate("(box) => { box.scrollTop = 0; box.dispatchEvent(new Event('scroll')); }")
    expect(follow).to_be_visible()
    seen = page.evaluate("window.jobLog.after")
    deadline = time.monotonic() + LIVE_WAIT / 1000  # (wait_for_function evals: the CSP says no)
    while page.evaluate("window.jobLog.after") <= seen + 10 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert log.evaluate("(box) => box.scrollTop") == 0  # paused where the reader is
    follow.click()
    assert log.evaluate(at_bottom)
    expect(follow).to_be_hidden()
    expect(job_status(page)).to_have_text("succeeded", timeout=LIVE_WAIT)
    expect(log_lines(page).last).to_contain_text("chatter 120")
    assert log.evaluate(at_bottom)
    # The DOM holds the rows in view, not the whole log.
    assert log_lines(page).count() < 120


def test_cancel_a_running_job_and_watch_it_become_canceled(visit, site):
    job = site.start("slow")
    browsing = visit()
    page = browsing.login("otto")
    # Two more tabs stay open on the list and the dashboard: their live parts follow too.
    jobs_tab, dashboard_tab = browsing.new_page(), browsing.new_page()
    jobs_tab.goto("/jobs/")
    dashboard_tab.goto("/")
    page.goto(f"/jobs/{job.pk}/")
    expect(job_status(page)).to_have_text("running", timeout=LIVE_WAIT)
    row = jobs_tab.locator(f"#job-row-{job.pk} .badge")
    expect(row).to_have_text("running", timeout=LIVE_WAIT)
    expect(dashboard_tab.locator(".job-rows")).to_contain_text("Slow sleeper", timeout=LIVE_WAIT)
    expect(page.locator("#job-steps")).to_contain_text("nap")
    page.get_by_role("button", name="Cancel", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel the job").click()
    expect(page.locator(".message-success")).to_have_text("Cancel requested.")
    expect(job_status(page)).to_have_text("canceled", timeout=LIVE_WAIT)
    expect(page.get_by_role("button", name="Rerun", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Cancel", exact=True)).to_have_count(0)
    expect(row).to_have_text("canceled", timeout=LIVE_WAIT)  # no reload of the list
    expect(dashboard_tab.locator("#dashboard-live")).to_contain_text(
        "Nothing is running", timeout=LIVE_WAIT
    )
    site.wait_for_status(job, "canceled")
    assert job.steps.get(step_id="nap").status == "canceled"


def test_rerun_only_the_failed_steps_of_a_partial_job(visit, site):
    job = site.start("flaky", variables={"marker": site.marker("cleanup-ran")})
    site.wait_for_status(job, "partial")
    page = visit().login("otto")
    page.goto(f"/jobs/{job.pk}/")
    expect(job_status(page)).to_have_text("partial")
    expect(page.locator("#log")).to_contain_text("scratch volume is busy")
    page.get_by_role("button", name="Rerun failed steps").click()
    page.wait_for_url(re.compile(r"/jobs/[0-9a-f-]+/$"))
    assert page.url.rstrip("/").split("/")[-1] != str(job.pk)
    expect(job_status(page)).to_have_text("succeeded", timeout=LIVE_WAIT)
    steps = page.locator("#job-steps tbody")
    expect(steps.locator("tr", has_text="vacuum")).to_contain_text("(reused)")
    expect(steps.locator("tr", has_text="cleanup")).not_to_contain_text("(reused)")
    expect(page.locator("#log")).to_contain_text("cleanup ran again and worked")
    expect(page.locator("#log")).not_to_contain_text("vacuum ran")  # not run again
    expect(page.locator(".lineage")).to_contain_text("attempt 1")
    rerun = Job.objects.get(original_job=job)
    assert rerun.attempt == 2 and rerun.status == "succeeded"


def test_a_viewer_sees_no_action_buttons(visit, site):
    running = site.start("slow")
    page = visit().login("vic")
    site.wait_for_status(running, "running")
    page.goto(f"/jobs/{running.pk}/")
    expect(job_status(page)).to_have_text("running")
    expect(page.locator("#job-actions button, #job-actions a")).to_have_count(0)
    page.goto("/templates/e2e-greet/")
    expect(page.locator("form.start-form")).to_have_count(0)
    expect(page.get_by_role("button", name="Start", exact=True)).to_have_count(0)
    page.goto("/")
    expect(page.get_by_role("link", name="Settings")).to_have_count(0)
    running.refresh_from_db()
    from jobs.services import cancel_job

    cancel_job(running)


def test_hostile_names_values_logs_and_results_stay_inert(visit, site):
    job = site.start("xss", name='Job <script>alert("n")</script><img src=x onerror=alert("n2")>')
    site.wait_for_status(job, "succeeded")
    draft = site.start(
        "xss", variables={"payload": '"><img src=x onerror=alert("v2")>'}, start=False
    )
    page = visit().login("otto")
    injected = page.evaluate  # shorthand
    for url in [
        "/",
        "/jobs/",
        f"/jobs/{job.pk}/",
        f"/jobs/{draft.pk}/",
        "/templates/",
        "/templates/e2e-xss/",
        f"/jobs/{job.pk}/rerun/edit/",
    ]:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        assert injected("document.querySelectorAll('script:not([src])').length") == 0, url
        assert (
            injected("document.querySelectorAll('[onerror], [onload], [onclick]').length") == 0
        ), url
        assert injected("document.querySelectorAll('a[href^=\"javascript:\" i]').length") == 0, url
        assert injected("document.querySelectorAll('main img, main svg image').length") == 0, url
    page.goto(f"/jobs/{job.pk}/")
    expect(page.locator("h1.job-title")).to_contain_text(
        '<script>alert("n")</script>'
    )  # shown as text
    first = log_lines(page).first
    expect(first.locator(".ansi-red.ansi-bold")).to_have_text('<script>alert("v")</script>')
    expect(first.locator(".ansi-green")).to_have_text("green")
    assert "\x1b" not in page.locator("#log").inner_text()
    expect(page.locator("#log")).to_contain_text('<img src=x onerror=alert("log")>  after')
    expect(page.locator(".markdown h3").first).to_have_text(
        "Result"
    )  # the script is gone, content and all
    expect(page.locator(".markdown a", has_text="click me")).not_to_have_attribute(
        "href", re.compile("javascript")
    )


def test_every_page_sends_a_content_security_policy(visit, site):
    job = site.start("greet", variables={"count": 1})
    site.wait_for_status(job, "succeeded")
    page = visit().page
    response = page.goto("/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    visit_page = visit().login("ada")
    for url in [
        "/",
        "/templates/",
        "/templates/e2e-greet/",
        "/jobs/",
        f"/jobs/{job.pk}/",
        "/settings/members/",
        "/settings/keys/",
        "/settings/triggers/",
    ]:
        response = visit_page.goto(url)
        assert response.status == 200, url
        policy = response.headers.get("content-security-policy", "")
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy, url


def test_screenshots_of_every_main_page(visit, site):
    """Saved under test-results/ for people to look at; the test checks each page drew."""
    finished = site.start(
        "greet", variables={"count": 3, "who": "screenshots"}, name="Greeting for the screenshots"
    )
    site.start(
        "flaky",
        variables={"marker": site.marker("screenshots")},
        name="Flaky maintenance (partial)",
    )
    site.start("greet", start=False, name="A draft greeting")
    site.wait_for_status(finished, "succeeded")
    running = site.start("slow", name="Slow sleeper (running)")
    site.wait_for_status(running, "running")
    pages = [
        ("dashboard", "/"),
        ("templates", "/templates/"),
        ("template-detail", "/templates/e2e-greet/"),
        ("jobs", "/jobs/"),
        ("job-running", f"/jobs/{running.pk}/"),
        ("job-finished", f"/jobs/{finished.pk}/"),
        ("settings-members", "/settings/members/"),
        ("settings-keys", "/settings/keys/"),
    ]
    for size_name, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        for scheme in ("light", "dark") if size_name == "desktop" else ("light",):
            suffix = f"{size_name}" + ("-dark" if scheme == "dark" else "")
            anonymous = visit(viewport=viewport, color_scheme=scheme)
            anonymous.page.goto("/login/")
            anonymous.screenshot(f"login-{suffix}")
            one = visit(viewport=viewport, color_scheme=scheme)
            page = one.login("ada")
            for name, url in pages:
                page.goto(url)
                expect(page.locator("main h1").first).to_be_visible()
                if name == "job-running":
                    # The running step (a sleep) is open and says it has no lines; the
                    # finished warm-up above it is collapsed.
                    expect(page.locator("#log .lv-toggle[aria-expanded=true]")).to_contain_text(
                        "nap", timeout=LIVE_WAIT
                    )
                width = page.evaluate("document.documentElement.scrollWidth")
                assert width <= viewport["width"], (
                    f"{name} scrolls sideways at {viewport['width']} px"
                )
                one.screenshot(f"{name}-{suffix}")
    from jobs.services import cancel_job

    cancel_job(running)


def test_the_jobs_list_shows_a_new_job_without_a_reload(visit, site):
    finish = site.start("greet", name="An earlier job", variables={"count": 1})
    site.wait_for_status(finish, "succeeded")
    page = visit().login("otto")
    page.goto("/jobs/")
    expect(page.locator("#job-rows tr")).to_have_count(1)
    fresh = site.start("chatty", name="A job started elsewhere")
    row = page.locator(f"#job-row-{fresh.pk}")
    expect(row).to_contain_text("A job started elsewhere", timeout=LIVE_WAIT)
    expect(page.locator("#job-rows tr").first).to_have_id(f"job-row-{fresh.pk}")  # on top
    expect(row.locator(".badge")).to_have_text("succeeded", timeout=LIVE_WAIT)  # and followed
