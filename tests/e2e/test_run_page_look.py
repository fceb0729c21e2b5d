"""How the run page looks and reads: screenshots (desktop light and dark, phone) of a
job running and of a job that failed after retries, and axe-core over every main page in
both colour schemes (0 critical, 0 serious).

axe-core is vendored under tests/e2e/vendor/ (from its npm package; MPL-2.0) and run
through page.evaluate, which the pages' Content-Security-Policy does not apply to."""

import os
from pathlib import Path

import pytest

from tests.e2e.conftest import PHONE

pytestmark = pytest.mark.e2e
expect = pytest.importorskip("playwright.sync_api").expect

AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text()
SCREENS = Path(os.environ.get("JOBSITE_SCREENS_DIR", "/tmp/screens"))
WIDE = {"width": 1440, "height": 900}

RETRYING = """
slug: e2e-retrying
name: Nightly sync
steps:
  - id: fetch
    type: shell
    with: {script: "for i in $(seq 1 30); do echo \\"fetched page $i\\"; done"}
  - id: upload
    type: shell
    needs: [fetch]
    retries: 2
    retry_backoff: 0
    with:
      script: |
        echo "connecting to the bucket"
        echo "ERROR: bucket refused the upload (503)" >&2
        exit 4
  - id: notify
    type: noop
    needs: [upload]
"""

LONG = """
slug: e2e-long
name: Long build
steps:
  - id: checkout
    type: shell
    with: {script: "for i in $(seq 1 40); do echo \\"checkout file $i\\"; done"}
  - id: build
    type: shell
    needs: [checkout]
    with:
      script: |
        for i in $(seq 1 400); do printf '\\033[32mok\\033[0m compiling unit %s\\n' "$i"; sleep 0.05; done
  - id: test
    type: shell
    needs: [build]
    with: {script: "echo tested"}
"""


def axe_violations(page):
    page.evaluate(AXE)
    result = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,"
        " target: v.nodes[0] && v.nodes[0].target.join(' ')}))"
    )
    return [v for v in result if v["impact"] in ("critical", "serious")]


def shoot(page, name):
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"))


def test_screenshots_of_the_run_page_running_and_after_failed_retries(visit, site):
    from tests.jobs.helpers import make_template

    site.templates["retrying"] = make_template(site.workspace, RETRYING)
    site.templates["long"] = make_template(site.workspace, LONG)
    failed = site.start("retrying")
    running = site.start("long")
    site.wait_for_status(failed, "failed", timeout=60)
    for scheme, viewport, suffix in (
        ("light", WIDE, "desktop-light"),
        ("dark", WIDE, "desktop-dark"),
        ("light", PHONE, "phone"),
    ):
        page = visit(viewport=viewport, color_scheme=scheme).login("otto")
        page.goto(f"/jobs/{running.pk}/")
        expect(page.locator("#log")).to_contain_text("compiling unit", timeout=30_000)
        shoot(page, f"running-{suffix}")
        page.goto(f"/jobs/{failed.pk}/")
        expect(page.locator("#log")).to_contain_text("bucket refused the upload")
        shoot(page, f"failed-retries-{suffix}")
    # Each attempt has its own group and its own error.
    expect(page.locator(".lv-toggle", has_text="attempt 1 of 3")).to_be_attached()
    expect(page.locator("#job-steps .attempt-row")).to_have_count(2)


def test_every_main_page_has_no_serious_accessibility_violation_in_light_and_dark(visit, site):
    from tests.jobs.helpers import make_template

    site.templates["retrying"] = make_template(site.workspace, RETRYING)
    failed = site.start("retrying")
    site.wait_for_status(failed, "failed", timeout=60)
    pages = [
        "/",
        "/templates/",
        "/templates/e2e-greet/",
        "/jobs/",
        f"/jobs/{failed.pk}/",
        f"/jobs/{failed.pk}/rerun/edit/",
        "/settings/members/",
        "/settings/keys/",
        "/settings/triggers/",
        "/settings/webhooks/",
        "/settings/webhooks/new/",
        "/settings/schedules/",
        "/settings/schedules/new/",
        "/templates/-/new/",
        "/templates/e2e-greet/edit/",
        "/templates/e2e-greet/versions/",
    ]
    found = {}
    for scheme in ("light", "dark"):
        anonymous = visit(color_scheme=scheme).page
        anonymous.goto("/login/")
        if axe_violations(anonymous):
            found[f"{scheme} /login/"] = axe_violations(anonymous)
        page = visit(color_scheme=scheme).login("ada")
        for url in pages:
            page.goto(url)
            page.wait_for_load_state("networkidle")
            violations = axe_violations(page)
            if violations:
                found[f"{scheme} {url}"] = violations
    assert found == {}


