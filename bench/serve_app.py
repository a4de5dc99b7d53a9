"""Serve a baseline app with uvicorn the way the service is served: the asyncio loop, httptools,
and TCP_NODELAY on every accepted socket.

With ``--workers N`` uvicorn binds the listening socket itself (``socket.socket(family=...)``,
protocol 0), so asyncio's own TCP_NODELAY (it checks ``proto == IPPROTO_TCP``) is skipped on
accepted connections and a response written in two sends waits for the client's delayed ACK
(~40 ms). The service sets TCP_NODELAY itself (P13); without the same here the baselines would
be slowed by 2 workers where the service is not. uvicorn's command line cannot take a protocol
class, hence this launcher.

Usage: .venv/bin/python -m bench.serve_app bench.physical:create --port 8001 [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import socket

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class NoDelayHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with TCP_NODELAY set on every accepted socket."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accepted: no Nagle delay."""
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)


def main() -> None:
    """Run ``module:factory`` on 127.0.0.1."""
    parser = argparse.ArgumentParser()
    parser.add_argument("factory", help="module:function returning the ASGI app")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    # by its importable name, not __main__'s: uvicorn's worker processes unpickle it
    from bench.serve_app import NoDelayHttpToolsProtocol as protocol

    uvicorn.run(
        args.factory,
        factory=True,
        host="127.0.0.1",
        port=args.port,
        workers=args.workers,
        loop="asyncio",
        http=protocol,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
