"""A CAP 1.2 document as typed values, checked as the CAP 1.2 schema does: the namespace,
required elements and their order, enumerations, dateTime with an offset, ``references``
triples, closed polygons, circles, resource size and digest. Pure: parse bytes, no I/O.

Malformed input raises ``CapInvalid`` naming the element and the problem.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET  # no entity expansion, no external entities

NS = "urn:oasis:names:tc:emergency:cap:1.2"
MAX_BYTES = 2 * 2**20

STATUS = ("Actual", "Exercise", "System", "Test", "Draft")
MSG_TYPE = ("Alert", "Update", "Cancel", "Ack", "Error")
SCOPE = ("Public", "Restricted", "Private")
CATEGORY = (
    "Geo",
    "Met",
    "Safety",
    "Security",
    "Rescue",
    "Fire",
    "Health",
    "Env",
    "Transport",
    "Infra",
    "CBRNE",
    "Other",
)
RESPONSE = (
    "Shelter",
    "Evacuate",
    "Prepare",
    "Execute",
    "Avoid",
    "Monitor",
    "Assess",
    "AllClear",
    "None",
)
URGENCY = ("Immediate", "Expected", "Future", "Past", "Unknown")
SEVERITY = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
CERTAINTY = ("Observed", "Likely", "Possible", "Unlikely", "Unknown")

# element sequences: (name, min, max); max None = unbounded
Sequence = list[tuple[str, int, int | None]]
_ALERT: Sequence = [
    ("identifier", 1, 1),
    ("sender", 1, 1),
    ("sent", 1, 1),
    ("status", 1, 1),
    ("msgType", 1, 1),
    ("source", 0, 1),
    ("scope", 1, 1),
    ("restriction", 0, 1),
    ("addresses", 0, 1),
    ("code", 0, None),
    ("note", 0, 1),
    ("references", 0, 1),
    ("incidents", 0, 1),
    ("info", 0, None),
]
_INFO: Sequence = [
    ("language", 0, 1),
    ("category", 1, None),
    ("event", 1, 1),
    ("responseType", 0, None),
    ("urgency", 1, 1),
    ("severity", 1, 1),
    ("certainty", 1, 1),
    ("audience", 0, 1),
    ("eventCode", 0, None),
    ("effective", 0, 1),
    ("onset", 0, 1),
    ("expires", 0, 1),
    ("senderName", 0, 1),
    ("headline", 0, 1),
    ("description", 0, 1),
    ("instruction", 0, 1),
    ("web", 0, 1),
    ("contact", 0, 1),
    ("parameter", 0, None),
    ("resource", 0, None),
    ("area", 0, None),
]
_RESOURCE: Sequence = [
    ("resourceDesc", 1, 1),
    ("mimeType", 1, 1),
    ("size", 0, 1),
    ("uri", 0, 1),
    ("derefUri", 0, 1),
    ("digest", 0, 1),
]
_AREA: Sequence = [
    ("areaDesc", 1, 1),
    ("polygon", 0, None),
    ("circle", 0, None),
    ("geocode", 0, None),
    ("altitude", 0, 1),
    ("ceiling", 0, 1),
]
_PAIR: Sequence = [("valueName", 1, 1), ("value", 1, 1)]

_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$")
_POINT = r"-?\d+(?:\.\d+)?,-?\d+(?:\.\d+)?"
_CIRCLE = re.compile(rf"^({_POINT})\s+(\d+(?:\.\d+)?)$")


class CapInvalid(ValueError):
    """A document that is not valid CAP 1.2: ``where`` names the element, ``problem`` why."""

    def __init__(self, where: str, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


@dataclass(frozen=True)
class Resource:
    description: str
    mime: str
    size: int | None = None
    uri: str | None = None
    data: bytes | None = None  # from derefUri
    digest: str | None = None  # SHA-1, hex, as CAP 1.2 specifies

    def checked(self, content: bytes, where: str = "resource") -> bytes:
        """``content`` if its digest (SHA-1, as CAP 1.2 specifies) and size match."""
        if self.digest and hashlib.sha1(content).hexdigest() != self.digest.lower():
            raise CapInvalid(f"{where}/digest", "the audio does not match its digest")
        if self.size is not None and self.size != len(content):
            raise CapInvalid(f"{where}/size", f"the audio is {len(content)} bytes, not {self.size}")
        return content


@dataclass(frozen=True)
class Area:
    description: str
    polygons: list[list[tuple[float, float]]] = field(default_factory=list)  # (lat, lon)
    circles: list[tuple[float, float, float]] = field(default_factory=list)  # lat, lon, km
    geocodes: list[tuple[str, str]] = field(default_factory=list)  # (valueName, value)


@dataclass(frozen=True)
class Info:
    language: str
    categories: list[str]
    event: str
    urgency: str
    severity: str
    certainty: str
    onset: datetime | None = None
    expires: datetime | None = None
    headline: str = ""
    description: str = ""
    instruction: str = ""
    resources: list[Resource] = field(default_factory=list)
    areas: list[Area] = field(default_factory=list)

    @property
    def text(self) -> str:
        """What is read aloud: headline, description, instruction."""
        return "\n".join(
            x.strip() for x in (self.headline, self.description, self.instruction) if x.strip()
        )


@dataclass(frozen=True)
class Alert:
    identifier: str
    sender: str
    sent: datetime
    status: str
    msg_type: str
    scope: str
    references: list[tuple[str, str, str]] = field(default_factory=list)
    infos: list[Info] = field(default_factory=list)

    def info_for(self, language: str = "vi-VN") -> Info | None:
        """The info block in ``language`` (its language part alone also matches), else the
        first: ``vi-VN`` is preferred."""
        for info in self.infos:
            if info.language.lower() == language.lower():
                return info
        base = language.split("-")[0].lower()
        for info in self.infos:
            if info.language.split("-")[0].lower() == base:
                return info
        return self.infos[0] if self.infos else None


# --- parsing --------------------------------------------------------------------------------


def _local(el: Element) -> str:
    return el.tag.split("}", 1)[1] if el.tag.startswith("{") else el.tag


def _children(el: Element, where: str, sequence: Sequence) -> dict[str, list[Element]]:
    """The children of ``el`` by name, checked against ``sequence`` (names, order, counts)."""
    found: dict[str, list[Element]] = {}
    order = [name for name, _, _ in sequence]
    last = -1
    for child in el:
        if not isinstance(child.tag, str):
            continue  # comments, processing instructions
        if not child.tag.startswith("{" + NS + "}"):
            raise CapInvalid(f"{where}/{child.tag}", "not in the CAP 1.2 namespace")
        name = _local(child)
        if name not in order:
            raise CapInvalid(f"{where}/{name}", "not a CAP 1.2 element here")
        position = order.index(name)
        if position < last:
            raise CapInvalid(f"{where}/{name}", f"out of order (must come before {order[last]})")
        last = position
        found.setdefault(name, []).append(child)
    for name, low, high in sequence:
        count = len(found.get(name, []))
        if count < low:
            raise CapInvalid(f"{where}/{name}", "required, missing")
        if high is not None and count > high:
            raise CapInvalid(f"{where}/{name}", f"at most {high}, found {count}")
    return found


def _text(found: dict[str, list[Element]], name: str, where: str, required: bool = True) -> str:
    items = found.get(name) or []
    value = (items[0].text or "").strip() if items else ""
    if required and not value:
        raise CapInvalid(f"{where}/{name}", "empty")
    return value


def _enum(value: str, allowed: tuple[str, ...], where: str) -> str:
    if value not in allowed:
        raise CapInvalid(where, f"{value!r} is not one of {', '.join(allowed)}")
    return value


def parse_datetime(value: str, where: str) -> datetime:
    """CAP dateTime: seconds and an explicit offset ("-00:00" for UTC; "Z" is not allowed)."""
    if not _DATETIME.match(value):
        raise CapInvalid(where, f"{value!r} is not a CAP dateTime (YYYY-MM-DDThh:mm:ss+hh:mm)")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise CapInvalid(where, f"{value!r} is not a real date and time") from None


def _polygon(value: str, where: str) -> list[tuple[float, float]]:
    points = []
    for pair in value.split():
        if not re.fullmatch(_POINT, pair):
            raise CapInvalid(where, f"{pair!r} is not a 'lat,lon' pair")
        lat, lon = (float(x) for x in pair.split(","))
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise CapInvalid(where, f"{pair!r} is off the globe")
        points.append((lat, lon))
    if len(points) < 4:
        raise CapInvalid(where, "a polygon needs at least four points")
    if points[0] != points[-1]:
        raise CapInvalid(where, "the polygon is not closed (first and last points differ)")
    return points


def _circle(value: str, where: str) -> tuple[float, float, float]:
    match = _CIRCLE.match(value.strip())
    if not match:
        raise CapInvalid(where, f"{value!r} is not 'lat,lon radius'")
    lat, lon = (float(x) for x in match.group(1).split(","))
    return lat, lon, float(match.group(2))


def _resource(el: Element, where: str) -> Resource:
    found = _children(el, where, _RESOURCE)
    size_text = _text(found, "size", where, required=False)
    if size_text and not size_text.isdigit():
        raise CapInvalid(f"{where}/size", f"{size_text!r} is not a whole number of bytes")
    deref = _text(found, "derefUri", where, required=False)
    data = None
    if deref:
        try:
            data = base64.b64decode(deref, validate=True)
        except ValueError:
            raise CapInvalid(f"{where}/derefUri", "not base64") from None
    digest = _text(found, "digest", where, required=False) or None
    if digest and not re.fullmatch(r"[0-9a-fA-F]{40}", digest):
        raise CapInvalid(f"{where}/digest", "not a SHA-1 digest (40 hex digits)")
    resource = Resource(
        description=_text(found, "resourceDesc", where),
        mime=_text(found, "mimeType", where),
        size=int(size_text) if size_text else None,
        uri=_text(found, "uri", where, required=False) or None,
        data=data,
        digest=digest,
    )
    if data is not None:
        resource.checked(data, where)
    return resource


def _area(el: Element, where: str) -> Area:
    found = _children(el, where, _AREA)
    geocodes = []
    for code in found.get("geocode", []):
        pair = _children(code, f"{where}/geocode", _PAIR)
        geocodes.append(
            (_text(pair, "valueName", f"{where}/geocode"), _text(pair, "value", f"{where}/geocode"))
        )
    return Area(
        description=_text(found, "areaDesc", where),
        polygons=[_polygon(p.text or "", f"{where}/polygon") for p in found.get("polygon", [])],
        circles=[_circle(c.text or "", f"{where}/circle") for c in found.get("circle", [])],
        geocodes=geocodes,
    )


def _info(el: Element, where: str) -> Info:
    found = _children(el, where, _INFO)
    for category in found["category"]:
        _enum((category.text or "").strip(), CATEGORY, f"{where}/category")
    for response in found.get("responseType", []):
        _enum((response.text or "").strip(), RESPONSE, f"{where}/responseType")

    def when(name: str) -> datetime | None:
        value = _text(found, name, where, required=False)
        return parse_datetime(value, f"{where}/{name}") if value else None

    when("effective")
    return Info(
        language=_text(found, "language", where, required=False) or "en-US",
        categories=[(c.text or "").strip() for c in found["category"]],
        event=_text(found, "event", where),
        urgency=_enum(_text(found, "urgency", where), URGENCY, f"{where}/urgency"),
        severity=_enum(_text(found, "severity", where), SEVERITY, f"{where}/severity"),
        certainty=_enum(_text(found, "certainty", where), CERTAINTY, f"{where}/certainty"),
        onset=when("onset"),
        expires=when("expires"),
        headline=_text(found, "headline", where, required=False),
        description=_text(found, "description", where, required=False),
        instruction=_text(found, "instruction", where, required=False),
        resources=[_resource(r, f"{where}/resource") for r in found.get("resource", [])],
        areas=[_area(a, f"{where}/area") for a in found.get("area", [])],
    )


def parse(document: bytes) -> Alert:
    """A CAP 1.2 alert from its XML; ``CapInvalid`` says what is wrong."""
    if len(document) > MAX_BYTES:
        raise CapInvalid("alert", f"larger than {MAX_BYTES // 2**20} MiB")
    try:
        root = SafeET.fromstring(document)
    except SafeET.ParseError as exc:
        raise CapInvalid("alert", f"not well-formed XML ({exc})") from None
    except DefusedXmlException as exc:  # defusedxml's refusals: entities, DTDs
        raise CapInvalid("alert", f"refused XML construct ({type(exc).__name__})") from None
    if root.tag != f"{{{NS}}}alert":
        raise CapInvalid("alert", f"the root must be <alert> in {NS}, not {root.tag}")
    found = _children(root, "alert", _ALERT)
    references = []
    for triple in _text(found, "references", "alert", required=False).split():
        parts = triple.split(",")
        if len(parts) != 3 or not all(parts):
            raise CapInvalid("alert/references", f"{triple!r} is not sender,identifier,sent")
        parse_datetime(parts[2], "alert/references")
        references.append((parts[0], parts[1], parts[2]))
    msg_type = _enum(_text(found, "msgType", "alert"), MSG_TYPE, "alert/msgType")
    if msg_type in ("Update", "Cancel") and not references:
        raise CapInvalid("alert/references", f"an {msg_type} must reference what it changes")
    identifier = _text(found, "identifier", "alert")
    if re.search(r"[\s,<&]", identifier):
        raise CapInvalid("alert/identifier", "no spaces, commas or restricted characters")
    return Alert(
        identifier=identifier,
        sender=_text(found, "sender", "alert"),
        sent=parse_datetime(_text(found, "sent", "alert"), "alert/sent"),
        status=_enum(_text(found, "status", "alert"), STATUS, "alert/status"),
        msg_type=msg_type,
        scope=_enum(_text(found, "scope", "alert"), SCOPE, "alert/scope"),
        references=references,
        infos=[_info(info, f"alert/info[{i + 1}]") for i, info in enumerate(found.get("info", []))],
    )
