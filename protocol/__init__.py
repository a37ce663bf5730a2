"""Loa Làng wire contract: MQTT topics, message models and signed envelopes.

Imported by both the controller and the edge agent, so it depends on nothing but the
standard library, pydantic and cryptography.
"""

PROTOCOL_VERSION = 1
