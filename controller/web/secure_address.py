"""The way a phone gets to the station's HTTPS address, where browsers allow the microphone:
the address itself (the host the phone already used, on the HTTPS port) and QR codes for the
admin page — one to install the station's certificate, one to open the pages."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import segno

from ..settings import Settings
from ..tls import local_names


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def secure_base(settings: Settings, request_url: str) -> str | None:
    """``https://host:port`` for the host this page was asked for (a machine on the LAN when
    it was asked on this machine itself); None when the station serves no HTTPS."""
    if not settings.https_port:
        return None
    host = urlsplit(request_url).hostname or "localhost"
    if _is_loopback(host):
        if settings.https_host not in ("0.0.0.0", "::", ""):
            host = settings.https_host  # (it listens there only)
        else:
            _, addresses = local_names()
            lan = [a for a in addresses if not _is_loopback(a) and ":" not in a]
            host = lan[0] if lan else host
    shown = f"[{host}]" if ":" in host else host
    port = "" if settings.https_port == 443 else f":{settings.https_port}"
    return f"https://{shown}{port}"


def qr_svg(url: str) -> str:
    """A QR code of ``url`` as inline SVG, large enough to scan from a screen."""
    return str(segno.make(url, error="m").svg_inline(scale=5, border=2))
