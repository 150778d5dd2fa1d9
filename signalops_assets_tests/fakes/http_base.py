"""The lifecycle every local fake shares: a ThreadingHTTPServer on 127.0.0.1 (random port by
default) served from a daemon thread, usable as a context manager. A fake supplies only its
handler class (and, if it needs one, its own server class)."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self


class LocalHTTPServer:
    """Subclasses implement `_server(address)`; `start`/`stop` and the context manager are here."""

    name = "fake"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._requested_port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _server(self, address: tuple[str, int]) -> ThreadingHTTPServer:
        raise NotImplementedError

    @staticmethod
    def threading_server(
        address: tuple[str, int], handler: type[BaseHTTPRequestHandler]
    ) -> ThreadingHTTPServer:
        httpd = ThreadingHTTPServer(address, handler)
        httpd.daemon_threads = True
        return httpd

    def _before_shutdown(self) -> None:
        """Hook: release anything a handler may be blocked on, so shutdown does not wait."""

    def _after_shutdown(self, httpd: ThreadingHTTPServer) -> None:
        """Hook: e.g. reset connections still open after the serve loop stopped."""

    def start(self) -> Self:
        if self._httpd is not None:
            return self
        self._httpd = self._server((self._host, self._requested_port))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self.name}-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._before_shutdown()
        httpd.shutdown()
        self._after_shutdown(httpd)
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``."""
        return f"http://{self._host}:{self.port}"
