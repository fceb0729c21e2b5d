"""`http` steps: one request with urllib, no extra dependency.

Header values are never logged or put in an error message: they often carry tokens.
Redirects are followed (as browsers and `requests` do), but Authorization, Cookie and
Proxy-Authorization are dropped when a redirect leaves the original host. Every
connection, the redirects' too, goes through the egress policy (jobsite.egress).
"""

import http.client
import json
import re
import socket
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import IO

from jobsite.egress import (
    GuardedRedirectHandler,
    egress_opener,
    literal_address_problem,
    refusal_of,
)

from .base import Executor, Outcome, StepContext, has_placeholder, is_number

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
MAX_BODY_BYTES = 64 * 1024
DEFAULT_TIMEOUT = 30
CREDENTIAL_HEADERS = ("Authorization", "Cookie", "Proxy-authorization")
URL_SAFE = "!#$%&'()*+,/:;=?@[]~"
HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # an RFC 9110 token


class HttpExecutor(Executor):
    name = "http"
    uses_files = False
    known_outputs = frozenset({"status", "headers", "json", "text"})
    required = frozenset({"url"})
    optional = frozenset({"method", "headers", "json", "body", "expected_status", "timeout"})
    description = (
        "Sends one HTTP request. Outputs `status`, `headers` (lower-cased names) and "
        "`json` (when the response is JSON) or `text`, capped at 64 KiB. Any 2xx "
        "succeeds unless `expected_status` lists the accepted codes."
    )

    def validate(self, with_: dict) -> list[tuple[str | None, str]]:
        problems = super().validate(with_)
        if not isinstance(with_, dict):
            return problems
        url = with_.get("url")
        if "url" in with_:
            if not isinstance(url, str) or not url:
                problems.append(("url", "must be a non-empty string"))
            elif not has_placeholder(url) and urllib.parse.urlsplit(url).scheme.lower() not in (
                "http",
                "https",
            ):
                problems.append(("url", "must start with http:// or https://"))
            elif not has_placeholder(url) and (problem := literal_address_problem(url)):
                problems.append(("url", problem))
        method = with_.get("method", "GET")
        if not has_placeholder(method) and (
            not isinstance(method, str) or method.upper() not in METHODS
        ):
            problems.append(("method", f"must be one of {', '.join(METHODS)}"))
        if "headers" in with_:
            headers = with_["headers"]
            if not isinstance(headers, dict):
                problems.append(("headers", "must be a mapping of names to strings"))
            else:
                for name, value in headers.items():
                    if not isinstance(name, str) or not HEADER_NAME.match(name):
                        problems.append(("headers", f"{name!r} is not a valid header name"))
                    elif not (isinstance(value, str) or is_number(value)):
                        problems.append(("headers", f"the value of {name} must be a string"))
        if "json" in with_ and "body" in with_:
            problems.append((None, "give either 'json' or 'body', not both"))
        if "body" in with_ and not isinstance(with_["body"], str):
            problems.append(("body", "must be a string (use 'json' for structured data)"))
        if "expected_status" in with_:
            expected = with_["expected_status"]
            if (
                not isinstance(expected, list)
                or not expected
                or not all(
                    isinstance(code, int) and not isinstance(code, bool) and 100 <= code <= 599
                    for code in expected
                )
            ):
                problems.append(("expected_status", "must be a list of status codes (100–599)"))
        if "timeout" in with_:
            timeout = with_["timeout"]
            if not has_placeholder(timeout) and not (is_number(timeout) and timeout > 0):
                problems.append(("timeout", "must be a number of seconds greater than 0"))
        return problems

    def run(self, ctx: StepContext) -> Outcome:
        with_ = dict(ctx.with_)
        # Substitution may have turned `timeout: "{{ vars.t }}"` into the string "10".
        if isinstance(with_.get("timeout"), str):
            try:
                with_["timeout"] = float(with_["timeout"])
            except ValueError:
                pass
        problems = self.validate(with_)
        if problems:
            return Outcome.fail("; ".join(f"{key or 'with'} {msg}" for key, msg in problems))
        method = str(with_.get("method", "GET")).upper()
        timeout = float(with_.get("timeout", DEFAULT_TIMEOUT))
        try:
            url = normalize_url(str(with_["url"]))
        except ValueError as exc:
            return Outcome.fail(f"invalid url: {exc}")

        headers = {str(k): str(v) for k, v in (with_.get("headers") or {}).items()}
        for name, value in headers.items():
            if any(ch in value for ch in "\r\n\0"):
                return Outcome.fail(f"header {name} has an invalid value")
        data = None
        if "json" in with_:
            data = json.dumps(with_["json"]).encode()
            if not any(name.lower() == "content-type" for name in headers):
                headers["Content-Type"] = "application/json"
        elif "body" in with_:
            data = str(with_["body"]).encode()

        # Never wait past the step's own timeout; the engine's stop reason then explains.
        if ctx.timeout:
            remaining = ctx.timeout - (time.monotonic() - ctx.started)
            timeout = max(0.1, min(timeout, remaining))
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        shown_url = url_for_log(url)
        started = time.monotonic()
        try:
            response = _opener().open(request, timeout=timeout)
        except urllib.error.HTTPError as exc:
            response = exc  # a response with a non-2xx status: still read it
        except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
            return Outcome.fail(
                ctx.should_stop() or f"{method} {shown_url} failed: {describe_error(exc, timeout)}"
            )
        try:
            with response:
                body, truncated = read_capped(response, ctx, started + timeout)
        except (OSError, http.client.HTTPException) as exc:  # TimeoutError is an OSError
            return Outcome.fail(
                ctx.should_stop()
                or f"{method} {shown_url}: reading the response failed: {describe_error(exc, timeout)}"
            )
        if reason := ctx.should_stop():
            return Outcome.fail(reason)

        status = response.status
        elapsed_ms = round((time.monotonic() - started) * 1000)
        ctx.log("INFO", f"{method} {shown_url} → {status} in {elapsed_ms} ms")
        if truncated:
            ctx.log("WARN", f"response body cut to the first {MAX_BODY_BYTES // 1024} KiB")

        outputs = {"status": status, "headers": lowered_headers(response.headers)}
        content_type = response.headers.get_content_type()
        parsed = _parse_json(body) if is_json_type(content_type) and not truncated else None
        if parsed is not None:
            outputs["json"] = parsed[0]
        else:
            charset = response.headers.get_content_charset() or "utf-8"
            try:
                outputs["text"] = body.decode(charset, errors="replace")
            except LookupError:
                outputs["text"] = body.decode("utf-8", errors="replace")

        expected = with_.get("expected_status")
        if (status not in expected) if expected else not 200 <= status < 300:
            return Outcome.fail(f"unexpected status {status}", outputs=outputs)
        return Outcome.ok(outputs)


