"""Loa Làng wire contract: MQTT topics, message models and signed envelopes.

Imported by both the controller and the edge agent, so it depends on nothing but the
standard library, msgspec and cryptography (light enough for a Raspberry Pi).
"""

PROTOCOL_VERSION = 1