def test_a_banner_says_the_server_cannot_be_reached_and_goes_away_by_itself(visit, site):
    job = site.start("slow")
    browsing = visit()
    page = browsing.login("otto")
    page.goto(f"/jobs/{job.pk}/")
    expect(page.locator("#job-summary .live-status .badge")).to_have_text("running", timeout=30_000)
    banner = page.locator("#offline-banner")
    expect(banner).to_be_hidden()
    page.route(f"**/jobs/{job.pk}/**", lambda route: route.abort())
    expect(banner).to_be_visible(timeout=10_000)
    expect(banner).to_contain_text("The server cannot be reached")
    page.unroute(f"**/jobs/{job.pk}/**")
    expect(banner).to_be_hidden(timeout=10_000)
    # htmx reports each failed poll on the console: expected here, and only here.
    browsing.console_errors = [
        e
        for e in browsing.console_errors
        if not e.startswith(("htmx:sendError", "htmx:afterRequest"))
    ]
    from jobs.services import cancel_job

    cancel_job(job, force=True)


def test_the_editor_shows_problems_at_their_lines_as_you_type_and_saves_a_version(visit, site):
    for scheme, viewport, suffix in (
        ("light", WIDE, "desktop-light"),
        ("dark", WIDE, "desktop-dark"),
        ("light", PHONE, "phone"),
    ):
        page = visit(viewport=viewport, color_scheme=scheme).login("ada")
        page.goto("/templates/e2e-greet/edit/")
        expect(page.locator("#editor-check")).to_contain_text("Valid")
        source = page.locator("#id_source")
        text = source.input_value()
        source.fill(
            text.replace("type: report", "type: reprot").replace("default: 4", "default: 40")
        )
        problems = page.locator("#editor-problems li")
        expect(problems).to_have_count(2, timeout=5_000)
        expect(problems.first).to_contain_text("Line 6")  # count's default above its max
        expect(page.locator(".editor-gutter .bad-line")).to_have_count(2)
        shoot(page, f"editor-problems-{suffix}")
        page.locator(".goto-line").first.click()
        assert page.evaluate("document.activeElement.id") == "id_source"
    source.fill(text.replace("Greeting", "Greeting, edited"))
    expect(page.locator("#editor-check")).to_contain_text("Valid", timeout=5_000)
    expect(page.locator("#editor-check input[name=var-count]")).to_have_value("4")  # the preview
    page.get_by_role("button", name="Save as a new version").click()
    expect(page.locator(".message-success")).to_contain_text("Saved version 2 of Greeting, edited")
    page.goto("/templates/e2e-greet/versions/")
    expect(page.locator(".diff-add")).to_contain_text("Greeting, edited")
    page.get_by_role("button", name="Restore v1").click()
    page.get_by_role("dialog").get_by_role("button", name="Restore").click()
    expect(page.locator(".message-success")).to_contain_text("Version 1 restored as version 3")


def test_a_destructive_action_asks_first_and_keep_it_changes_nothing(visit, site):
    from jobsite.models import ApiKey, Role

    key, _ = ApiKey.issue(site.workspace, "ci-bot", role=Role.VIEWER)
    page = visit().login("ada")
    page.goto("/settings/keys/")
    page.get_by_role("button", name="Revoke").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Revoke the key ci-bot?")
    expect(dialog.get_by_role("button", name="Keep it")).to_be_focused()
    dialog.get_by_role("button", name="Keep it").click()
    expect(dialog).to_be_hidden()
    key.refresh_from_db()
    assert key.revoked_at is None
    page.get_by_role("button", name="Revoke").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    expect(page.locator("td", has_text="revoked")).to_be_visible()
    key.refresh_from_db()
    assert key.revoked_at is not None
