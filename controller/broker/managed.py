"""The broker the controller runs itself, chosen by its settings: Mosquitto (with a TLS
listener for agents off this machine, log-ins and ACL), the embedded amqtt for trying out, or
none (an operator's broker or cluster)."""

from __future__ import annotations

import logging

from ..settings import Settings, is_loopback
from ..tls import ensure_certificate
from .denials import Handler
from .embedded import EmbeddedBroker
from .mosquitto import MosquittoBroker, TlsListener

log = logging.getLogger(__name__)


def managed_broker(
    settings: Settings, access: bool, on_log: Handler | None
) -> MosquittoBroker | EmbeddedBroker | None:
    """The broker the controller runs itself, if any (``Settings.broker``)."""
    if settings.broker == "mosquitto":
        tls = None
        if settings.mqtt_tls_port:
            files = ensure_certificate(
                settings.data_dir / "tls",
                settings.station_name,
                [settings.agent_mqtt_host, *settings.tls_names],
                settings.tls_cert,
                settings.tls_key,
            )
            tls = TlsListener(
                settings.mqtt_tls_host,
                settings.mqtt_tls_port,
                files.ca or files.cert,
                files.cert,
                files.key,
            )
        elif not is_loopback(settings.mqtt_host):
            raise ValueError(
                f"plain MQTT on {settings.mqtt_host} would carry device "
                "credentials in clear text: keep mqtt_host on loopback and set "
                "mqtt_tls_port for agents off this machine"
            )
        return MosquittoBroker(
            settings.data_dir / "mosquitto",
            settings.mqtt_host,
            settings.mqtt_port,
            access=access,
            tls=tls,
            on_log=on_log if access else None,
        )
    if settings.broker == "embedded":
        log.warning(
            "embedded amqtt broker: for trying out only (no ACL, fails under "
            "connection bursts); install mosquitto for anything else"
        )
        return EmbeddedBroker(settings.mqtt_host, settings.mqtt_port)
    return None
