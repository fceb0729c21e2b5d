"""`step_network: none` (issue 11, item 2): no connection to anything on the host, not
PostgreSQL, not Redis, not the web server; with `host` the same probe connects."""

import socket

import pytest

from tests.containment.steps import run_shell_step


@pytest.fixture
def web_server_port():
    """A listening socket on 127.0.0.1 standing in for the web server: the kernel
    completes a connection to it without anyone calling accept()."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def probe_script(ports):
    return "\n".join(
        f'timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/{port}" 2>/dev/null && echo "OPEN {port}" || echo "CLOSED {port}"'
        for port in ports
    )


def test_with_network_none_a_step_reaches_nothing_on_the_host(
    workspace, run_tasks, web_server_port
):
    workspace.step_network = "none"  # what server staff set in the admin
    workspace.save(update_fields=["step_network"])
    ports = [5432, 6379, web_server_port]

    job, lines, _ = run_shell_step(workspace, run_tasks, probe_script(ports))

    assert [line for line in lines if line.startswith(("OPEN", "CLOSED"))] == [
        f"CLOSED {port}" for port in ports
    ]


def test_with_network_host_the_same_probe_reaches_the_web_server(
    workspace, run_tasks, web_server_port
):
    assert workspace.step_network == "host"  # the default
    job, lines, _ = run_shell_step(workspace, run_tasks, probe_script([web_server_port]))

    assert f"OPEN {web_server_port}" in lines, lines
