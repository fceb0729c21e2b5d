"""The jobs list: filters, keyset paging, and rows of active jobs that update live.

The rows of queued and running jobs are refreshed by one poller for the whole page: once
a second it asks for all of them in one request (`job_list_rows`), whose answer swaps
the rows out of band and carries a new poller naming the jobs still active. On the first
page the poller also asks for jobs created since its newest row (with the page's
filters) and puts them on top, so it keeps polling: every second while a row is active,
every 3 s otherwise. On other pages, when no active row is left, the poller has no
trigger and the page stops asking.
"""

import uuid

from django.http import HttpResponse, QueryDict
from django.shortcuts import render
from django.views.decorators.http import require_GET

from jobs.engine.states import JOB_ACTIVE, JobStatus
from jobs.keyset import decode_cursor, encode_cursor, newer_than, older_than
from jobs.models import Trigger
from jobs.views.permissions import jobs_of, member_required, templates_of

PAGE_SIZE = 25


def filtered_jobs(request):
    """The workspace's jobs narrowed by the filter form; (queryset, filters shown)."""
    jobs = jobs_of(request).select_related("template")
    filters = {
        key: request.GET.get(key, "").strip() for key in ("status", "template", "trigger", "q")
    }
    if filters["status"] in JobStatus.values:
        jobs = jobs.filter(status=filters["status"])
    else:
        filters["status"] = ""
    if filters["template"]:
        jobs = jobs.filter(template__slug=filters["template"])
    if filters["trigger"] in Trigger.values:
        jobs = jobs.filter(trigger=filters["trigger"])
    else:
        filters["trigger"] = ""
    if filters["q"]:
        jobs = jobs.filter(name__icontains=filters["q"][:200])
    return jobs, filters


def keyset_page(jobs, older=None, newer=None, size=PAGE_SIZE):
    """One page of jobs, newest first, starting after the `older` cursor (going back in
    time) or before the `newer` one (coming forward), by jobs.keyset's cursors. Returns
    (jobs, has_older, has_newer)."""
    older_key = decode_cursor(older) if older else None
    newer_key = decode_cursor(newer) if newer else None
    if newer_key:
        rows = list(newer_than(jobs, newer_key).order_by("created_at", "id")[: size + 1])
        has_newer = len(rows) > size
        rows = list(reversed(rows[:size]))
        return rows, True, has_newer
    if older_key:
        jobs = older_than(jobs, older_key)
    rows = list(jobs.order_by("-created_at", "-id")[: size + 1])
    return rows[:size], len(rows) > size, older_key is not None


def active_rows_query(jobs, since=None, filters=None):
    """The poller's query string naming the page's active jobs ("" when there are none
    and the page does not watch for new jobs). On the first page, `since` (the newest
    row's cursor, or "none" for an empty list) and the filters ask for new jobs too."""
    query = QueryDict(mutable=True)
    query.setlist("id", [str(job.pk) for job in jobs if job.status in JOB_ACTIVE])
    if since is not None:
        query["since"] = since
        for key, value in (filters or {}).items():
            if value:
                query[key] = value
    return query.urlencode()


def new_jobs_since(request, since):
    """Jobs created after the `since` cursor that pass the page's filters, newest first
    (at most a page of them)."""
    jobs, _ = filtered_jobs(request)
    key = decode_cursor(since)
    if key is None:
        return []
    created, pk = key
    rows = list(
        jobs.filter(created_at__gte=created)
        .exclude(created_at=created, id__lte=pk)
        .order_by("created_at", "id")[:PAGE_SIZE]
    )
    return rows[::-1]


@require_GET
@member_required
def job_list(request):
    jobs, filters = filtered_jobs(request)
    rows, has_older, has_newer = keyset_page(
        jobs, request.GET.get("older"), request.GET.get("newer")
    )
    context = {
        "jobs": rows,
        "filters": filters,
        "filtering": any(filters.values()),
        "statuses": JobStatus.choices,
        "triggers": Trigger.choices,
        "templates": templates_of(request).order_by("name").values_list("slug", "name"),
        "older_cursor": encode_cursor(rows[-1]) if rows and has_older else None,
        "newer_cursor": encode_cursor(rows[0]) if rows and has_newer else None,
    }
    first_page = not request.GET.get("older") and not request.GET.get("newer")
    since = (encode_cursor(rows[0]) if rows else "none") if first_page else None
    context["watching"] = since is not None
    context["active_query"] = active_rows_query(rows, since, filters)
    return render(request, "jobs/job_list.html", context)


def _job_ids(values):
    ids = []
    for value in values[:PAGE_SIZE]:  # a page never shows more rows than this
        try:
            ids.append(uuid.UUID(value))
        except ValueError:
            continue
    return ids


@require_GET
@member_required
def job_list_rows(request):
    """The poll of the jobs list: the rows of the named jobs (this workspace's only; other
    ids are ignored) swapped out of band, and a poller for those still active."""
    rows = list(
        jobs_of(request)
        .select_related("template")
        .filter(pk__in=_job_ids(request.GET.getlist("id")))
    )
    since = request.GET.get("since")
    new_rows = []
    if since == "none":
        # The page was empty: it has no table to put a row in, so it reloads once.
        if filtered_jobs(request)[0].exists():
            response = HttpResponse(status=204)
            response["HX-Refresh"] = "true"
            return response
    elif since:
        new_rows = new_jobs_since(request, since)
        if new_rows:
            since = encode_cursor(new_rows[0])
    _, filters = filtered_jobs(request)
    context = {
        "jobs": rows,
        "new_jobs": new_rows,
        "watching": since is not None,
        "active_query": active_rows_query(new_rows + rows, since, filters),
    }
    return render(request, "jobs/job_list.html#job-list-updates", context)
