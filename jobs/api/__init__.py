"""REST API v1 for jobs (SPEC §6): views split by resource, mounted by jobs/api/urls.py."""
