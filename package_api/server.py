"""``modelshelf serve``: gunicorn with threaded workers, tuned for long streamed transfers."""
from __future__ import annotations

from typing import Any

from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings newer than the installed gunicorn are skipped
                self.cfg.set(key, value)

    def load(self) -> Any:
        from .app import create_app

        return create_app()


def run(*, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until interrupted. gunicorn answers ``Expect: 100-continue`` itself, and the gthread
    worker streams request bodies, so a multi-GB upload neither waits nor buffers."""
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "threads": threads,
            "worker_class": "gthread",
            # The worker heartbeat, not a request limit: transfers of many minutes are fine.
            "timeout": 120,
            "graceful_timeout": 30,
            "keepalive": 5,
            "accesslog": "-",
            "errorlog": "-",
            # gunicorn 25+ opens a control socket at one fixed path per user; several nodes on
            # one machine would take it from each other, and we do not use it.
            "control_socket_disable": True,
        }
    ).run()
