"""compose.yaml (docs/deploy.md): PostgreSQL, Redis, the web and two worker pools that
share one configuration — checked by reading it, no container runtime needed."""

from pathlib import Path

import yaml

COMPOSE = Path(__file__).resolve().parents[2] / "compose.yaml"


def services():
    return yaml.safe_load(COMPOSE.read_text())["services"]


def test_compose_starts_postgres_redis_the_web_and_two_worker_pools():
    found = services()
    assert {"postgres", "redis", "migrate", "web", "worker-default", "worker-gpu"} <= set(found)
    assert found["web"]["command"][0] == "gunicorn"
    for name, pool in (("worker-default", "default"), ("worker-gpu", "gpu")):
        assert found[name]["command"] == ["python", "manage.py", "worker"]
        assert found[name]["environment"]["JOBSITE_POOLS"] == pool


def test_every_jobsite_service_shares_the_database_the_broker_and_the_secret():
    found = services()
    envs = [
        found[name]["environment"] for name in ("migrate", "web", "worker-default", "worker-gpu")
    ]
    for key in ("DATABASE_URL", "JOBSITE_BROKER", "REDIS_URL", "SECRET_KEY", "JOBSITE_KNOWN_POOLS"):
        assert len({env[key] for env in envs}) == 1, key
    assert envs[0]["DATABASE_URL"].startswith("postgres://jobsite:jobsite@postgres:5432/")
    assert envs[0]["REDIS_URL"].startswith("redis://redis:6379/")
    assert set(envs[0]["JOBSITE_KNOWN_POOLS"].split(",")) == {"default", "gpu"}


def test_workers_wait_for_the_migration_and_get_time_to_finish_their_steps():
    found = services()
    for name in ("worker-default", "worker-gpu"):
        assert found[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }
        assert found[name]["stop_grace_period"] == "90s"  # above JOBSITE_STOP_GRACE_SECONDS
    assert (
        "build" in found["web"]
        and "requirements.lock" in found["web"]["build"]["dockerfile_inline"]
    )
