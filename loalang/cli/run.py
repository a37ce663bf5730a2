"""Running the controller, an agent or the demo."""

from __future__ import annotations

from pathlib import Path

import typer

from .common import fail, settings_or_fail, setup_logging


def controller(verbose: bool = typer.Option(False, "-v")) -> None:
    """Run the controller (settings from LOALANG_* environment variables or .env)."""
    import signal
    import socket

    import uvicorn

    from controller.app import create_app
    from controller.container import Services
    from controller.server import KEEP_ALIVE_S, https_server

    setup_logging(verbose)
    settings = settings_or_fail()
    services = Services(settings)
    services.start()
    app_ = create_app(services=services)
    https = https_server(app_, settings)  # the same app over TLS, for phones on the LAN

    def _exit(signum: int, frame: object) -> None:  # uvicorn re-raises SIGTERM as it exits:
        raise SystemExit(0)  # let it unwind through ``finally``, which stops the services

    signal.signal(signal.SIGTERM, _exit)
    try:
        if https is not None:
            https[0].start()
            typer.echo(
                f"HTTPS: https://{socket.gethostname()}:{settings.https_port}/ui/"
                + (f" (CA to trust on phones: {https[1].ca})" if https[1].ca else "")
            )
        uvicorn.run(
            app_,
            host=settings.http_host,
            port=settings.http_port,
            log_level="info" if verbose else "warning",
            timeout_keep_alive=KEEP_ALIVE_S,
        )
    finally:
        if https is not None:
            https[0].stop()
        services.stop()


def agent(
    config: Path = typer.Option(..., "--config", "-c", help="agent TOML file"),
    verbose: bool = typer.Option(False, "-v"),
) -> None:
    """Run the edge agent (a Pi runs ``loalang-agent run``, which is this without Typer)."""
    from edge_agent.__main__ import run

    raise typer.Exit(run(config, verbose))


def demo(
    data_dir: Path = typer.Option(Path("loalang-demo"), help="where the demo keeps its state"),
    http_port: int | None = typer.Option(
        None, help="web UI and API [default: 8080, or a free port if taken]"
    ),
    https_port: int | None = typer.Option(
        None,
        help="the web UI over HTTPS for phones; 0: none [default: 8443, or a free port if taken]",
    ),
    mqtt_port: int | None = typer.Option(
        None, help="the demo's MQTT broker [default: 18830, or a free port if taken]"
    ),
    icecast_port: int | None = typer.Option(
        None, help="live voices and relays [default: 8000, or a free port if taken]"
    ),
    broker: str = typer.Option(
        "auto",
        help="auto: a Mosquitto of its own when installed, "
        "else the embedded amqtt (trying out only); mosquitto; "
        "embedded; external (one already on --mqtt-port)",
    ),
    verbose: bool = typer.Option(False, "-v"),
) -> None:
    """Controller + MQTT broker + three simulated village agents, on SQLite. A port given
    must be free; one not given is the usual one, or a free one if that is taken."""
    from controller.broker.mosquitto import mosquitto_binary

    from ..demo import DemoPorts, run_demo

    setup_logging(verbose)
    if broker == "auto":
        broker = "mosquitto" if mosquitto_binary() else "embedded"
    if broker not in ("mosquitto", "embedded", "external"):
        fail(f"--broker: auto, mosquitto, embedded or external, not {broker!r}")
    try:
        run_demo(
            data_dir=data_dir,
            ports=DemoPorts(http_port, https_port, mqtt_port, icecast_port),
            broker=broker,
        )
    except (RuntimeError, ValueError) as exc:  # a port taken, a bad setting: one line
        fail(f"loalang demo: {exc}")
