"""Media download from the real controller: device auth, Range resume, hash check."""

from __future__ import annotations

import hashlib
import time

import httpx
import pytest

from edge_agent.cache import MediaCache, MediaHashMismatch, MediaUnavailable
from protocol.messages import MediaRef, replace
from tests.support.stack import Stack


@pytest.fixture
def served(stack: Stack, speech_wav):
    stack.add_zone("z")
    config = stack.register("loa-1", ["z"])
    media = stack.upload(speech_wav)
    ref = MediaRef(
        sha256=media["sha256"],
        url=media["url"],
        size=media["size"],
        duration_ms=media["duration_ms"],
    )
    return stack, config, ref


def test_media_needs_a_device_or_operator_token_and_supports_range(served):
    stack, config, ref = served
    url = stack.base_url + ref.url
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer loa-1.wrong"}).status_code == 401
    auth = {"Authorization": f"Bearer {config.token}"}
    full = httpx.get(url, headers=auth)
    assert full.status_code == 200
    assert hashlib.sha256(full.content).hexdigest() == ref.sha256
    part = httpx.get(url, headers={**auth, "Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.content == full.content[100:200]
    assert httpx.get(stack.base_url + "/media/..%2F..%2Fapi-token", headers=auth).status_code == 404


def test_interrupted_download_resumes_from_where_it_stopped(served, tmp_path):
    stack, config, ref = served
    original = stack.services.media.store.path_for(ref.sha256).read_bytes()
    cache = MediaCache(tmp_path / "cache", stack.base_url, config.token)
    # a previous attempt got the first 40% before the link dropped
    (tmp_path / "cache" / f"{ref.sha256}.part").write_bytes(original[: len(original) * 2 // 5])
    path, fetched = cache.fetch(ref, deadline=time.time() + 10)
    assert path.read_bytes() == original
    assert fetched == len(original) - len(original) * 2 // 5  # only the rest went over the wire
    assert cache.fetch(ref, deadline=time.time() + 10) == (path, 0)  # cached now


def test_downloads_at_the_same_time_share_the_cache_safely(served, tmp_path, speech_dir):
    """Plays fetch in parallel: each download gets a connection of its own, then reuses it."""
    import threading

    from tests.support.audio import make_speech

    stack, config, first = served
    refs = [first]
    for i in range(5):
        media = stack.upload(make_speech(speech_dir / f"song-song-{i}.wav", f"Bản tin số {i}."))
        refs.append(
            MediaRef(
                sha256=media["sha256"],
                url=media["url"],
                size=media["size"],
                duration_ms=media["duration_ms"],
            )
        )
    cache = MediaCache(tmp_path / "cache", stack.base_url, config.token)
    results: dict[str, bytes] = {}
    errors: list[BaseException] = []

    def fetch(ref: MediaRef) -> None:
        try:
            results[ref.sha256] = cache.fetch(ref, deadline=time.time() + 20)[0].read_bytes()
        except Exception as exc:  # noqa: BLE001 - collected: the test asserts there are none
            errors.append(exc)

    threads = [threading.Thread(target=fetch, args=(r,)) for r in refs * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert {hashlib.sha256(data).hexdigest() for data in results.values()} == {
        r.sha256 for r in refs
    }


def test_hash_mismatch_is_refused_and_nothing_is_kept(served, tmp_path):
    stack, config, ref = served
    cache = MediaCache(tmp_path / "cache", stack.base_url, config.token)
    forged = replace(ref, sha256="0" * 64)
    with pytest.raises(MediaHashMismatch):
        cache.fetch(forged, deadline=time.time() + 10)
    assert list((tmp_path / "cache").iterdir()) == []


def test_unreachable_controller_gives_up_at_the_deadline(served, tmp_path):
    _, config, ref = served
    cache = MediaCache(tmp_path / "cache", "http://127.0.0.1:9", config.token)
    with pytest.raises(MediaUnavailable):
        cache.fetch(ref, deadline=time.time() + 2)


def test_cache_cap_evicts_least_recently_used_but_never_media_in_use(tmp_path):
    import os

    cache_dir = tmp_path / "cache"
    in_use = {"c" * 64}
    cache = MediaCache(
        cache_dir, "http://127.0.0.1:9", "t" * 10, max_bytes=2500, protected=lambda: in_use
    )
    for age, sha in enumerate(["a" * 64, "b" * 64, "c" * 64, "d" * 64]):
        path = cache_dir / f"{sha}.opus"
        path.write_bytes(b"x" * 1000)
        os.utime(path, (1000 + age, 1000 + age))
    (cache_dir / f"{'a' * 64}.pcm").write_bytes(b"p" * 500)  # decoded copy goes with it
    os.utime(cache_dir / f"{'a' * 64}.pcm", (1000, 1000))
    # c is the oldest after a, but the current plan needs it
    os.utime(cache_dir / f"{'c' * 64}.opus", (10, 10))
    evicted = cache.evict(keep={"d" * 64})
    assert evicted == ["a" * 64, "b" * 64]
    assert sorted(p.name[:1] for p in cache_dir.iterdir()) == ["c", "d"]
    # needed media alone over the cap: kept, playing on time matters more
    in_use.add("d" * 64)
    cache.max_bytes = 500
    assert cache.evict() == []
    assert len(list(cache_dir.iterdir())) == 2
    cache.close()


def test_usage_is_counted_while_part_files_come_and_go(tmp_path):
    """A health report counts the cache while a download renames its part file (CI saw
    FileNotFoundError from a .pcm.part gone between the listing and its stat)."""
    import threading

    cache_dir = tmp_path / "cache"
    cache = MediaCache(cache_dir, "http://127.0.0.1:9", "t" * 10)
    (cache_dir / f"{'a' * 64}.opus").write_bytes(b"x" * 1000)
    stop = threading.Event()

    def churn() -> None:
        part = cache_dir / f"{'b' * 64}.pcm.part"
        while not stop.is_set():
            part.write_bytes(b"p" * 10)
            part.unlink()

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        counts = [cache.usage() for _ in range(3000)]
    finally:
        stop.set()
        worker.join()
    assert {files for _, files in counts} == {1}
    assert {size for size, _ in counts} <= {1000, 1010}
    cache.close()