class _RedirectKeepingCredentialsOnHost(GuardedRedirectHandler):
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: http.client.HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if (
            new is not None
            and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc
        ):
            for name in CREDENTIAL_HEADERS:
                new.headers.pop(name, None)
        return new


def _opener():
    return egress_opener(_RedirectKeepingCredentialsOnHost())


def normalize_url(url: str) -> str:
    """Percent-encode what may not appear raw in a URL (a space or an accent that came
    in through substitution); existing %-escapes and reserved characters stay."""
    parts = urllib.parse.urlsplit(url.strip())
    host = parts.hostname or ""
    if host and not host.isascii():
        netloc = parts.netloc.replace(host, host.encode("idna").decode("ascii"))
    else:
        netloc = parts.netloc
    return urllib.parse.urlunsplit(
        (
            parts.scheme.lower(),
            netloc,
            urllib.parse.quote(parts.path, safe=URL_SAFE),
            urllib.parse.quote(parts.query, safe=URL_SAFE),
            urllib.parse.quote(parts.fragment, safe=URL_SAFE),
        )
    )


def url_for_log(url: str) -> str:
    """The URL without user:password@ — the log is shown to every workspace viewer."""
    parts = urllib.parse.urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urllib.parse.urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def read_capped(
    response: http.client.HTTPResponse, ctx: StepContext, deadline: float
) -> tuple[bytes, bool]:
    """Up to MAX_BODY_BYTES of the body, read in chunks so a stop request or the
    deadline ends a slow download. Returns (bytes, truncated)."""
    chunks, size = [], 0
    while size <= MAX_BODY_BYTES:
        if ctx.should_stop():
            break  # the caller returns the stop reason
        if time.monotonic() > deadline:
            raise TimeoutError("the response did not arrive in time")
        chunk = response.read(min(16 * 1024, MAX_BODY_BYTES + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    body = b"".join(chunks)
    if len(body) > MAX_BODY_BYTES:
        return body[:MAX_BODY_BYTES], True
    return body, False


def lowered_headers(message: http.client.HTTPMessage) -> dict[str, str]:
    headers = {}
    for name, value in message.items():
        name = name.lower()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return headers


def is_json_type(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _parse_json(body):
    try:
        return (json.loads(body),)
    except ValueError:
        return None


def describe_error(exc: Exception, timeout: float) -> str:
    if refused := refusal_of(exc):
        return str(refused)
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(reason, TimeoutError | socket.timeout):
        return f"no response within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"could not resolve the host name ({reason.strerror})"
    if isinstance(reason, ssl.SSLError):
        return f"TLS error: {reason.reason or reason}"
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    if isinstance(reason, str):
        return reason
    return f"{type(reason).__name__}: {reason}"
