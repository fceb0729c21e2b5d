"""The REST API's plumbing shared by every app's API: authentication and tenancy
resolution for keys, error rendering, field types, parsers and the base view."""
