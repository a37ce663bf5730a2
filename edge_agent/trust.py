"""The controller's keys this agent trusts: pinned at enrolment, plus those a signed
``trust_key`` announced since, less those a signed ``retire_key`` retired."""

from __future__ import annotations

from protocol.envelope import load_public_key
from protocol.keys import PublicKey

from .state import AgentState


class TrustedKeys:
    def __init__(self, pinned: dict[str, PublicKey], state: AgentState):
        self._pinned = pinned
        self._state = state
        self._keys = self._now()

    def __call__(self) -> dict[str, PublicKey]:
        """Made when the agent starts and when a key is trusted or retired, not per command."""
        return self._keys

    def trust(self, kid: str, key: str) -> None:
        self._state.trust_key(kid, key)
        self._keys = self._now()

    def retire(self, kid: str) -> None:
        self._state.retire_key(kid)
        self._keys = self._now()

    def _now(self) -> dict[str, PublicKey]:
        keys = dict(self._pinned)
        for kid, text in self._state.keys.items():
            keys.setdefault(kid, load_public_key(text))
        return {kid: key for kid, key in keys.items() if kid not in self._state.retired_keys}
