"""The public listen-again page with a year of bulletins: how long ``/nghe`` (first page,
a page deep in the archive, one bulletin) and the RSS feed take to answer an anonymous phone,
uncached (every request after the rendered copy expired) and cached.

A real controller over HTTP on SQLite (the demo's default) or PostgreSQL, a real Mosquitto,
``--bulletins`` aired public text bulletins written straight into the database (a 400-character
text each), one a day at 06:00 going back.

    .venv/bin/python bench/public_page.py [--bulletins 1000] [--db sqlite|postgresql]

Goal (issue 33): the page loads in ≤ 1 s on a phone; this measures the server's share.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.scratch import scratch

TEXT = (
    "Thông báo của Ủy ban nhân dân xã: sáng thứ bảy tổ chức tiêm phòng dại cho chó mèo tại "
    "nhà văn hoá các thôn; đề nghị bà con đưa vật nuôi đến đúng giờ, mang theo sổ tiêm. "
) * 2


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bulletins", type=int, default=1000)
    ap.add_argument("--db", choices=("postgresql", "sqlite"), default="sqlite")
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()

    from controller.db.models import Broadcast, Media
    from controller.web.public_guard import RateLimit
    from protocol.messages import utcnow
    from tests.support import postgres
    from tests.support.mosquitto import Mosquitto
    from tests.support.stack import Stack

    tmp = scratch("loalang-publicpage-")
    with contextlib.ExitStack() as cleanup:
        broker = Mosquitto(tmp / "mosquitto").start()
        cleanup.callback(broker.stop)
        url = cleanup.enter_context(postgres.temp_database()) if args.db == "postgresql" else None
        stack = Stack(tmp, broker.port, database_url=url).start()
        cleanup.callback(stack.stop)
        services = stack.services
        assert services is not None
        now = utcnow().replace(hour=23, minute=0, second=0, microsecond=0) - timedelta(days=1)
        with services.sessions.begin() as session:
            for i in range(args.bulletins):
                sha = f"{i:064x}"
                session.add(
                    Media(
                        sha256=sha,
                        title=f"Bản tin {i}",
                        original_size=1,
                        size=120_000,
                        duration_ms=45_000,
                        text=TEXT,
                    )
                )
                at = now - timedelta(days=i)
                session.add(
                    Broadcast(
                        id=f"b-{i:05d}",
                        title=f"Thông báo tiêm phòng số {i}",
                        media_sha256=sha,
                        priority="emergency" if i % 50 == 0 else "normal",
                        targets=["all"],
                        start_at=at,
                        send_at=at,
                        not_after=at + timedelta(minutes=10),
                        state="done",
                        sent_at=at,
                    )
                )
        guard = stack.server.app.state.public_guard  # cleared: each first request renders
        guard.limit = RateLimit(per_minute=1e9, burst=10**9)  # one address asks it all here
        web = httpx.Client(base_url=stack.base_url, timeout=30)
        slug = web.get("/nghe/rss.xml").text.split('<guid isPermaLink="false">')[1].split("<")[0]
        print(
            f"\nLoa Làng public page — {args.bulletins} aired bulletins, {args.db}, "
            f"{args.runs} requests each (uncached: the rendered copy dropped first)"
        )
        for path in ("/nghe", "/nghe?trang=30", f"/nghe/b/{slug}", "/nghe/rss.xml"):
            cold, warm, size = [], [], 0
            for _ in range(args.runs):
                guard.rendered.clear()
                t0 = time.perf_counter()
                r = web.get(path)
                cold.append((time.perf_counter() - t0) * 1000)
                assert r.status_code == 200, (path, r.status_code, r.text[:300])
                t0 = time.perf_counter()
                web.get(path)
                warm.append((time.perf_counter() - t0) * 1000)
                size = len(r.content)
            print(
                f"  {path:28s} uncached p50 {statistics.median(cold):6.0f} ms  "
                f"max {max(cold):6.0f} ms  cached p50 {statistics.median(warm):5.1f} ms  "
                f"{size / 1024:6.0f} KiB"
            )


if __name__ == "__main__":
    main()
