"""Shared fixtures: workspaces and users per role, API keys, and a way to run the
worker's tasks in-process (the real django-q2 broker, drained by the test). Shared test
settings are in tests/settings.py; the conftests below this one hold their area's
fixtures only."""

import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from jobsite.models import ApiKey, Membership, Role, Workspace


@pytest.fixture(autouse=True)
def fresh_cache():
    """Rate-limit, throttle and login counters live in the cache: each test starts with
    none, and leaves none behind."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def workspace(db):
    return Workspace.objects.create(slug="acme", name="Acme")


@pytest.fixture
def other_workspace(db):
    """The outsider: nothing of it may ever be visible from `workspace`."""
    return Workspace.objects.create(slug="outsider", name="Outsider")


def _member(workspace, username, role):
    user = get_user_model().objects.create_user(
        username, f"{username}@example.invalid", "pw-" + username
    )
    Membership.objects.create(workspace=workspace, user=user, role=role)
    return user


@pytest.fixture
def admin_user(workspace):
    return _member(workspace, "alice-admin", Role.ADMIN)


@pytest.fixture
def operator_user(workspace):
    return _member(workspace, "oscar-operator", Role.OPERATOR)


@pytest.fixture
def viewer_user(workspace):
    return _member(workspace, "vera-viewer", Role.VIEWER)


@pytest.fixture
def api_key(workspace):
    """api_key(role) → the raw key of a new key of `workspace` with that role."""

    def make(role=Role.OPERATOR, target=None):
        _, raw = ApiKey.issue(target or workspace, f"{role}-key", role=role)
        return raw

    return make


def run_queued_tasks(parallel=1):
    """Run what the workers would run, in this process, until the queue is empty.

    Uses the configured django-q2 broker exactly as a cluster does: dequeue, unpack the
    signed task, call it, acknowledge. With parallel > 1, that many threads take tasks at
    once (two free workers). A task enqueues what follows it before it returns (on
    commit), so the work is done when the queue is empty and no thread is running one."""
    from django.db import connection

    busy = [0]
    lock = threading.Lock()

    def take(broker):
        with lock:
            # Ask for the size first: the Redis broker's dequeue blocks for a second on an
            # empty queue.
            tasks = broker.dequeue() if broker.queue_size() else None
            if tasks:
                busy[0] += 1
                return tasks
            return None if busy[0] else ()

    def work():
        broker = get_broker()
        try:
            while (tasks := take(broker)) != ():
                if tasks is None:  # another thread's task may still enqueue more
                    time.sleep(0.005)
                    continue
                try:
                    for task_id, payload in tasks:
                        task = SignedPackage.loads(payload)
                        module, name = task["func"].rsplit(".", 1)
                        func = getattr(__import__(module, fromlist=[name]), name)
                        func(*task["args"], **task["kwargs"])
                        broker.acknowledge(task_id)
                finally:
                    with lock:
                        busy[0] -= 1
        finally:
            if threading.current_thread() is not threading.main_thread():
                connection.close()

    if parallel == 1:
        work()
        return
    threads = [threading.Thread(target=work) for _ in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)


@pytest.fixture
def run_tasks(transactional_db):
    return run_queued_tasks


@pytest.fixture
def empty_broker(transactional_db):
    """The default queue empty before and after the test (tests that count the tasks an
    enqueue puts on it)."""
    get_broker().purge_queue()
    yield
    get_broker().purge_queue()
