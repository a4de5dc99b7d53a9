"""The HTTP server: every accepted TCP socket has TCP_NODELAY, also on the shared listening
socket ``serve --workers N`` hands its worker processes (where asyncio does not set it).

A socket-option check, not a timing: without TCP_NODELAY every small response waits for
Nagle's algorithm and the client's delayed ACK (about 40 ms on Linux).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.server import HardenedHttpProtocol


async def _nodelay_of_accepted(protocol_class: type[Any]) -> int:
    """Serve on a listening socket made the way uvicorn makes it for its workers (protocol 0),
    connect once, and read TCP_NODELAY on the socket the server accepted."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, like uvicorn's
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    config = Config(app=lambda scope, receive, send: None, lifespan="off")
    config.load()
    state = ServerState()
    made: list[Any] = []

    def factory() -> Any:
        protocol = protocol_class(config=config, server_state=state, app_state={})
        made.append(protocol)
        return protocol

    loop = asyncio.get_running_loop()
    server = await loop.create_server(factory, sock=listener)
    try:
        _, writer = await asyncio.open_connection(*listener.getsockname())
        for _ in range(100):
            if made and made[0].transport is not None:
                break
            await asyncio.sleep(0.01)
        accepted = made[0].transport.get_extra_info("socket")
        value = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        return int(value)
    finally:
        server.close()
        await server.wait_closed()


def test_accepted_sockets_have_tcp_nodelay() -> None:
    assert asyncio.run(_nodelay_of_accepted(HardenedHttpProtocol)) != 0


def test_without_it_the_worker_socket_has_nagle_on() -> None:
    """The control: uvicorn's own protocol on the same kind of socket leaves Nagle on, so the
    check above would fail without the fix."""
    if asyncio.run(_nodelay_of_accepted(HttpToolsProtocol)) != 0:
        pytest.skip("this Python's asyncio sets TCP_NODELAY on protocol-0 sockets itself")
    assert asyncio.run(_nodelay_of_accepted(HttpToolsProtocol)) == 0
