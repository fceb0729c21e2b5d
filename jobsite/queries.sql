-- jobsite's named statements (read by jobsite/named_sql.py; the engine's are in
-- jobs/queries.sql, the templates' in templates_app/queries.sql). `POST jobs/` built
-- its per-request reads through the ORM at more CPU than the create's INSERTs (issue 15).

-- name: api_key
-- ApiKey.find: the key of this hash (the columns lean_reads reads with a job, named the
-- same way) and its whole workspace.
SELECT api_key.id AS key_id, api_key.workspace_id AS key_workspace_id, api_key.name AS key_name,
       api_key.role AS key_role, api_key.key_hash AS key_key_hash, api_key.expires_at AS key_expires_at,
       api_key.revoked_at AS key_revoked_at, api_key.last_used_at AS key_last_used_at,
       workspace.*
FROM jobsite_apikey api_key
JOIN jobsite_workspace workspace ON workspace.id = api_key.workspace_id
WHERE api_key.key_hash = %(key_hash)s
