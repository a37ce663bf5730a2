"""Loa Làng wire contract: MQTT topics, message models and signed envelopes.

Imported by both the controller and the edge agent, so it depends on nothing but the
standard library, msgspec and PyNaCl (to check signatures: light enough for a Raspberry Pi).
"""

PROTOCOL_VERSION = 1

__version__ = "0.1.0"
"""This source tree's release: the controller's and the agent's alike (both distributions
read it here; ``loalang.__version__`` is this)."""
