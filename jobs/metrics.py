"""/metrics (SPEC §16): Prometheus text format, every value read from the database (and
the broker) at scrape time by one custom collector.

Why at scrape time and not counters in process memory: the web runs as several gunicorn
workers (and the values are made by the workers on other hosts), so a counter kept in one
process would be that process's share only; prometheus_client's multiprocess mode needs a
shared directory per host and still cannot see other hosts. The database already holds
every number, so any web process answers the same (docs/deploy.md).

The step-duration histogram is computed over the steps that finished in the last
JOBSITE_METRICS_WINDOW_HOURS (default 24): it is a sliding window, not an ever-growing
counter, so read it with histogram_quantile() directly, not over rate()."""

from collections.abc import Iterator
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, DurationField, ExpressionWrapper, F, Q, Sum
from django.utils import timezone
from prometheus_client.core import (
    CollectorRegistry,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from jobs.engine.pools import active_steps_per_pool, oldest_queued_per_pool, pools_known
from jobs.engine.queue import DEFAULT_POOL, broker_queue_size
from jobs.engine.states import JobStatus, StepStatus
from jobs.models import Job, StepRun, WorkerHost
from jobs.models.automation import DeliveryStatus, WebhookDelivery

# Seconds. Steps range from a no-op (milliseconds) to hours.
DURATION_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)
HOST_ALIVE_SECONDS = 30


class JobsiteCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()

        jobs = GaugeMetricFamily(
            "jobsite_jobs", "Jobs by status (all workspaces).", labels=["status"]
        )
        counts = dict(Job.objects.values_list("status").annotate(n=Count("id")).order_by())
        for status in JobStatus.values:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs

        pools = pools_known()
        steps = GaugeMetricFamily(
            "jobsite_steps", "Steps running or queued, per worker pool.", labels=["pool", "status"]
        )
        per_pool = active_steps_per_pool()
        for pool in pools:
            for status in (StepStatus.RUNNING, StepStatus.QUEUED):
                steps.add_metric([pool, status], per_pool.get((pool, status), 0))
        yield steps

        oldest = GaugeMetricFamily(
            "jobsite_oldest_queued_step_age_seconds",
            "Age of the oldest queued step per pool (0 when none is queued).",
            labels=["pool"],
        )
        oldest_at = oldest_queued_per_pool()
        for pool in pools:
            at = oldest_at.get(pool)
            oldest.add_metric([pool], max(0.0, (now - at).total_seconds()) if at else 0.0)
        yield oldest

        depth = GaugeMetricFamily(
            "jobsite_broker_queue_depth",
            "Tasks waiting in the broker's queue of each pool.",
            labels=["pool"],
        )
        up = GaugeMetricFamily("jobsite_broker_up", "1 when the broker answered this scrape.")
        answered = True
        for pool in pools:
            size = broker_queue_size(pool)
            if size is None:
                answered = False
            else:
                depth.add_metric([pool], size)
        up.add_metric([], 1 if answered else 0)
        yield depth
        yield up

        alive_since = now - timedelta(seconds=HOST_ALIVE_SECONDS)
        hosts = GaugeMetricFamily(
            "jobsite_worker_hosts_alive",
            f"Worker hosts seen in the last {HOST_ALIVE_SECONDS} s, per pool (a host in two pools counts in both).",
            labels=["pool"],
        )
        alive = {pool: 0 for pool in pools}
        for host_pools in WorkerHost.objects.filter(last_seen_at__gte=alive_since).values_list(
            "pools", flat=True
        ):
            for pool in host_pools or [DEFAULT_POOL]:
                alive[pool] = alive.get(pool, 0) + 1
        for pool, n in sorted(alive.items()):
            hosts.add_metric([pool], n)
        yield hosts

        backlog = GaugeMetricFamily(
            "jobsite_webhook_deliveries_pending", "Webhook deliveries waiting for an attempt."
        )
        backlog.add_metric(
            [], WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING).count()
        )
        yield backlog

        yield self._durations(now)

    def _durations(self, now) -> Metric:
        window = getattr(settings, "JOBSITE_METRICS_WINDOW_HOURS", 24)
        histogram = HistogramMetricFamily(
            "jobsite_step_duration_seconds",
            f"Durations of the steps that finished in the last {window} h, per template (workspace/template).",
            labels=["template"],
        )
        duration = ExpressionWrapper(
            F("finished_at") - F("started_at"), output_field=DurationField()
        )
        buckets = {
            f"le{i}": Count("id", filter=Q(duration__lte=timedelta(seconds=b)))
            for i, b in enumerate(DURATION_BUCKETS)
        }
        rows = (
            StepRun.objects.filter(
                finished_at__gte=now - timedelta(hours=window), started_at__isnull=False
            )
            .annotate(duration=duration)
            .values("job__workspace__slug", "job__template__slug")
            .annotate(total=Count("id"), seconds=Sum("duration"), **buckets)
            .order_by()
        )
        for row in rows:
            template = f"{row['job__workspace__slug']}/{row['job__template__slug'] or '(inline)'}"
            cumulative = [(str(b), row[f"le{i}"]) for i, b in enumerate(DURATION_BUCKETS)]
            cumulative.append(("+Inf", row["total"]))
            total = row["seconds"]
            seconds = (
                total.total_seconds() if isinstance(total, timedelta) else float(total or 0) / 1e6
            )
            histogram.add_metric([template], cumulative, seconds)
        return histogram


def registry() -> CollectorRegistry:
    """A registry with only this collector: process metrics of one gunicorn worker would
    describe that worker alone, so they are left out."""
    reg = CollectorRegistry(auto_describe=False)
    reg.register(JobsiteCollector())
    return reg
