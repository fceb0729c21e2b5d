"""The workspace's staff-only settings and a template's settings.limits reach the real
sandbox (issue 11 items 2 and 4): no hand-made SandboxPolicy here, only the settings."""

import socket
import threading

from jobs.services import create_job
from tests.jobs.helpers import make_template

CONNECT = """
slug: connect-{port}
name: Connect
steps:
  - id: connect
    type: shell
    with:
      command: ["python3", "-c", "import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('CONNECTED')"]
"""


def listening_port():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)

    def accept():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=accept, daemon=True).start()
    return server


def test_step_network_none_set_by_staff_keeps_a_step_off_127_0_0_1(workspace, run_tasks):
    server = listening_port()
    port = server.getsockname()[1]
    try:
        reachable = create_job(
            workspace, template=make_template(workspace, CONNECT.format(port=port))
        )
        run_tasks()
        workspace.step_network = "none"
        workspace.save(update_fields=["step_network"])
        cut_off = create_job(
            workspace, template=make_template(workspace, CONNECT.format(port=port))
        )
        run_tasks()
    finally:
        server.close()
    reachable.refresh_from_db()
    cut_off.refresh_from_db()
    assert reachable.status == "succeeded"
    assert cut_off.status == "failed"
    # Its own empty network namespace: nothing listens on its 127.0.0.1.
    assert (
        "Connection refused" in cut_off.steps.get().error
        or "unreachable" in cut_off.steps.get().error
    )


def test_a_templates_max_file_mb_is_enforced_in_the_sandbox(workspace, run_tasks):
    source = """
slug: big-file
name: Big file
steps:
  - id: write
    type: shell
    with:
      script: head -c 3M /dev/zero > "$JOBSITE_ARTIFACTS/big.bin"
settings:
  limits: {max_file_mb: 1}
"""
    job = create_job(workspace, template=make_template(workspace, source))
    run_tasks()
    job.refresh_from_db()
    assert job.status == "failed"
    assert job.steps.get().error.startswith("step exceeded max_file_mb=1")
