"""CAP 1.2 parsing and checking, the station's rules and the areas → villages mapping: each
malformed document is refused naming what is wrong."""

from __future__ import annotations

import pytest

from controller.cap.alert import CapInvalid, parse
from controller.cap.rules import DEFAULT_RULES, rule_for, zones_for
from tests.support.cap import NS, STORM_TEXT, audio_resource, cap_alert


def test_a_storm_warning_is_read_with_its_vietnamese_info():
    other = (
        "<info><language>en-US</language><category>Met</category><event>Storm</event>"
        "<urgency>Immediate</urgency><severity>Extreme</severity>"
        "<certainty>Observed</certainty><headline>Typhoon 9</headline></info>"
    )
    alert = parse(cap_alert(extra_info=other))
    assert alert.identifier == "VN-KTTV-2026-0091"
    assert alert.status == "Actual"
    assert alert.sent.utcoffset().total_seconds() == 7 * 3600
    info = alert.info_for("vi-VN")
    assert info is not None
    assert info.headline == "Cảnh báo bão số 9"
    assert STORM_TEXT in info.text
    assert info.text.endswith("Nghe loa truyền thanh để cập nhật.")
    assert info.areas[0].geocodes == [("xa", "VN-XA-0001")]
    assert rule_for(info, DEFAULT_RULES).action == "emergency"


@pytest.mark.parametrize(
    ("document", "where", "says"),
    [
        (b"<alert>", "alert", "not well-formed"),
        (b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.1"/>', "alert", "root must be"),
        (
            cap_alert().replace(b"<sender>kttv@nchmf.gov.vn</sender>", b""),
            "alert/sender",
            "required",
        ),
        (
            cap_alert().replace(b"<status>Actual</status>", b"<status>Real</status>"),
            "alert/status",
            "not one of",
        ),
        (cap_alert(sent="2026-12-01T14:30:00Z"), "alert/sent", "not a CAP dateTime"),
        (cap_alert(sent="2026-13-01T14:30:00+07:00"), "alert/sent", "not a real date"),
        (cap_alert(msg_type="Update"), "alert/references", "must reference"),
        (
            cap_alert(msg_type="Cancel", references="kttv,only-two"),
            "alert/references",
            "sender,identifier,sent",
        ),
        (cap_alert(urgency="Now"), "alert/info[1]/urgency", "not one of"),
        (
            cap_alert(area="<polygon>21.0,105.8 21.1,105.9 21.0,105.9</polygon>"),
            "alert/info[1]/area/polygon",
            "at least four",
        ),
        (
            cap_alert(area="<polygon>21.0,105.8 21.1,105.9 21.0,105.9 21.05,105.8</polygon>"),
            "alert/info[1]/area/polygon",
            "not closed",
        ),
        (
            cap_alert(area="<circle>21.0,105.8</circle>"),
            "alert/info[1]/area/circle",
            "lat,lon radius",
        ),
        (
            cap_alert()
            .replace(b"<scope>Public</scope>", b"")
            .replace(b"<msgType>Alert</msgType>", b"<msgType>Alert</msgType><scope>Public</scope>")
            .replace(b"<sent>2026-12-01T14:30:00+07:00</sent>", b"")
            .replace(b"<status>", b"<sent>2026-12-01T14:30:00+07:00</sent><status>", 1)
            .replace(b"<sender>", b"<status>Actual</status><sender>", 1)
            .replace(b"<status>Actual</status>\n", b"\n", 1),
            "alert/",
            "out of order",
        ),
        (
            cap_alert(resource=audio_resource(b"RIFF....", digest="0" * 40)),
            "alert/info[1]/resource/digest",
            "does not match",
        ),
        (
            cap_alert(resource=audio_resource(b"RIFF....", size=99)),
            "alert/info[1]/resource/size",
            "not 99",
        ),
        (
            f'<!DOCTYPE a [<!ENTITY x "y">]><alert xmlns="{NS}">&x;</alert>'.encode(),
            "alert",
            "refused",
        ),
    ],
)
def test_malformed_documents_are_refused_naming_the_problem(document, where, says):
    with pytest.raises(CapInvalid) as refused:
        parse(document)
    assert refused.value.where.startswith(where), refused.value
    assert says in str(refused.value)


def test_the_rules_table_maps_severity_urgency_certainty():
    def action(**fields) -> str:
        info = parse(cap_alert(**fields)).infos[0]
        return rule_for(info, DEFAULT_RULES).action

    assert action() == "emergency"
    assert action(urgency="Future", severity="Severe", certainty="Likely") == "advisory"
    assert action(severity="Moderate", certainty="Possible") == "advisory"
    assert action(severity="Minor") == "ignore"
    assert action(certainty="Unlikely") == "ignore"


def test_areas_cover_villages_by_geocode_polygon_or_circle():
    codes = {"thon-dong": ["xa=VN-XA-0001"], "thon-tay": ["VN-XA-0002"], "ban-na": []}
    places = [(21.02, 105.85, ["thon-dong"]), (21.30, 105.50, ["ban-na"])]
    by_code = parse(cap_alert()).infos[0].areas
    assert zones_for(by_code, codes, places) == {"thon-dong"}
    square = "<polygon>21.25,105.45 21.35,105.45 21.35,105.55 21.25,105.55 21.25,105.45</polygon>"
    assert zones_for(parse(cap_alert(area=square)).infos[0].areas, codes, places) == {"ban-na"}
    circle = "<circle>21.0,105.85 5</circle>"  # 2.2 km from thôn Đông's loudspeaker
    assert zones_for(parse(cap_alert(area=circle)).infos[0].areas, codes, places) == {"thon-dong"}
    other_code = "<geocode><valueName>tinh</valueName><value>VN-XA-0002</value></geocode>"
    assert zones_for(parse(cap_alert(area=other_code)).infos[0].areas, codes, places) == {
        "thon-tay"
    }


def test_a_watched_url_is_an_alert_or_an_atom_or_rss_index_of_alerts():
    from controller.cap.index import NotAFeed, read_feed

    assert read_feed(cap_alert(), "https://kttv.example/cap/latest.xml").alert
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><link rel="alternate" '
        b'href="https://kttv.example/page/1"/><link type="application/cap+xml" '
        b'href="1.xml"/></entry><entry><link href="/cap/2.xml"/></entry>'
        b'<entry><link href="/cap/2.xml"/></entry></feed>'
    )
    assert read_feed(atom, "https://kttv.example/cap/index.atom").links == (
        "https://kttv.example/cap/1.xml",
        "https://kttv.example/cap/2.xml",
    )
    rss = (
        b'<rss version="2.0"><channel><item><link>https://a.example/x.xml</link></item>'
        b'<item><enclosure url="y.cap" type="application/cap+xml"/><link>page</link>'
        b"</item></channel></rss>"
    )
    assert read_feed(rss, "https://a.example/feed").links == (
        "https://a.example/x.xml",
        "https://a.example/y.cap",
    )
    for bad in (b"<html/>", b"not xml", b'<!DOCTYPE a [<!ENTITY x "y">]><rss>&x;</rss>'):
        with pytest.raises(NotAFeed):
            read_feed(bad, "https://a.example/")
