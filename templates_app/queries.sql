-- templates_app's named statements (read by jobsite/named_sql.py).

-- name: template_by_ref
-- find_template: a workspace's template by id or by slug — the one with that id first —
-- with its current version (columns `version_<name>`; NULL when it has none).
SELECT template.*,
       version.id AS version_id, version.template_id AS version_template_id,
       version.number AS version_number, version.definition AS version_definition,
       version.source AS version_source, version.created_at AS version_created_at,
       version.created_by_id AS version_created_by_id
FROM templates_app_jobtemplate template
LEFT JOIN templates_app_templateversion version ON version.id = template.current_version_id
WHERE template.workspace_id = %(workspace_id)s
  AND (template.id = %(template_id)s OR template.slug = %(slug)s)
ORDER BY CASE WHEN template.id = %(template_id)s THEN 0 ELSE 1 END
LIMIT 1
