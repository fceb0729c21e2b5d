"""The web UI's pages, one module per page (SPEC §9). Function views: each parses the
request, resolves objects through jobs.views.permissions, calls a service, renders."""
