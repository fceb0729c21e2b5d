"""Q_CLUSTER for jobsite/settings.py: how django-q2 runs the engine's tasks (SPEC §7,
docs/engine.md). The settings read the environment and pass the values in."""


def queue_cluster(
    *, name: str, workers: int, max_step_timeout: int, poll: float, redis_url: str | None
) -> dict:
    """django-q2's Q_CLUSTER: the ORM broker on the default database, or Redis at
    `redis_url`."""
    timeout = max_step_timeout + 300
    cluster = {
        "name": name,
        "workers": workers,
        # Retries and timeouts are the engine's: a task runs once, its failure is acked,
        # and django-q2 never re-delivers a task that is merely long.
        "max_attempts": 1,
        "ack_failures": True,
        "timeout": timeout,
        "retry": timeout + 60,
        # The outcome lives in our tables; keeping django-q2's result rows costs throughput.
        "save_limit": -1,
        "queue_limit": workers * 2,
        "recycle": 500,
        "max_rss": 512 * 1024,
        "poll": poll,
        "catch_up": False,
        "scheduler": False,
        "label": "Task queue (django-q2)",
        # One queue per worker pool: `worker` starts a qcluster per pool with
        # Q_CLUSTER_NAME=<the pool's queue> (jobs/engine/queue.py queue_name); django-q2
        # needs this key present to take that name.
        "ALT_CLUSTERS": {},
    }
    if redis_url is None:
        cluster["orm"] = "default"
    else:
        cluster["redis"] = redis_url
    return cluster
