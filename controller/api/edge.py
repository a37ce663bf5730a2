"""What a technician's Pi fetches to install itself: the install script, the systemd unit and
the agent's own distribution (protocol, agent, serial bridge: no controller code)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Response

from .. import edge_dist
from ..domain.errors import NotFound
from ..http import ServicesDep

router = APIRouter(prefix="/edge", tags=["edge"])

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy" / "edge"


def _read(name: str) -> bytes:
    path = DEPLOY / name
    if not path.is_file():
        raise NotFound("edge.not_available")
    return path.read_bytes()


def _file(media_type: str) -> dict[int | str, dict[str, object]]:
    return {
        200: {"content": {media_type: {"schema": {"type": "string"}}}, "description": "the file"}
    }


@router.get("/install.sh", response_class=Response, responses=_file("text/x-shellscript"))
def install_script(svc: ServicesDep) -> Response:
    """``curl -fsSL {controller}/edge/install.sh | sudo bash -s -- --device ... --token ...``"""
    script = (
        _read("install.sh")
        .decode()
        .replace(
            'CONTROLLER="${LOALANG_CONTROLLER:-}"',
            f'CONTROLLER="${{LOALANG_CONTROLLER:-{svc.settings.resolved_public_url}}}"',
            1,
        )
    )
    return Response(script, media_type="text/x-shellscript")


@router.get("/loalang-agent.service", response_class=Response, responses=_file("text/plain"))
def systemd_unit() -> Response:
    return Response(_read("loalang-agent.service"), media_type="text/plain")


@lru_cache(maxsize=1)
def _agent_tarball() -> bytes:
    return edge_dist.tarball()


@router.get("/loalang-agent.tar.gz", response_class=Response, responses=_file("application/gzip"))
def agent_source() -> Response:
    """The agent's own distribution (loalang-agent) as a source tree; ``pip install`` builds
    it. No controller code in it."""
    if not edge_dist.available():
        raise NotFound("edge.not_available")
    return Response(_agent_tarball(), media_type="application/gzip")
