"""gunicorn's access log without secrets (used by `manage.py serve`).

A trigger URL carries its key in the query string (`?key=jtk_…`) for tools that cannot
set headers, and clients put tokens in query strings whatever the docs say. The access
log keeps every parameter's name and replaces its value with `***`, in the request line,
the query string and the Referer; credential headers are never written either.
"""

from gunicorn.glogging import Logger

REDACTED = "***"
CREDENTIAL_HEADERS = (
    "authorization",
    "x-api-key",
    "x-trigger-key",
    "cookie",
    "proxy-authorization",
)


def redact_query(query: str) -> str:
    """ "key=jtk_x&api_token=y&flag" → "key=***&api_token=***&flag"."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        parts.append(f"{name}={REDACTED}" if sep and value else part)
    return "&".join(parts)


def redact_uri(uri: str) -> str:
    path, sep, query = uri.partition("?")
    return f"{path}?{redact_query(query)}" if sep else uri


class RedactingAccessLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        method, _, rest = atoms["r"].partition(" ")
        uri, _, protocol = rest.rpartition(" ")
        atoms["r"] = f"{method} {redact_uri(uri)} {protocol}"
        atoms["q"] = redact_query(atoms.get("q") or "")
        atoms["f"] = redact_uri(atoms.get("f") or "-")
        for name in CREDENTIAL_HEADERS:
            if f"{{{name}}}i" in atoms:
                atoms[f"{{{name}}}i"] = REDACTED
        return atoms
