"""Which language versions of a bulletin a village hears, and in what order: pure, so the
routing is tested without a database or audio."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

DEFAULT_LANGUAGES = ("vi",)
BETWEEN_VERSIONS_MS = 1200  # the pause between two versions, in a bulletin and in its variants


def heard_languages(zone_languages: Iterable[Sequence[str]]) -> list[str]:
    """The languages a loudspeaker's people hear: its villages' lists joined in order (a
    device in no village hears Vietnamese)."""
    heard = list(dict.fromkeys(code for langs in zone_languages for code in langs))
    return heard or list(DEFAULT_LANGUAGES)


def route(part_languages: Sequence[str], heard: Sequence[str]) -> tuple[int, ...]:
    """The versions (indices into ``part_languages``) a village hearing ``heard`` plays, in
    the order of ``heard``; every version, as made, when it hears none of them (a bulletin
    is never silent for a village)."""
    chosen = tuple(
        i for code in dict.fromkeys(heard) for i, lang in enumerate(part_languages) if lang == code
    )
    return chosen or tuple(range(len(part_languages)))


def variant_key(indices: Sequence[int]) -> str:
    """How a choice of versions is named among a bulletin's variants: "1,0"."""
    return ",".join(str(i) for i in indices)


def is_whole(indices: Sequence[int], count: int) -> bool:
    """Every version in the order it was made: the bulletin itself, no variant needed."""
    return tuple(indices) == tuple(range(count))
