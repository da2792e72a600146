"""How `RedisLink` opens its socket: TLS with a CA file and a client certificate, and TCP
keepalive. redis-py's clients get the same keepalive options (`keepalive_options`)."""

from __future__ import annotations

import asyncio
import socket
import ssl

#: TCP keepalive: a connection silent for 30 s is probed every 10 s, and closed by the kernel after
#: 3 probes go unanswered (about a minute), rather than the two hours of the kernel's default.
_KEEPALIVE = {"TCP_KEEPIDLE": 30, "TCP_KEEPINTVL": 10, "TCP_KEEPCNT": 3}


def keepalive_options() -> dict[int, int]:
    """The keepalive options this platform has, as redis-py's `socket_keepalive_options` takes them."""
    return {
        getattr(socket, name): value for name, value in _KEEPALIVE.items() if hasattr(socket, name)
    }


def tls_context(
    ca_file: str | None = None, cert_file: str | None = None, key_file: str | None = None
) -> ssl.SSLContext:
    """Verifies the server (against `ca_file`, else the system's CAs) and, given a certificate,
    presents it (Redis with `tls-auth-clients yes` asks for one)."""
    context = ssl.create_default_context(cafile=ca_file)
    if cert_file:
        context.load_cert_chain(cert_file, key_file)
    return context


def keep_alive(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in keepalive_options().items():
        sock.setsockopt(socket.IPPROTO_TCP, option, value)
