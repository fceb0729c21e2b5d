"""The egress policy (SPEC §15): where the server may send a request it makes for a user
(`http` steps, webhook deliveries, a job's `callback_url`).

- `JOBSITE_EGRESS_DENY`: networks no such request may reach. Default (`default`):
  loopback, "this" network, private ranges, carrier-grade NAT, link-local (which holds
  the cloud metadata address 169.254.169.254), multicast and reserved, and the IPv6
  equivalents (::1, ::, fc00::/7, fe80::/10, ff00::/8). An IPv6 address that embeds an
  IPv4 one (IPv4-mapped ::ffff:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) is also
  judged by the IPv4 address inside.
- `JOBSITE_EGRESS_ALLOW`: exceptions, each a network (`10.1.2.0/24`), an address, or
  either with a port (`127.0.0.1:8000`, `[::1]:8080`), or a host name with or without a
  port (`hooks.internal:8443`), which lets that name through whatever it resolves to.

The check is made on the address actually connected to: the name is resolved once, each
address is judged, and the socket connects to an allowed address itself (so a DNS answer
that changes between a check and the connection — DNS rebinding — changes nothing); the
request keeps its Host header and TLS server name. Only http and https are spoken; every
redirect is a new connection and is judged again. Environment proxies are not used: the
policy must see the destination.
"""

import functools
import http.client
import ipaddress
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError

SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}
DEFAULT_DENY = (
    "0.0.0.0/8",  # "this" network
    "10.0.0.0/8",
    "100.64.0.0/10",  # carrier-grade NAT
    "127.0.0.0/8",
    "169.254.0.0/16",  # link-local, with the metadata address 169.254.169.254
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",  # benchmarking
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and the broadcast address
    "::/128",
    "::1/128",
    "fc00::/7",  # unique local
    "fe80::/10",  # link-local
    "ff00::/8",  # multicast
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class EgressRefused(OSError):
    """A destination the egress policy does not allow. An OSError, so that whatever
    already handles a refused connection (urllib, the http step, webhook delivery) handles
    it too, with this message."""


def refusal_message(address) -> str:
    return f"destination {address} is not allowed by the egress policy"


@dataclass(frozen=True)
class AllowEntry:
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None
    host: str | None  # a host name, lower-case, when the entry names one
    port: int | None  # None: any port

    def admits(self, host: str, port: int, address) -> bool:
        if self.port is not None and self.port != port:
            return False
        if self.host is not None:
            return host.lower().rstrip(".") == self.host
        return any(
            candidate in self.network
            for candidate in _judged_forms(address)
            if candidate.version == self.network.version
        )


@dataclass(frozen=True)
class Policy:
    deny: tuple
    allow: tuple

    def refuses(self, host: str, port: int, address) -> bool:
        """True when a connection to `address` (for `host`:`port`) is not allowed."""
        if any(entry.admits(host, port, address) for entry in self.allow):
            return False
        return any(
            candidate in network
            for candidate in _judged_forms(address)
            for network in self.deny
            if candidate.version == network.version
        )


def _judged_forms(address) -> list:
    """The address and any IPv4 address embedded in it: each must pass the policy."""
    forms = [address]
    if address.version == 6:
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            forms.append(embedded)
    return forms


def _parse_address(text: str):
    return ipaddress.ip_address(text.split("%", 1)[0])


def _parse_allow(entry: str) -> AllowEntry:
    text = entry.strip()
    host, port = text, None
    if text.startswith("["):  # [v6] or [v6]:port or [v6/len]:port
        inside, _, rest = text[1:].partition("]")
        host = inside
        if rest:
            if not rest.startswith(":"):
                raise ValueError(entry)
            port = int(rest[1:])
    elif text.count(":") == 1:  # v4, v4 network or name, with a port
        host, port_text = text.split(":")
        port = int(port_text)
    if port is not None and not 0 < port < 65536:
        raise ValueError(entry)
    try:
        return AllowEntry(ipaddress.ip_network(host, strict=False), None, port)
    except ValueError:
        pass
    if not host or "/" in host or " " in host:
        raise ValueError(entry)
    return AllowEntry(None, host.lower().rstrip("."), port)


@functools.lru_cache(maxsize=8)
def _policy(deny: tuple, allow: tuple) -> Policy:
    networks = []
    for entry in deny:
        if entry.strip().lower() == "default":
            networks.extend(ipaddress.ip_network(net) for net in DEFAULT_DENY)
            continue
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"JOBSITE_EGRESS_DENY: {entry!r} is not a network (use e.g. 10.0.0.0/8, fc00::/7 or 'default')"
            ) from None
    entries = []
    for entry in allow:
        try:
            entries.append(_parse_allow(entry))
        except ValueError:
            raise ImproperlyConfigured(
                f"JOBSITE_EGRESS_ALLOW: {entry!r} is not a network, address or host, with an optional :port"
            ) from None
    return Policy(tuple(networks), tuple(entries))


