from hypothesis import given
from hypothesis import strategies as st

from protocol import topics

ids = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,63}", fullmatch=True)


@given(ids, st.sampled_from(["status", "telemetry", "event", "ack", "cmd", "plan"]))
def test_device_topics_round_trip(device_id, kind):
    assert topics.parse_device_topic(topics.device_topic(device_id, kind)) == (device_id, kind)


def test_foreign_and_malformed_topics_are_not_device_topics():
    for topic in (
        "loalang/v1/zone/x/cmd",
        "other/v1/device/x/status",
        "loalang/v1/device/X/status",
        "loalang/v1/device/x/status/extra",
        "loalang/v1/device/x/unknown",
        "",
    ):
        assert topics.parse_device_topic(topic) is None


def test_command_topics_per_target():
    assert topics.command_topic("all") == "loalang/v1/all/cmd"
    assert topics.command_topic("zone:thon-dong") == "loalang/v1/zone/thon-dong/cmd"
    assert topics.command_topic("device:loa-1") == "loalang/v1/device/loa-1/cmd"
    assert topics.agent_subscriptions("loa-1", ["thon-dong"]) == [
        "loalang/v1/device/loa-1/cmd",
        "loalang/v1/device/loa-1/plan",
        "loalang/v1/zone/thon-dong/cmd",
        "loalang/v1/all/cmd",
    ]
