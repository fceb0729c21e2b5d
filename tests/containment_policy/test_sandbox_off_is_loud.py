"""Off is loud (SPEC §13, issue 11 item 3): a system check warns when the step sandbox is
off and refuses `check --deploy` when several workspaces share the server; /readyz and
the pages of server staff say so; JOBSITE_SANDBOX=bwrap without a working bwrap stops
`serve`, `worker` and `qcluster` at start with one line."""

import subprocess
import sys

import pytest
from django.core.checks import run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import Client

from jobsite.models import Membership, Role
from tests.worker_cluster import ROOT, Deployment


@pytest.fixture
def sandbox_off(settings):
    settings.JOBSITE_SANDBOX = "off"


@pytest.fixture
def sandbox_on(settings):
    # "bwrap" means: the server runs every shell step in bubblewrap (it refuses to start
    # otherwise), so nothing here needs a working bwrap.
    settings.JOBSITE_SANDBOX = "bwrap"


def check_ids(**kwargs):
    return {
        message.id for message in run_checks(include_deployment_checks=kwargs.get("deploy", False))
    }


def test_a_system_check_warns_when_the_sandbox_is_off(sandbox_off, db):
    warnings = [message for message in run_checks() if message.id == "jobsite.W010"]
    assert len(warnings) == 1
    assert "the step sandbox is off (JOBSITE_SANDBOX=off)" in warnings[0].msg
    assert warnings[0].is_serious() is False


def test_no_warning_when_the_sandbox_is_on(sandbox_on, db):
    assert not {"jobsite.W010", "jobsite.E010"} & check_ids(deploy=True)


def test_check_deploy_is_an_error_when_several_workspaces_share_a_server_without_the_sandbox(
    sandbox_off, workspace, other_workspace
):
    with pytest.raises(SystemCheckError) as failed:
        call_command("check", deploy=True, fail_level="ERROR")
    assert "jobsite.E010" in str(failed.value)
    assert "2 workspaces share this server" in str(failed.value)


def test_check_deploy_with_one_workspace_only_warns(sandbox_off, workspace):
    ids = check_ids(deploy=True)
    assert "jobsite.W010" in ids and "jobsite.E010" not in ids


def test_readyz_reports_the_sandbox(client, db, settings):
    settings.JOBSITE_SANDBOX = "off"
    assert client.get("/readyz").json()["sandbox"] == "off"
    settings.JOBSITE_SANDBOX = "bwrap"
    assert client.get("/readyz").json()["sandbox"] == "bwrap"


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def staff_member(workspace, django_user_model):
    user = django_user_model.objects.create_user("ops", password="x", is_staff=True)
    Membership.objects.create(workspace=workspace, user=user, role=Role.VIEWER)
    return user


def test_staff_see_a_banner_on_the_dashboard_and_the_cluster_page_when_the_sandbox_is_off(
    sandbox_off, staff_member
):
    client = logged_in(staff_member)
    dashboard = client.get("/").content.decode()
    assert (
        'id="sandbox-off"' in dashboard
        and "Sandbox off." in dashboard
        and "JOBSITE_SANDBOX=off" in dashboard
    )
    cluster = client.get("/admin/cluster/").content.decode()
    assert 'id="sandbox-off"' in cluster and "Step sandbox: <strong>off</strong>" in cluster


def test_workspace_admins_who_are_not_staff_see_no_banner(sandbox_off, admin_user):
    assert 'id="sandbox-off"' not in logged_in(admin_user).get("/").content.decode()


def test_staff_see_no_banner_when_the_sandbox_is_on(sandbox_on, staff_member):
    client = logged_in(staff_member)
    assert 'id="sandbox-off"' not in client.get("/").content.decode()
    assert "Step sandbox: <strong>bwrap</strong>" in client.get("/admin/cluster/").content.decode()


@pytest.mark.slow
@pytest.mark.parametrize("command", [["serve", "--bind", "127.0.0.1:0"], ["worker"], ["qcluster"]])
def test_a_required_sandbox_that_does_not_work_stops_the_step_runners_at_start_with_one_line(
    tmp_path, command
):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "bwrap").write_text(
        "#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\nexit 1\n"
    )
    (fake / "bwrap").chmod(0o755)
    deploy = Deployment(tmp_path)
    deploy.env.update({"JOBSITE_SANDBOX": "bwrap", "PATH": f"{fake}:{deploy.env['PATH']}"})
    deploy.manage("migrate", "--noinput", "-v", "0")
    result = subprocess.run(
        [sys.executable, "manage.py", *command],
        cwd=ROOT,
        env=deploy.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "configuration error: JOBSITE_SANDBOX=bwrap but bwrap does not work here:"
    )
    assert "Traceback" not in result.stderr + result.stdout