def current_policy() -> Policy:
    return _policy(tuple(settings.JOBSITE_EGRESS_DENY), tuple(settings.JOBSITE_EGRESS_ALLOW))


# --- checking a URL when it is saved --------------------------------------------------------


def url_problem(url: str) -> str | None:
    """Why the egress policy refuses `url` as far as can be known now, or None.

    A literal address is judged as it is; a name is resolved, and refused when any of its
    addresses is. A name that does not resolve (yet) passes: it is judged again, on the
    address connected to, when something is sent."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return "is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        return "must start with http:// or https://"
    host = parts.hostname
    if not host:
        return "has no host"
    port = port or DEFAULT_PORTS[scheme]
    policy = current_policy()
    try:
        addresses = [_parse_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            return None
        addresses = _ipv4_first(_parse_address(info[4][0]) for info in infos)
    for address in addresses:
        if policy.refuses(host, port, address):
            return refusal_message(address)
    return None


def literal_address_problem(url: str) -> str | None:
    """url_problem without a DNS lookup: only a host written as an address is judged
    (template validation stays fast and the same everywhere; names are judged when the
    step connects)."""
    try:
        parts = urllib.parse.urlsplit(url)
        address = _parse_address(parts.hostname or "")
        port = parts.port or DEFAULT_PORTS.get(parts.scheme.lower(), 80)
    except ValueError:
        return None
    if current_policy().refuses(parts.hostname, port, address):
        return refusal_message(address)
    return None


def validate_outbound_url(url: str) -> None:
    """A form and serializer validator: the egress policy's answer as a ValidationError."""
    problem = url_problem(url)
    if problem:
        raise ValidationError(problem, code="egress")


def _ipv4_first(addresses) -> list:
    unique = list(dict.fromkeys(addresses))
    return sorted(unique, key=lambda address: address.version)


# --- checking a connection when it is made ---------------------------------------------------


def allowed_addresses(host: str, port: int) -> list[tuple]:
    """getaddrinfo's answers for host:port that the policy allows, resolved once; raises
    EgressRefused naming a refused address when none is left."""
    policy = current_policy()
    allowed, refused = [], []
    for family, socktype, proto, _, sockaddr in socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM
    ):
        address = _parse_address(sockaddr[0])
        if policy.refuses(host, port, address):
            refused.append(address)
        else:
            allowed.append((family, socktype, proto, sockaddr))
    if not allowed:
        raise EgressRefused(refusal_message(_ipv4_first(refused)[0] if refused else host))
    return allowed


def guarded_connection(address: tuple, timeout=None, source_address=None) -> socket.socket:
    """socket.create_connection for (host, port), connecting only to an address the
    policy allows (the one that was checked, not a second resolution of the name)."""
    host, port = address
    error = None
    for family, socktype, proto, sockaddr in allowed_addresses(host, port):
        sock = socket.socket(family, socktype, proto)
        try:
            if isinstance(timeout, int | float):
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


class GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # http.client's documented hook for how the socket is opened (its own tests use
        # it); HTTPSConnection then wraps that socket in TLS for self.host, so the
        # certificate is checked against the name while the address is the checked one.
        self._create_connection = guarded_connection


class GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = guarded_connection


class GuardedHTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(GuardedHTTPConnection, req)


class GuardedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self):
        self.tls_context = ssl.create_default_context()
        super().__init__(context=self.tls_context)

    def https_open(self, req):
        return self.do_open(GuardedHTTPSConnection, req, context=self.tls_context)


class GuardedRedirectHandler(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http and https only; the new connection is checked like the
    first one."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        scheme = urllib.parse.urlsplit(newurl).scheme.lower()
        if scheme not in SCHEMES:
            raise EgressRefused(
                f"a redirect to a {scheme or 'relative'}:// URL is not allowed by the egress policy"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def egress_opener(
    redirect_handler: urllib.request.HTTPRedirectHandler | None = None,
) -> urllib.request.OpenerDirector:
    """A urllib opener that speaks http and https through the egress policy, and nothing
    else (no ftp, file or data URLs, no environment proxy)."""
    opener = urllib.request.OpenerDirector()
    for handler in (
        GuardedHTTPHandler(),
        GuardedHTTPSHandler(),
        redirect_handler or GuardedRedirectHandler(),
        urllib.request.HTTPDefaultErrorHandler(),
        urllib.request.HTTPErrorProcessor(),
        urllib.request.UnknownHandler(),
    ):
        opener.add_handler(handler)
    return opener


def refusal_of(exc: BaseException) -> EgressRefused | None:
    """The EgressRefused behind an error urllib raised, if that is what it was."""
    reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    return reason if isinstance(reason, EgressRefused) else None
