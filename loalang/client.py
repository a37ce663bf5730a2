"""Small HTTP client for the controller API, used by the CLI."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from controller.domain.jobs import MediaJobState

DEFAULT_URL = "http://127.0.0.1:8080"
TOKEN_LOCATIONS = ("loalang-data", "loalang-demo")


class ApiFailure(Exception):
    """The controller answered with an error; ``message`` is its (Vietnamese-first) text."""


def find_token(explicit: str | None) -> str | None:
    """Token from the flag, ``LOALANG_TOKEN``, or an ``api-token`` file in a data dir nearby."""
    if explicit:
        return explicit
    if env := os.environ.get("LOALANG_TOKEN"):
        return env
    dirs = [os.environ["LOALANG_DATA_DIR"]] if os.environ.get("LOALANG_DATA_DIR") else []
    for directory in [*dirs, *TOKEN_LOCATIONS]:
        path = Path(directory) / "api-token"
        if path.is_file():
            return path.read_text().strip()
    return None


class Client:
    def __init__(self, url: str | None = None, token: str | None = None, lang: str = "vi"):
        self.url = (url or os.environ.get("LOALANG_URL") or DEFAULT_URL).rstrip("/")
        headers = {"Accept-Language": lang}
        if tok := find_token(token):
            headers["Authorization"] = f"Bearer {tok}"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=600)

    def _check(self, resp: httpx.Response) -> Any:
        if resp.status_code >= 400:
            try:
                error = resp.json()["error"]
                raise ApiFailure(f"{error['message']} [{error['code']}, HTTP {resp.status_code}]")
            except (ValueError, KeyError, TypeError):
                raise ApiFailure(f"HTTP {resp.status_code}: {resp.text[:300]}") from None
        return resp.json()

    def get(self, path: str, **params: Any) -> Any:
        return self._check(self._http.get(path, params=params))

    def get_bytes(self, path: str, **params: Any) -> bytes:
        """A download (CSV, PDF): the body as it came, or ApiFailure in words."""
        resp = self._http.get(path, params=params)
        if resp.status_code >= 400:
            self._check(resp)
        return resp.content

    def delete(self, path: str) -> None:
        resp = self._http.delete(path)
        if resp.status_code >= 400:
            self._check(resp)

    def post(self, path: str, json: Any = None) -> Any:
        return self._check(self._http.post(path, json=json))

    def put(
        self,
        path: str,
        json: Any = None,
        params: dict[str, Any] | None = None,
        accept: tuple[int, ...] = (),
    ) -> Any:
        """PUT; statuses in ``accept`` return their JSON body instead of raising."""
        resp = self._http.put(path, json=json, params=params)
        if resp.status_code in accept:
            return resp.json()
        return self._check(resp)

    def upload(
        self,
        path: Path,
        title: str | None = None,
        sent: Callable[[int], None] | None = None,
        progress: Callable[[str, float], None] | None = None,
    ) -> Any:
        """Upload and wait until it is processed; ``sent`` learns the bytes sent so far,
        ``progress`` the processing's stage and fraction."""
        with path.open("rb") as fh:
            data = {"title": title} if title else {}
            body = _Counted(fh, sent) if sent else fh
            job = self._check(
                self._http.post(
                    "/api/media",
                    params={"background": "true"},
                    files={"file": (path.name, body)},
                    data=data,
                )
            )
        return self.wait_job(job, progress)

    def post_file(self, path: str, file: Path, **fields: str) -> Any:
        """A multipart upload answered at once (an agent release)."""
        with file.open("rb") as fh:
            return self._check(self._http.post(path, files={"file": (file.name, fh)}, data=fields))

    def post_files(self, path: str, files: dict[str, Path]) -> Any:
        """A multipart upload of several named files, answered at once (a voice)."""
        handles = {field: f.open("rb") for field, f in files.items()}
        try:
            return self._check(
                self._http.post(path, files={k: (files[k].name, fh) for k, fh in handles.items()})
            )
        finally:
            for fh in handles.values():
                fh.close()

    def wait_job(
        self,
        job: dict[str, Any],
        progress: Callable[[str, float], None] | None = None,
        every_s: float = 0.5,
    ) -> Any:
        """Follow a media job until it is done; its bulletin, or ApiFailure with the reason."""
        while not MediaJobState(job["state"]).finished:
            if progress:
                progress(job["stage"], job["progress"])
            time.sleep(every_s)
            job = self.get(f"/api/jobs/{job['id']}")
        if job["state"] == MediaJobState.failed:
            error = job["error"] or {}
            raise ApiFailure(
                f"{error.get('messages', {}).get('vi', '')} / "
                f"{error.get('messages', {}).get('en', '')} [{error.get('code')}]"
            )
        if progress:
            progress("done", 1.0)
        return job["media"]


class _Counted:
    """A file whose reads are counted (upload progress)."""

    def __init__(self, fh: BinaryIO, sent: Callable[[int], None]):
        self._fh = fh
        self._sent = sent
        self._total = 0

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self._total += len(data)
        self._sent(self._total)
        return data
