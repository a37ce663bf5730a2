"""The broker's password file and ACL from the registry: pure, checked line by line (that
Mosquitto accepts them is tests/e2e/test_broker_access.py)."""

from __future__ import annotations

import base64
import hashlib

from controller.broker.access import BrokerUser, acl_file, mosquitto_hash, password_file


def test_a_password_is_hashed_as_mosquitto_2_writes_it():
    hashed = mosquitto_hash("loa-1.secret", salt=b"0123456789ab")
    kind, iterations, salt, digest = hashed.split("$")[1:]
    assert (kind, iterations) == ("7", "101")
    assert base64.b64decode(salt) == b"0123456789ab"
    assert base64.b64decode(digest) == hashlib.pbkdf2_hmac(
        "sha512", b"loa-1.secret", b"0123456789ab", 101
    )
    assert mosquitto_hash("x") != mosquitto_hash("x")  # a fresh salt each time


def test_each_device_gets_exactly_its_own_topics_and_only_the_controller_writes_commands():
    controller = [
        BrokerUser("loalang-controller", "$7$c"),
        BrokerUser("loalang-controller-cmd", "$7$c"),
    ]
    devices = [
        BrokerUser("loa-2", "$7$b", ("thon-tay",)),
        BrokerUser("loa-1", "$7$a", ("thon-dong", "cho")),
    ]
    assert password_file(controller, devices).splitlines() == [
        "loalang-controller:$7$c",
        "loalang-controller-cmd:$7$c",
        "loa-1:$7$a",
        "loa-2:$7$b",
    ]
    acl = acl_file(controller, devices)
    blocks = {
        b.splitlines()[0]: b.splitlines()[1:] for b in acl.split("\n\n") if b.startswith("user ")
    }
    assert blocks["user loalang-controller"] == ["topic readwrite loalang/v1/#"]
    assert blocks["user loalang-controller-cmd"] == ["topic readwrite loalang/v1/#"]
    assert blocks["user loa-1"] == [
        "topic write loalang/v1/device/loa-1/status",
        "topic write loalang/v1/device/loa-1/ack",
        "topic write loalang/v1/device/loa-1/event",
        "topic write loalang/v1/device/loa-1/telemetry",
        "topic read loalang/v1/device/loa-1/cmd",
        "topic read loalang/v1/device/loa-1/plan",
        "topic read loalang/v1/device/loa-1/receipt",
        "topic read loalang/v1/zone/cho/cmd",
        "topic read loalang/v1/zone/thon-dong/cmd",
        "topic read loalang/v1/all/cmd",
        "topic read loalang/v1/controller/status",
        "topic read loalang/v1/controller/+/status",
    ]
    assert "pattern" not in acl
    assert "loa-2" not in "\n".join(blocks["user loa-1"])


def test_a_nats_cluster_gets_each_devices_own_subjects_and_hashes_it_can_check():
    import json

    import bcrypt

    from controller.broker.access import nats_authorization, nats_hash

    hashed = nats_hash("loa-1.secret")
    assert hashed.startswith("$2a$04$")
    assert bcrypt.checkpw(b"loa-1.secret", hashed.encode())
    text = nats_authorization(
        [BrokerUser("loalang-controller", "$2a$c")], [BrokerUser("loa-1", "$2a$a", ("thon-dong",))]
    )
    users = json.loads(text[text.index("[") : text.rindex("]") + 1])  # NATS reads JSON
    device = users[1]
    assert device["user"] == "loa-1"
    assert device["password"] == "$2a$a"
    assert device["permissions"]["publish"]["allow"] == [
        f"loalang.v1.device.loa-1.{kind}" for kind in ("status", "ack", "event", "telemetry")
    ]
    assert device["permissions"]["subscribe"]["allow"] == [
        "loalang.v1.device.loa-1.cmd",
        "loalang.v1.device.loa-1.plan",
        "loalang.v1.device.loa-1.receipt",
        "loalang.v1.zone.thon-dong.cmd",
        "loalang.v1.all.cmd",
        "loalang.v1.controller.status",
        "loalang.v1.controller.*.status",
        "$MQTT.sub.>",
    ]
    assert users[0]["permissions"]["publish"]["allow"] == ["loalang.v1.>"]
    assert {u["allowed_connection_types"][0] for u in users} == {"MQTT"}


def test_every_listener_binds_client_ids_to_log_ins():
    """Mosquitto 2.0 reads ``use_username_as_clientid`` per listener: set under the loopback
    listener only, a second credential over TLS took another device's session."""
    from pathlib import Path

    from controller.broker.mosquitto import TlsListener, config_text

    tls = TlsListener("0.0.0.0", 8883, Path("ca"), Path("crt"), Path("key"))
    text = config_text(Path("/x"), "127.0.0.1", 1883, access=True, tls=tls)
    blocks = text.split("\nlistener ")[1:]
    assert [b.splitlines()[0] for b in blocks] == ["1883 127.0.0.1", "8883 0.0.0.0"]
    assert all("use_username_as_clientid true" in b.splitlines() for b in blocks)
    assert "use_username_as_clientid" not in config_text(Path("/x"), "127.0.0.1", 1883)


def test_a_session_client_id_is_one_only_its_passwords_holder_can_name():
    from protocol.topics import client_id

    mine = client_id("loalang-agent-loa-2", "loa-2.token")
    assert mine.startswith("loalang-agent-loa-2-")
    assert len(mine) == len("loalang-agent-loa-2-") + 16
    assert mine == client_id("loalang-agent-loa-2", "loa-2.token")
    assert mine != client_id("loalang-agent-loa-2", "loa-1.token")
    assert client_id("loalang-agent-loa-2", None) == "loalang-agent-loa-2"  # no log-in at all
