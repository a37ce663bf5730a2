"""CAP 1.2 alerts written for the tests: a Vietnamese storm warning, with every part
optional so each test states what it varies."""

from __future__ import annotations

import base64
import hashlib

NS = "urn:oasis:names:tc:emergency:cap:1.2"

STORM_TEXT = (
    "Bão số 9 đang tiến vào đất liền, gió giật cấp 12. "
    "Đề nghị bà con không ra khơi, gia cố nhà cửa và sơ tán khỏi vùng trũng."
)


def cap_alert(
    identifier: str = "VN-KTTV-2026-0091",
    *,
    status: str = "Actual",
    msg_type: str = "Alert",
    sent: str = "2026-12-01T14:30:00+07:00",
    references: str | None = None,
    urgency: str = "Immediate",
    severity: str = "Extreme",
    certainty: str = "Observed",
    expires: str | None = "2030-12-01T20:00:00+07:00",
    onset: str | None = None,
    area: str = "<geocode><valueName>xa</valueName><value>VN-XA-0001</value></geocode>",
    resource: str = "",
    language: str = "vi-VN",
    extra_info: str = "",
    headline: str = "Cảnh báo bão số 9",
    event: str = "Bão",
    description: str = STORM_TEXT,
) -> bytes:
    refs = f"<references>{references}</references>" if references else ""
    times = (f"<onset>{onset}</onset>" if onset else "") + (
        f"<expires>{expires}</expires>" if expires else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{NS}">
  <identifier>{identifier}</identifier>
  <sender>kttv@nchmf.gov.vn</sender>
  <sent>{sent}</sent>
  <status>{status}</status>
  <msgType>{msg_type}</msgType>
  <scope>Public</scope>
  {refs}
  <info>
    <language>{language}</language>
    <category>Met</category>
    <event>{event}</event>
    <urgency>{urgency}</urgency>
    <severity>{severity}</severity>
    <certainty>{certainty}</certainty>
    {times}
    <headline>{headline}</headline>
    <description>{description}</description>
    <instruction>Nghe loa truyền thanh để cập nhật.</instruction>
    {resource}
    <area><areaDesc>Xã mẫu</areaDesc>{area}</area>
  </info>
  {extra_info}
</alert>""".encode()


def audio_resource(content: bytes, *, digest: str | None = None, size: int | None = None) -> str:
    """A <resource> carrying ``content`` inline (derefUri) with its SHA-1 digest."""
    return (
        f"<resource><resourceDesc>Bản tin ghi âm</resourceDesc>"
        f"<mimeType>audio/wav</mimeType><size>{len(content) if size is None else size}</size>"
        f"<derefUri>{base64.b64encode(content).decode()}</derefUri>"
        f"<digest>{digest or hashlib.sha1(content).hexdigest()}</digest></resource>"
    )
