"""A real asyncio library used from tasklet code: httpx's AsyncClient (on
anyio's asyncio backend) talks to a shoal server in the same thread.

The server's tasklets and httpx's asyncio tasks share the hub's loop: each
request needs both to make progress, so the test passes only if neither
blocks the other.
"""

from __future__ import annotations

import httpx
import pytest

import shoal
import shoal.socket as socket

IN_FLIGHT = [0, 0]  # requests being answered now, the most at once
REQUESTS = 20
ALL_ARRIVED: list[shoal.Event] = []  # set when REQUESTS are in flight at once


def _http_handler(conn: socket.socket, address: object) -> None:
    """A minimal HTTP/1.1 server: answers each request with its path, once
    all of them are being answered at the same time."""
    with conn:
        buffered = b""
        while True:
            while b"\r\n\r\n" not in buffered:
                data = conn.recv(4096)
                if not data:
                    return
                buffered += data
            head, _, buffered = buffered.partition(b"\r\n\r\n")
            path = head.split(b" ")[1]
            IN_FLIGHT[0] += 1
            IN_FLIGHT[1] = max(IN_FLIGHT)
            if IN_FLIGHT[0] == REQUESTS:
                ALL_ARRIVED[0].set()
            # A barrier: only concurrent requests get past it in time.
            ALL_ARRIVED[0].wait(timeout=10)
            IN_FLIGHT[0] -= 1
            body = b"you asked for " + path
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n"
                b"content-length: %d\r\n\r\n%s" % (len(body), body)
            )


def test_httpx_async_client_from_tasklets() -> None:
    """Twenty tasklets fetch through one httpx.AsyncClient with await_, while
    a ticker tasklet keeps running; every answer is right."""
    ticks: list[float] = []

    def ticker() -> None:
        while True:
            ticks.append(shoal.current_time())
            shoal.sleep(0.001)

    def main() -> list[str]:
        with shoal.serve_tcp(_http_handler) as server:
            host, port = server.address
            tick = shoal.spawn(ticker)
            client = httpx.AsyncClient(
                base_url=f"http://{host}:{port}", trust_env=False
            )
            try:

                def fetch(i: int) -> str:
                    response = shoal.await_(client.get(f"/page/{i}"), timeout=10)
                    response.raise_for_status()
                    return response.text

                IN_FLIGHT[:] = [0, 0]
                ALL_ARRIVED[:] = [shoal.Event()]
                pages = shoal.allof(*[lambda i=i: fetch(i) for i in range(REQUESTS)])
            finally:
                shoal.await_(client.aclose(), timeout=10)
                tick.kill()
            return list(pages)

    assert shoal.run(main) == [f"you asked for /page/{i}" for i in range(REQUESTS)]
    assert IN_FLIGHT[1] == REQUESTS, f"at most {IN_FLIGHT[1]} were served at once"
    assert len(ticks) > 5


def test_httpx_connection_error_surfaces_in_the_tasklet() -> None:
    """A refused connection raises httpx's own error in the calling tasklet."""

    def main() -> None:
        with socket.create_server(("127.0.0.1", 0)) as probe:
            port = probe.getsockname()[1]
        # The port is closed now: nothing listens there.
        client = httpx.AsyncClient(trust_env=False)
        try:
            with pytest.raises(httpx.ConnectError):
                shoal.await_(client.get(f"http://127.0.0.1:{port}/"), timeout=10)
        finally:
            shoal.await_(client.aclose(), timeout=10)

    shoal.run(main)
