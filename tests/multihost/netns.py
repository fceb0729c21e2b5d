"""Worker hosts that really are apart, on one machine: each in its own network
namespace, joined to the host by a veth pair in a private /30 the harness creates, and
reaching PostgreSQL and Redis (which listen on 127.0.0.1 only) through socat relays
bound to the host side of each veth. Cutting a host off is `ip link set <veth> down`.

Everything made here is listed and removed by `close()`, also after a failure."""

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PG_RELAY_PORT = 15432
REDIS_RELAY_PORT = 16379


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def why_not_available() -> str | None:
    """None when namespaces can be made here, else the reason to skip."""
    if os.geteuid() != 0:
        return "needs root (ip netns, veth pairs): CI runs as root; run `sudo make test-multihost`"
    if not shutil.which("ip"):
        return "needs iproute2's `ip`"
    if not shutil.which("socat"):
        return (
            "needs socat for the database and Redis relays (make test-multihost installs Debian's)"
        )
    probe = f"jsprobe{os.getpid()}"
    made = ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"`ip netns add` fails here: {made.stderr.strip()}"
    ip("netns", "del", probe, check=False)
    return None


@dataclass
class Host:
    name: str
    pools: list[str]
    netns: str
    veth_host: str
    addr_host: str
    addr_ns: str
    relays: list = field(default_factory=list)
    proc: subprocess.Popen | None = None


class Network:
    def __init__(self, tag: str):
        self.tag = tag
        self.hosts: dict[str, Host] = {}
        # One /30 per namespace in 10.213.0.0/16, spread by the test's pid so two runs
        # on one machine do not collide.
        self.base = (os.getpid() % 60) * 4

    def add_host(self, name: str, pools: list[str]) -> Host:
        index = len(self.hosts)
        third = self.base + index
        host = Host(
            name=name, pools=pools, netns=f"js-{self.tag}-{index}", veth_host=f"js{self.tag}{index}h",
            addr_host=f"10.213.{third}.1", addr_ns=f"10.213.{third}.2",
        )  # fmt: skip
        self.hosts[name] = host
        ip("netns", "add", host.netns)
        veth_ns = f"js{self.tag}{index}n"
        ip("link", "add", host.veth_host, "type", "veth", "peer", "name", veth_ns)
        ip("link", "set", veth_ns, "netns", host.netns)
        ip("addr", "add", f"{host.addr_host}/30", "dev", host.veth_host)
        ip("link", "set", host.veth_host, "up")
        ip("netns", "exec", host.netns, "ip", "addr", "add", f"{host.addr_ns}/30", "dev", veth_ns)
        ip("netns", "exec", host.netns, "ip", "link", "set", veth_ns, "up")
        ip("netns", "exec", host.netns, "ip", "link", "set", "lo", "up")
        for port, target in (
            (PG_RELAY_PORT, "127.0.0.1:5432"),
            (REDIS_RELAY_PORT, "127.0.0.1:6379"),
        ):
            host.relays.append(
                subprocess.Popen(
                    [
                        "socat",
                        f"TCP-LISTEN:{port},bind={host.addr_host},reuseaddr,fork",
                        f"TCP:{target}",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )  # fmt: skip
            )
        return host

    def start_worker(
        self, host: Host, env: dict, log_dir: Path, database: str, redis_db: int
    ) -> None:
        # Short TCP timeouts: on a cut link a call fails in seconds instead of the
        # kernel's ~15 minutes of retransmissions, so the worker notices it lost its lease.
        db_url = (
            f"postgres://postgres@{host.addr_host}:{PG_RELAY_PORT}/{database}"
            "?connect_timeout=3&keepalives=1&keepalives_idle=1&keepalives_interval=1&keepalives_count=2&tcp_user_timeout=3000"
        )
        redis_url = f"redis://{host.addr_host}:{REDIS_RELAY_PORT}/{redis_db}?socket_timeout=3&socket_connect_timeout=3"
        worker_env = {
            **env, "DATABASE_URL": db_url, "REDIS_URL": redis_url,
            "JOBSITE_WORKER_ID": host.name, "JOBSITE_POOLS": ",".join(host.pools),
        }  # fmt: skip
        log = open(log_dir / f"{host.name}.log", "ab")
        host.proc = subprocess.Popen(
            ["ip", "netns", "exec", host.netns, sys.executable, "manage.py", "worker"],
            cwd=ROOT, env=worker_env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def cut(self, host: Host) -> None:
        ip("link", "set", host.veth_host, "down")

    def restore(self, host: Host) -> None:
        ip("link", "set", host.veth_host, "up")

    def freeze_relay(self, host: Host, service: str) -> None:
        """A database-only or Redis-only partition of one host: SIGSTOP its relay (and
        the relay's per-connection children), so that traffic to that service stalls
        like a dropped link — the kernel still accepts bytes, nothing answers."""
        relay = host.relays[0 if service == "postgres" else 1]
        os.killpg(relay.pid, signal.SIGSTOP)

    def thaw_relay(self, host: Host, service: str) -> None:
        relay = host.relays[0 if service == "postgres" else 1]
        os.killpg(relay.pid, signal.SIGCONT)

    def kill9(self, host: Host) -> None:
        """SIGKILL every process in the host's namespace (the worker, its clusters,
        their workers, the steps' processes)."""
        pids = ip("netns", "pids", host.netns, check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        if host.proc:
            host.proc.wait(timeout=10)

    def close(self) -> None:
        for host in self.hosts.values():
            if host.proc and host.proc.poll() is None:
                try:
                    os.killpg(host.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            for pid in ip("netns", "pids", host.netns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            if host.proc:
                try:
                    host.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            for relay in host.relays:
                try:
                    os.killpg(relay.pid, signal.SIGCONT)
                    os.killpg(relay.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                relay.wait(timeout=10)
            ip("link", "del", host.veth_host, check=False)
            ip("netns", "del", host.netns, check=False)
        time.sleep(0.1)
