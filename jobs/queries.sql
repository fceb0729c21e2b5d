-- The statements of jobsite's hot paths, by name (read by jobsite/named_sql.py; jobsite/ and templates_app/ keep their own queries.sql).
--
-- Each statement starts with a line `-- name: <name>`; `-- name: <name> (postgresql)` or
-- `(sqlite)` is that database's own version of the statement of that name. Parameters
-- are named, `%(job_id)s`, and sent as the model field would send them
-- (named_sql.db_value). A SELECT's column names are the model's attribute names
-- (`workspace_id`, not `workspace`), so its rows turn into model instances with
-- Model.from_db; other columns carry an alias saying what they are.
--
-- Everything else jobsite asks the database goes through the ORM. A statement lives here
-- when building it through the QuerySet API on every call cost more CPU than the
-- database's work for it (docs/benchmarks.md, round 2b).


-- The engine: every claim and every finish of a step starts with these.

-- name: job_for_update
-- A job under its row lock, with three extras: whether its workspace has an active
-- webhook endpoint and an active notification channel (if not, no delivery query is
-- needed at its events) and its
-- workspace's slug (for `{{ workspace.slug }}`). SQLite has no row locks: its
-- transactions take the database's write lock up front (transaction_mode IMMEDIATE).
SELECT job.*,
       EXISTS (SELECT 1 FROM jobs_webhookendpoint endpoint
               WHERE endpoint.workspace_id = job.workspace_id AND endpoint.is_active) AS has_webhooks,
       EXISTS (SELECT 1 FROM jobs_notificationchannel channel
               WHERE channel.workspace_id = job.workspace_id AND channel.is_active) AS has_notifications,
       (SELECT workspace.slug FROM jobsite_workspace workspace WHERE workspace.id = job.workspace_id) AS workspace_slug
FROM jobs_job job
WHERE job.id = %(job_id)s

-- name: job_for_update (postgresql)
SELECT job.*,
       EXISTS (SELECT 1 FROM jobs_webhookendpoint endpoint
               WHERE endpoint.workspace_id = job.workspace_id AND endpoint.is_active) AS has_webhooks,
       EXISTS (SELECT 1 FROM jobs_notificationchannel channel
               WHERE channel.workspace_id = job.workspace_id AND channel.is_active) AS has_notifications,
       (SELECT workspace.slug FROM jobsite_workspace workspace WHERE workspace.id = job.workspace_id) AS workspace_slug
FROM jobs_job job
WHERE job.id = %(job_id)s
FOR UPDATE OF job

-- name: job_of_step_for_update
-- job_for_update, the job found by one of its steps.
SELECT job.*,
       EXISTS (SELECT 1 FROM jobs_webhookendpoint endpoint
               WHERE endpoint.workspace_id = job.workspace_id AND endpoint.is_active) AS has_webhooks,
       EXISTS (SELECT 1 FROM jobs_notificationchannel channel
               WHERE channel.workspace_id = job.workspace_id AND channel.is_active) AS has_notifications,
       (SELECT workspace.slug FROM jobsite_workspace workspace WHERE workspace.id = job.workspace_id) AS workspace_slug
FROM jobs_job job
WHERE job.id = (SELECT step.job_id FROM jobs_steprun step WHERE step.id = %(step_run_id)s)

-- name: job_of_step_for_update (postgresql)
SELECT job.*,
       EXISTS (SELECT 1 FROM jobs_webhookendpoint endpoint
               WHERE endpoint.workspace_id = job.workspace_id AND endpoint.is_active) AS has_webhooks,
       EXISTS (SELECT 1 FROM jobs_notificationchannel channel
               WHERE channel.workspace_id = job.workspace_id AND channel.is_active) AS has_notifications,
       (SELECT workspace.slug FROM jobsite_workspace workspace WHERE workspace.id = job.workspace_id) AS workspace_slug
FROM jobs_job job
WHERE job.id = (SELECT step.job_id FROM jobs_steprun step WHERE step.id = %(step_run_id)s)
FOR UPDATE OF job

-- name: step_is_queued
-- A doorbell's first look, outside any transaction and without the job's lock: is the
-- step still queued at the task's attempt? A step leaves (queued, attempt) for good (a
-- new queueing moves the attempt on), so "no" is final: a finishing worker took it
-- (jobs/engine/steps.py EagerClaim), or the delivery is a duplicate or stale.
SELECT 1 AS queued FROM jobs_steprun step
WHERE step.id = %(step_run_id)s AND step.status = 'queued' AND step.attempt = %(attempt)s

-- name: oldest_queued_steps
-- What a finishing worker may take next from other jobs (EagerClaim.take_other_job):
-- the oldest queued steps (the partial index steprun_queued), with their pool.
SELECT step.id AS id, step.pool AS pool, step.attempt AS attempt
FROM jobs_steprun step
WHERE step.status = 'queued' AND step.job_id <> %(job_id)s
ORDER BY step.queued_at
LIMIT 4

