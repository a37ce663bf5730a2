"""What a watched CAP URL returns: one alert, or an index (Atom or RSS) whose entries link to
alerts — the two ways warning centres publish them. Pure: bytes in, links out."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from .alert import NS as CAP_NS

ATOM = "{http://www.w3.org/2005/Atom}"
MAX_LINKS = 200  # an index is read newest first; older entries were seen on earlier polls


class NotAFeed(ValueError):
    """Neither a CAP alert nor an Atom or RSS index."""


@dataclass(frozen=True)
class Feed:
    alert: bool  # the document is itself an alert
    links: tuple[str, ...] = ()  # else: the alerts it lists, absolute, in the feed's order


def read_feed(document: bytes, base_url: str) -> Feed:
    """Classify a fetched document; links are made absolute against ``base_url``."""
    try:
        root = fromstring(document)
    except (ParseError, DefusedXmlException) as exc:
        raise NotAFeed(f"not well-formed XML ({exc})") from None
    if root.tag == f"{{{CAP_NS}}}alert":
        return Feed(alert=True)
    if root.tag == f"{ATOM}feed":
        links = [_atom_link(entry) for entry in root.iter(f"{ATOM}entry")]
    elif root.tag == "rss":
        links = [_rss_link(item) for item in root.iter("item")]
    else:
        raise NotAFeed(f"root element {root.tag!r} is not a CAP alert, an Atom feed or RSS")
    absolute = [urljoin(base_url, link.strip()) for link in links if link and link.strip()]
    return Feed(alert=False, links=tuple(dict.fromkeys(absolute))[:MAX_LINKS])


def _atom_link(entry: Element) -> str | None:
    """The entry's CAP document: a link typed as CAP, else its alternate (or only) link."""
    links = entry.findall(f"{ATOM}link")
    for link in links:
        if "cap" in (link.get("type") or "").lower():
            return link.get("href")
    for link in links:
        if link.get("rel", "alternate") == "alternate":
            return link.get("href")
    return None


def _rss_link(item: Element) -> str | None:
    enclosure = item.find("enclosure")
    if enclosure is not None and "xml" in (enclosure.get("type") or ""):
        return enclosure.get("url")
    link = item.find("link")
    return link.text if link is not None else None
