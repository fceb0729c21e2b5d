"""Worker pools (SPEC §14), through the real broker in-process (the ORM broker in `make
test`, Redis in `make test-postgres`): a step runs only on a host of its pool, waits
with a reason while its pool has no live host, and starts when one appears."""

import pytest
from django.db import connection
from django.utils import timezone
from django_q.signing import SignedPackage

from jobs.engine.pools import mark_pool_waits
from jobs.engine.queue import broker_queue_size, pool_broker, queue_name
from jobs.models import Job, WorkerHost
from jobs.services import create_job
from jobs.worker import hosts
from templates_app.definition import DefinitionError, load_definition
from tests.jobs.helpers import make_template

TRAIN = """
slug: train
name: Train
steps:
  - {id: build, type: noop}
  - {id: train, type: noop, needs: [build], runs_on: gpu}
  - {id: publish, type: noop, needs: [train]}
"""


def run_as_host(settings, host_id, pools, rounds=20):
    """Be worker host `host_id` serving `pools`: take the tasks of each of its pools'
    queues, as its qclusters would, until they are empty. Returns how many ran."""
    settings.JOBSITE_WORKER_ID = host_id
    settings.JOBSITE_POOLS = list(pools)
    hosts.beat(host_id)
    ran = 0
    for _ in range(rounds):
        took = 0
        for pool in pools:
            broker = pool_broker(pool)
            while broker.queue_size():
                for task_id, payload in broker.dequeue() or []:
                    task = SignedPackage.loads(payload)
                    module, name = task["func"].rsplit(".", 1)
                    getattr(__import__(module, fromlist=[name]), name)(
                        *task["args"], **task["kwargs"]
                    )
                    broker.acknowledge(task_id)
                    took += 1
        ran += took
        if not took:
            break
    connection.close_if_unusable_or_obsolete()
    return ran


def steps_by_id(job):
    return {step.step_id: step for step in job.steps.all()}


@pytest.fixture
def staff_client(client, workspace):
    from django.contrib.auth import get_user_model

    client.force_login(
        get_user_model().objects.create_superuser("root", "root@example.invalid", "pw")
    )
    return client


@pytest.fixture
def pools_env(transactional_db, settings):
    settings.JOBSITE_POOLS = ["default"]
    for pool in ("default", "gpu"):  # Redis keeps a queue between tests
        pool_broker(pool).purge_queue()
    yield settings
    WorkerHost.objects.all().delete()


def test_each_pool_has_its_own_queue_and_the_default_pool_keeps_the_configured_name(settings):
    assert queue_name("default") == settings.Q_CLUSTER["name"]
    assert queue_name("gpu") == settings.Q_CLUSTER["name"] + ".gpu"


def test_a_step_that_runs_on_gpu_runs_only_on_a_gpu_worker(workspace, pools_env):
    settings = pools_env
    job = create_job(workspace, template=make_template(workspace, TRAIN), name="train-1")

    run_as_host(settings, "cpu-1", ["default"])
    steps = steps_by_id(job)
    assert steps["build"].status == "succeeded" and steps["build"].worker_id.startswith("cpu-1:")
    assert steps["train"].status == "queued" and steps["train"].pool == "gpu"
    assert broker_queue_size("gpu") == 1

    # The cpu host keeps taking its queue; the gpu step is never its.
    assert run_as_host(settings, "cpu-1", ["default"]) == 0
    assert steps_by_id(job)["train"].status == "queued"

    run_as_host(settings, "gpu-1", ["gpu"])
    run_as_host(settings, "cpu-1", ["default"])
    steps = steps_by_id(job)
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert steps["train"].worker_id.startswith("gpu-1:")
    assert steps["build"].worker_id.startswith("cpu-1:") and steps["publish"].worker_id.startswith(
        "cpu-1:"
    )


def test_a_gpu_step_waits_with_a_reason_while_no_gpu_host_is_alive_and_starts_when_one_appears(
    workspace, pools_env, client, api_key
):
    settings = pools_env
    job = create_job(workspace, template=make_template(workspace, TRAIN), name="train-2")
    run_as_host(settings, "cpu-1", ["default"])
    # A gpu host that stopped long ago does not count.
    WorkerHost.objects.create(
        host_id="old-gpu",
        pools=["gpu"],
        last_seen_at=timezone.now() - timezone.timedelta(minutes=5),
    )

    assert mark_pool_waits() == 1
    response = client.get(f"/api/v1/jobs/{job.pk}/", HTTP_AUTHORIZATION=f"Bearer {api_key()}")
    train = next(step for step in response.json()["steps"] if step["id"] == "train")
    assert train["status"] == "queued"
    assert train["pool"] == "gpu"
    assert train["waiting_reason"] == "no worker in pool gpu"

    # A gpu host appears: the reason goes, the step runs, the job finishes.
    hosts.beat("gpu-2")
    WorkerHost.objects.filter(host_id="gpu-2").update(pools=["gpu"])
    mark_pool_waits()
    assert steps_by_id(job)["train"].waiting_reason == ""
    run_as_host(settings, "gpu-2", ["gpu"])
    run_as_host(settings, "cpu-1", ["default"])
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert steps_by_id(job)["train"].worker_id.startswith("gpu-2:")