-- name: oldest_queued_steps_of_step
-- oldest_queued_steps, the finishing job found by its step: read on PostgreSQL in the
-- round trip of the finish's job_of_step_for_update (jobsite/named_sql.py fetch_sets), so a
-- finish that makes no step ready needs no round trip of its own to look. A hint only:
-- each row is locked and checked again before it is claimed.
SELECT step.id AS id, step.pool AS pool, step.attempt AS attempt
FROM jobs_steprun step
WHERE step.status = 'queued'
  AND step.job_id <> (SELECT of_step.job_id FROM jobs_steprun of_step WHERE of_step.id = %(step_run_id)s)
ORDER BY step.queued_at
LIMIT 4

-- name: oldest_queued_steps_of_any_job
-- What a doorbell whose own step was taken may claim instead (jobs/worker/step_runner.py
-- run_step): the oldest queued steps, with their pool and attempt.
SELECT step.id AS id, step.pool AS pool, step.attempt AS attempt
FROM jobs_steprun step
WHERE step.status = 'queued'
ORDER BY step.queued_at
LIMIT 4

-- name: job_of_step_for_update_skip_locked
-- job_of_step_for_update for a second job in a transaction that already holds one job's
-- lock: on PostgreSQL a job another transaction holds is skipped (no row), never waited
-- for, so two finishing workers cannot deadlock on each other's jobs. SQLite holds the
-- database's write lock already.
SELECT job.*,
       EXISTS (SELECT 1 FROM jobs_webhookendpoint endpoint
               WHERE endpoint.workspace_id = job.workspace_id AND endpoint.is_active) AS has_webhooks,
       EXISTS (SELECT 1 FROM jobs_notificationchannel channel
               WHERE channel.workspace_id = job.workspace_id AND channel.is_active) AS has_notifications,
       (SELECT workspace.slug FROM jobsite_workspace workspace WHERE workspace.id = job.workspace_id) AS workspace_slug
FROM jobs_job job
WHERE job.id = (SELECT step.job_id FROM jobs_steprun step WHERE step.id = %(step_run_id)s)

-- name: job_of_step_for_update_skip_locked (postgresql)
SELECT job.*,
       EXISTS (SELECT 1 FROM jobs_webhookendpoint endpoint
               WHERE endpoint.workspace_id = job.workspace_id AND endpoint.is_active) AS has_webhooks,
       EXISTS (SELECT 1 FROM jobs_notificationchannel channel
               WHERE channel.workspace_id = job.workspace_id AND channel.is_active) AS has_notifications,
       (SELECT workspace.slug FROM jobsite_workspace workspace WHERE workspace.id = job.workspace_id) AS workspace_slug
FROM jobs_job job
WHERE job.id = (SELECT step.job_id FROM jobs_steprun step WHERE step.id = %(step_run_id)s)
FOR UPDATE OF job SKIP LOCKED

-- name: steps_of_job
-- A job's steps in their template order.
SELECT step.* FROM jobs_steprun step WHERE step.job_id = %(job_id)s ORDER BY step.position

-- name: steps_of_job_changed_since
-- The steps of a job whose status changed after its event %(seq)s: each change wrote a
-- step.status event (jobs/engine/locked_reads.py current_steps).
SELECT step.* FROM jobs_steprun step
WHERE step.job_id = %(job_id)s AND step.step_id IN (
    SELECT event.step_id FROM jobs_jobevent event
    WHERE event.job_id = %(job_id)s AND event.seq > %(seq)s AND event.kind = 'step.status'
)

-- name: steps_of_job_of_step
-- steps_of_job, the job found by one of its steps: sent on PostgreSQL in the same round
-- trip as job_of_step_for_update (jobsite/named_sql.py fetch_sets), after it in the same
-- transaction, so it reads the steps once the job's lock is held.
SELECT step.* FROM jobs_steprun step
WHERE step.job_id = (SELECT of_step.job_id FROM jobs_steprun of_step WHERE of_step.id = %(step_run_id)s)
ORDER BY step.position

-- name: workspace_has_active_webhook
SELECT 1 FROM jobs_webhookendpoint endpoint
WHERE endpoint.workspace_id = %(workspace_id)s AND endpoint.is_active
LIMIT 1

-- The compare-and-sets of a job's usual life (jobs/engine/transitions.py picks one by
-- the fields a status change sets; any other change goes through the ORM). Each is
-- fenced on the row's old status, a step's also on its attempt: 0 rows means someone
-- else got there first.

-- name: queue_job
UPDATE jobs_job
SET status = %(status)s, queued_at = %(queued_at)s, waiting_reason = %(waiting_reason)s,
    updated_at = %(updated_at)s, last_event_seq = %(last_event_seq)s
