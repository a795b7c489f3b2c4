"""What ``modelshelf serve``'s workers write back for each request, at the least cost per request.

- ``CoalescingResponse``: gunicorn's response, with the status line and headers sent together with
  the first bytes of the body, in one ``send``, instead of in a ``send`` of their own. A small JSON
  answer (every MLflow and REST read) is then one TCP segment and one wake-up of the client, not two:
  the headers' own ``send`` was 22% of a gevent worker's time on a ``registered-models/get`` and the
  client read them before it waited again for the body.
- ``serve_request``: one request of a gevent worker's connection, as gunicorn's ``AsyncWorker``
  serves it, with that response and without gunicorn's access line (``package_api.ops.monitoring``
  writes ours).
- ``QuietLogger``: gunicorn's logger without its access line, which it otherwise builds for every
  request (a dict of 20-odd atoms, a formatted time) once ``logconfig_dict`` is set, only for its
  ``gunicorn.access`` logger to drop it.
"""
from __future__ import annotations

import socket
import time
from typing import Any, cast

from gunicorn import util as gunicorn_util
from gunicorn.glogging import Logger
from gunicorn.http import wsgi as gunicorn_wsgi

#: Bodies up to this size are copied behind the headers into one ``send``; a larger first write (a
#: download's first chunk) goes in a ``send`` of its own after the headers, as before, rather than
#: be copied to save one system call among many.
COALESCE_LIMIT = 64 * 1024


class CoalescingResponse(gunicorn_wsgi.Response):
    """gunicorn's response, its head sent with the first bytes of the body in one ``send``.

    Only a first write that gunicorn would send whole goes this way: some bytes (an empty write
    would end a chunked body), at most ``COALESCE_LIMIT`` of them, none past the ``Content-Length``,
    on a response that has a body (not a ``HEAD``, 1xx, 204 or 304). It is framed as gunicorn frames
    it (a chunk's size line and end) and counted in ``sent``. Anything else, and every later write,
    is gunicorn's own ``write``: the head alone, then the body."""

    def write(self, arg: bytes) -> None:
        if (
            self.headers_sent
            or not isinstance(arg, bytes)
            or not 0 < len(arg) <= COALESCE_LIMIT
            or self.req.method == "HEAD"
            or not 200 <= (self.status_code or 0)
            or self.status_code in (204, 304)
            or (self.response_length is not None and self.sent + len(arg) > self.response_length)
        ):
            super().write(arg)
            return
        lines = self.default_headers()
        lines.extend([f"{name}: {value}\r\n" for name, value in self.headers])
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        self.headers_sent = True
        self.sent += len(arg)
        data = head + (b"%X\r\n%s\r\n" % (len(arg), arg) if self.chunked else arg)
        # One ``send`` takes it all unless the socket's buffer is full; gevent's ``sendall`` would
        # first ask the socket its buffer size, on every call, to cut the data into chunks.
        sent = self.sock.send(data)
        if sent < len(data):
            self.sock.sendall(memoryview(data)[sent:])

    def default_headers(self) -> list[str]:
        if self.upgrade:
            connection = "upgrade"
        elif self.should_close():
            connection = "close"
        else:
            connection = "keep-alive"
        major, minor = cast(tuple[int, int], self.req.version)
        lines = [
            f"HTTP/{major}.{minor} {self.status}\r\n",
            f"Server: {self.version}\r\n",
            f"Date: {http_date()}\r\n",
            f"Connection: {connection}\r\n",
        ]
        if self.chunked:
            lines.append("Transfer-Encoding: chunked\r\n")
        return lines


_date: tuple[int, str] = (0, "")


def http_date() -> str:
    """The ``Date`` header's value for now: formatted once a second, not on every response."""
    global _date
    now = int(time.time())
    second, text = _date
    if second != now:
        text = gunicorn_util.http_date(now)
        _date = (now, text)
    return text


def serve_request(worker: Any, listener_name: Any, req: Any, sock: socket.socket, addr: Any) -> bool:
    """Serve ``req`` on ``sock`` with ``worker``'s app, as gunicorn's ``AsyncWorker.handle_request``
    does (gunicorn 26), but answering with ``CoalescingResponse`` and writing no access line of
    gunicorn's. Return whether the connection may serve another request; raise ``StopIteration``
    when it must close, as gunicorn does."""
    environ: Any = {}
    resp = None
    try:
        worker.cfg.pre_request(worker, req)
        resp, environ = gunicorn_wsgi.create(req, sock, addr, listener_name, worker.cfg, response_class=CoalescingResponse)
        environ["wsgi.multithread"] = True
        worker.nr += 1
        if worker.nr >= worker.max_requests:
            if worker.alive:
                worker.log.info("Autorestarting worker after current request.")
                worker.alive = False
        if not worker.alive or not worker.cfg.keepalive:
            resp.force_close()
        respiter = worker.wsgi(environ, resp.start_response)
        if worker.is_already_handled(respiter):
            return False
        try:
            if isinstance(respiter, environ["wsgi.file_wrapper"]):
                resp.write_file(respiter)
            else:
                for item in respiter:
                    resp.write(item)
            resp.close()
        finally:
            if hasattr(respiter, "close"):
                respiter.close()
        if resp.should_close():
            raise StopIteration()
    except StopIteration:
        raise
    except OSError:
        raise  # the connection's own failure: ``handle`` ignores a reset or a broken pipe
    except Exception:
        if resp is not None and resp.headers_sent:
            # The answer has begun: closing the connection is the only way left to say it failed.
            worker.log.exception("Error handling request")
            try:
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            except OSError:
                pass
            raise StopIteration() from None
        raise
    finally:
        try:
            worker.cfg.post_request(worker, req, environ, resp)
        except Exception:
            worker.log.exception("Exception in post_request hook")
    return True


class QuietLogger(Logger):
    """gunicorn's logger, without gunicorn's access line (see the module's docstring)."""

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        return None