def test_the_template_pool_then_the_workspace_default_choose_where_steps_without_runs_on_go(
    workspace, pools_env
):
    template = make_template(
        workspace,
        """
        slug: mixed
        name: Mixed
        settings: {runs_on: build-farm}
        steps:
          - {id: a, type: noop}
          - {id: b, type: noop, runs_on: gpu}
        """,
    )
    plain = make_template(workspace, "slug: plain\nname: Plain\nsteps:\n  - {id: a, type: noop}\n")
    workspace.default_pool = "team-x"
    workspace.save()

    mixed_steps = steps_by_id(create_job(workspace, template=template, name="m"))
    plain_steps = steps_by_id(create_job(workspace, template=plain, name="p"))

    assert mixed_steps["a"].pool == "build-farm" and mixed_steps["b"].pool == "gpu"
    assert plain_steps["a"].pool == "team-x"


def test_a_task_delivered_to_a_host_of_another_pool_is_not_run_there_but_sent_to_its_pool(
    workspace, pools_env
):
    from jobs.worker.step_runner import run_step

    settings = pools_env
    job = create_job(workspace, template=make_template(workspace, TRAIN), name="train-3")
    run_as_host(settings, "cpu-1", ["default"])
    train = steps_by_id(job)["train"]
    settings.JOBSITE_POOLS = ["default"]
    assert run_step(train.pk, train.attempt) == "not claimed"
    assert steps_by_id(job)["train"].status == "queued"
    assert broker_queue_size("gpu") == 2  # the original task and the one sent on
    run_as_host(settings, "gpu-1", ["gpu"])
    run_as_host(settings, "cpu-1", ["default"])
    job.refresh_from_db()
    assert job.status == "succeeded"
    assert Job.objects.get(pk=job.pk).steps.get(step_id="train").worker_id.startswith("gpu-1:")


def test_any_pool_name_is_accepted_while_the_server_declares_no_closed_list(settings):
    settings.JOBSITE_KNOWN_POOLS = []
    definition = load_definition(
        "slug: t\nname: T\nsteps:\n  - {id: a, type: noop, runs_on: someday}\n"
    )
    assert definition["steps"][0]["runs_on"] == "someday"


def test_an_unknown_pool_is_refused_naming_the_field_when_the_server_declares_its_pools(settings):
    settings.JOBSITE_KNOWN_POOLS = ["default", "gpu"]
    with pytest.raises(DefinitionError) as refused:
        load_definition(
            "slug: t\nname: T\nsettings: {runs_on: tpu}\nsteps:\n  - {id: a, type: noop, runs_on: fpga}\n  - {id: b, type: noop, runs_on: gpu}\n"
        )
    assert refused.value.errors == {
        "settings.runs_on": ["unknown pool 'tpu'; known pools: default, gpu"],
        "steps.a.runs_on": ["unknown pool 'fpga'; known pools: default, gpu"],
    }


@pytest.mark.parametrize("bad", ["GPU", "", "a b", 7, "x" * 64])
def test_a_malformed_pool_name_is_refused(bad):
    with pytest.raises(DefinitionError) as refused:
        load_definition(
            {"slug": "t", "name": "T", "steps": [{"id": "a", "type": "noop", "runs_on": bad}]}
        )
    assert list(refused.value.errors) == ["steps.a.runs_on"]


def test_the_cluster_page_shows_each_pool_with_its_hosts_running_queue_and_a_pool_without_hosts(
    staff_client, workspace, pools_env
):
    settings = pools_env
    create_job(workspace, template=make_template(workspace, TRAIN), name="train-4")
    run_as_host(settings, "cpu-1", ["default"])  # build ran; train waits in gpu

    html = staff_client.get("/admin/cluster/").content.decode()
    pools_table = html.split('<table id="pools">', 1)[1].split("</table>", 1)[0]
    rows = {row.split("<td>", 2)[1].split("</td>")[0]: row for row in pools_table.split("<tr>")[2:]}
    assert set(rows) == {"default", "gpu"}
    assert "cpu-1" in rows["default"]
    assert "no worker in pool gpu" in rows["gpu"]
    assert "<td>1</td>" in rows["gpu"]  # one queued step


def test_staff_set_a_workspace_default_pool_in_the_admin(staff_client, workspace):
    page = staff_client.get(f"/admin/jobsite/workspace/{workspace.pk}/change/").content.decode()
    assert 'name="default_pool"' in page