WHERE id = %(id)s AND status = %(old_status)s

-- name: start_job_running
UPDATE jobs_job
SET status = %(status)s, started_at = %(started_at)s, waiting_reason = %(waiting_reason)s,
    updated_at = %(updated_at)s, last_event_seq = %(last_event_seq)s
WHERE id = %(id)s AND status = %(old_status)s

-- name: finish_job
UPDATE jobs_job
SET status = %(status)s, finished_at = %(finished_at)s, progress = %(progress)s,
    completed_steps = %(completed_steps)s, error = %(error)s, waiting_reason = %(waiting_reason)s,
    result_markdown = %(result_markdown)s, result_outputs = %(result_outputs)s,
    updated_at = %(updated_at)s, last_event_seq = %(last_event_seq)s
WHERE id = %(id)s AND status = %(old_status)s

-- name: queue_step
UPDATE jobs_steprun
SET status = %(status)s, attempt = %(attempt)s, queued_at = %(queued_at)s,
    next_attempt_at = %(next_attempt_at)s, worker_id = %(worker_id)s
WHERE id = %(id)s AND status = %(old_status)s AND attempt = %(fence)s

-- name: claim_step
UPDATE jobs_steprun
SET status = %(status)s, started_at = %(started_at)s, worker_id = %(worker_id)s,
    lease_expires_at = %(lease_expires_at)s, heartbeat_at = %(heartbeat_at)s
WHERE id = %(id)s AND status = %(old_status)s AND attempt = %(fence)s

-- name: claim_step_and_start_job (postgresql)
-- claim_step and then, only when it changed the step, start_job_running, in one round
-- trip (jobs/engine/transitions.py change_step_and_job_status): the row count of each.
WITH step AS (
    UPDATE jobs_steprun
    SET status = %(status)s, started_at = %(started_at)s, worker_id = %(worker_id)s,
        lease_expires_at = %(lease_expires_at)s, heartbeat_at = %(heartbeat_at)s
    WHERE id = %(id)s AND status = %(old_status)s AND attempt = %(fence)s
    RETURNING 1
), job AS (
    UPDATE jobs_job
    SET status = %(job_status)s, started_at = %(job_started_at)s, waiting_reason = %(job_waiting_reason)s,
        updated_at = %(job_updated_at)s, last_event_seq = %(job_last_event_seq)s
    WHERE id = %(job_id)s AND status = %(job_old_status)s AND EXISTS (SELECT FROM step)
    RETURNING 1
)
SELECT (SELECT count(*) FROM step) AS steps, (SELECT count(*) FROM job) AS jobs

-- name: finish_step
UPDATE jobs_steprun
SET status = %(status)s, finished_at = %(finished_at)s, exit_code = %(exit_code)s, error = %(error)s,
    outputs = %(outputs)s, progress = %(progress)s, lease_expires_at = %(lease_expires_at)s
WHERE id = %(id)s AND status = %(old_status)s AND attempt = %(fence)s

-- name: save_job_progress
-- A job's progress after one of its steps finished (jobs/engine/lifecycle.py update_progress).
UPDATE jobs_job SET progress = %(progress)s, completed_steps = %(completed_steps)s WHERE id = %(job_id)s

-- name: save_last_event_seq
-- The seq of a job's newest event, when no status change of the section carried it.
UPDATE jobs_job SET last_event_seq = %(last_event_seq)s, updated_at = %(updated_at)s WHERE id = %(job_id)s


-- The API's lean reads (jobs/api/lean_reads.py): a GET of jobs/{id}/status/ or
-- jobs/{id}/ with an API key is one statement. The key comes with the job: the key of
-- that hash among the keys of the job's own workspace, NULL for a job of another
-- workspace. Scalar subqueries rather than joins: PostgreSQL planned this statement on
-- every request (before jobsite/prepared_sql.py; still so with
-- JOBSITE_DB_PREPARED_STATEMENTS off, behind a pooler), and planning the job joined to the workspace, the key, the template and its version took
-- five times as long as running it.

-- name: job_status_with_key
-- What status/ shows. The secrets of the job (its definition, variables and params)
-- only when there is an error to mask them in.
SELECT job.id, job.workspace_id, job.status, job.progress, job.completed_steps, job.total_steps,
       job.updated_at, job.finished_at, job.error, job.waiting_reason, job.last_event_seq,
       CASE WHEN job.error <> '' THEN job.definition END AS definition,
       CASE WHEN job.error <> '' THEN job.variables END AS variables,
       CASE WHEN job.error <> '' THEN job.params END AS params,
       (SELECT workspace.slug FROM jobsite_workspace workspace WHERE workspace.id = job.workspace_id) AS workspace_slug,
       api_key.id AS key_id, api_key.workspace_id AS key_workspace_id, api_key.name AS key_name,
       api_key.role AS key_role, api_key.key_hash AS key_key_hash, api_key.expires_at AS key_expires_at,
       api_key.revoked_at AS key_revoked_at, api_key.last_used_at AS key_last_used_at
