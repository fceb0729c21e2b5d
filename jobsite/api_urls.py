"""/api/… — the REST API v1, its schema and docs, and the trigger URLs (SPEC §6)."""

urlpatterns = []
