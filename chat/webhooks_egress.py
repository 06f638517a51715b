"""Outgoing webhook requests: the egress guard and the one HTTP call (docs/webhooks.md, "Egress").

* ``resolve_checked(host, port)``: every address ``host`` resolves to, refused (``EgressRefused``)
  when any of them is private, loopback, link-local, multicast, reserved, unspecified, shared
  (100.64/10) or a cloud metadata address, unless ``WEBHOOK_ALLOW_PRIVATE_NETWORKS``.
* ``post(url, body, headers)``: POST to the first checked address itself (the URL's host name
  stays in the ``Host`` header and in TLS's SNI and certificate check), so a second DNS answer
  cannot swap in another address between the check and the connection (DNS rebinding).
  Redirects are not followed (a 3xx is a failure), the response body is read up to
  ``RESPONSE_READ_LIMIT`` bytes, the whole exchange is bounded by ``WEBHOOK_TIMEOUT_SECONDS``.

Never raises for a network outcome: the answer is an ``HttpOutcome`` (status and/or error text).
"""
from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings

RESPONSE_READ_LIMIT = 64 * 1024
USER_AGENT = "Messenger-Webhooks/1.0"

# Addresses that answer with cloud credentials; some are not "private" by ipaddress's tables.
METADATA_ADDRESSES = frozenset({
    ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean
    ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
})
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT (RFC 6598)


class EgressRefused(Exception):
    """The destination may not be contacted (its message is the delivery's last error)."""


@dataclass(frozen=True)
class HttpOutcome:
    status: int | None
    error: str = ""
    duration_ms: int = 0

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300 and not self.error


def address_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for an address a webhook may not reach when private networks are not allowed."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None and address_refused(mapped):
            return True
    return (
        address in METADATA_ADDRESSES
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or (isinstance(address, ipaddress.IPv4Address) and address in SHARED_ADDRESS_SPACE)
        or not address.is_global
    )


def _getaddrinfo(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (a literal address resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def resolve_checked(host: str, port: int) -> str:
    """The address to connect to for ``host``, after the egress check of every answer."""
    try:
        answers = _getaddrinfo(host, port)
    except (OSError, UnicodeError) as exc:
        raise EgressRefused(f"cannot resolve {host!r}: {exc}") from None
    if not answers:
        raise EgressRefused(f"cannot resolve {host!r}: no address")
    addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in answers]
    if not settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        # Any refused answer refuses the host: a name with one public and one private address
        # would otherwise reach the private one on some attempts.
        for address in addresses:
            if address_refused(address):
                raise EgressRefused(
                    f"destination {host!r} resolves to {address}, a private, loopback, link-local, "
                    "reserved or metadata address (WEBHOOK_ALLOW_PRIVATE_NETWORKS is off)"
                )
    return str(addresses[0])


def post(url: str, *, body: bytes, headers: dict[str, str]) -> HttpOutcome:
    """POST ``body`` to ``url`` through the egress guard; the outcome, never an exception."""
    started = time.monotonic()
    timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS)

    def done(status: int | None, error: str = "") -> HttpOutcome:
        return HttpOutcome(status, error[:500], int((time.monotonic() - started) * 1000))

    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return done(None, "invalid port in the URL")
    try:
        address = resolve_checked(host, port)
    except EgressRefused as exc:
        return done(None, str(exc))
    literal = f"[{address}]" if ":" in address else address
    pinned = parts._replace(netloc=f"{literal}:{port}").geturl()
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if parts.port is None else f"[{host}]:{parts.port}"
    request_headers = {
        **headers, "Host": host_header, "User-Agent": USER_AGENT, "Content-Type": "application/json",
    }
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False, trust_env=False) as client:
            request = client.build_request("POST", pinned, content=body, headers=request_headers,
                                           extensions=extensions)
            response = client.send(request, stream=True)
            try:
                read = 0
                for chunk in response.iter_raw():
                    read += len(chunk)
                    if read >= RESPONSE_READ_LIMIT:
                        break  # the status is what counts; the rest is not read
                    if time.monotonic() - started > timeout:
                        return done(response.status_code, f"timed out after {timeout:g} s reading the response")
            finally:
                response.close()
    except httpx.TimeoutException:
        return done(None, f"timed out after {timeout:g} s")
    except httpx.HTTPError as exc:
        return done(None, f"{type(exc).__name__}: {exc}" or type(exc).__name__)
    status = response.status_code
    if 300 <= status < 400:
        return done(status, f"redirect to {response.headers.get('location', '?')[:200]} not followed")
    if not 200 <= status < 300:
        return done(status, f"HTTP {status}")
    return done(status)