FROM jobs_job job
LEFT JOIN jobsite_apikey api_key ON api_key.key_hash = %(key_hash)s AND api_key.workspace_id = job.workspace_id
WHERE job.id = %(job_id)s

-- name: job_with_key
-- The whole job for jobs/{id}/: job_status_with_key's key, the template's slug and
-- version number, and the job's steps and artifacts as one JSON text column each
-- (`[{column: value, …}, …]`, in no particular order), so that the job costs one
-- statement instead of three.
SELECT job.*,
       (SELECT workspace.slug FROM jobsite_workspace workspace WHERE workspace.id = job.workspace_id) AS workspace_slug,
       api_key.id AS key_id, api_key.workspace_id AS key_workspace_id, api_key.name AS key_name,
       api_key.role AS key_role, api_key.key_hash AS key_key_hash, api_key.expires_at AS key_expires_at,
       api_key.revoked_at AS key_revoked_at, api_key.last_used_at AS key_last_used_at,
       (SELECT template.slug FROM templates_app_jobtemplate template WHERE template.id = job.template_id) AS template_slug,
       (SELECT version.number FROM templates_app_templateversion version
        WHERE version.id = job.template_version_id) AS template_version_number,
       (SELECT JSON_GROUP_ARRAY(JSON_OBJECT(
                   'position', step.position, 'step_id', step.step_id, 'type', step.type, 'status', step.status,
                   'attempt', step.attempt, 'needs', JSON(step.needs), 'queued_at', step.queued_at,
                   'started_at', step.started_at, 'finished_at', step.finished_at, 'exit_code', step.exit_code,
                   'error', step.error, 'outputs', JSON(step.outputs), 'worker_id', step.worker_id,
                   'reused_from_id', step.reused_from_id, 'pool', step.pool,
                   'waiting_reason', step.waiting_reason))
        FROM jobs_steprun step WHERE step.job_id = job.id) AS steps_json,
       (SELECT JSON_GROUP_ARRAY(JSON_OBJECT(
                   'name', artifact.name, 'step_id', artifact.step_id, 'size', artifact.size,
                   'sha256', artifact.sha256, 'content_type', artifact.content_type, 'created_at', artifact.created_at))
        FROM jobs_artifact artifact WHERE artifact.job_id = job.id) AS artifacts_json
FROM jobs_job job
LEFT JOIN jobsite_apikey api_key ON api_key.key_hash = %(key_hash)s AND api_key.workspace_id = job.workspace_id
WHERE job.id = %(job_id)s

-- name: job_with_key (postgresql)
SELECT job.*,
       (SELECT workspace.slug FROM jobsite_workspace workspace WHERE workspace.id = job.workspace_id) AS workspace_slug,
       api_key.id AS key_id, api_key.workspace_id AS key_workspace_id, api_key.name AS key_name,
       api_key.role AS key_role, api_key.key_hash AS key_key_hash, api_key.expires_at AS key_expires_at,
       api_key.revoked_at AS key_revoked_at, api_key.last_used_at AS key_last_used_at,
       (SELECT template.slug FROM templates_app_jobtemplate template WHERE template.id = job.template_id) AS template_slug,
       (SELECT version.number FROM templates_app_templateversion version
        WHERE version.id = job.template_version_id) AS template_version_number,
       (SELECT COALESCE(JSON_AGG(JSON_BUILD_OBJECT(
                   'position', step.position, 'step_id', step.step_id, 'type', step.type, 'status', step.status,
                   'attempt', step.attempt, 'needs', step.needs, 'queued_at', step.queued_at,
                   'started_at', step.started_at, 'finished_at', step.finished_at, 'exit_code', step.exit_code,
                   'error', step.error, 'outputs', step.outputs, 'worker_id', step.worker_id,
                   'reused_from_id', step.reused_from_id, 'pool', step.pool,
                   'waiting_reason', step.waiting_reason)), '[]')::text
        FROM jobs_steprun step WHERE step.job_id = job.id) AS steps_json,
       (SELECT COALESCE(JSON_AGG(JSON_BUILD_OBJECT(
                   'name', artifact.name, 'step_id', artifact.step_id, 'size', artifact.size,
                   'sha256', artifact.sha256, 'content_type', artifact.content_type,
                   'created_at', artifact.created_at)), '[]')::text
        FROM jobs_artifact artifact WHERE artifact.job_id = job.id) AS artifacts_json
FROM jobs_job job
LEFT JOIN jobsite_apikey api_key ON api_key.key_hash = %(key_hash)s AND api_key.workspace_id = job.workspace_id
WHERE job.id = %(job_id)s
