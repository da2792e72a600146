"""A redis-server of a test's own, on a free port: one a test may stop (SIGSTOP), or start with a
password or TLS, without touching the shared Redis."""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import service_missing


@dataclass
class OwnRedis:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def stall(self) -> None:
        """Stops answering without closing a socket: the kernel still accepts connections and
        data, nothing replies."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def own_redis(folder: Path, *options: str, tls: bool = False) -> Iterator[OwnRedis]:
    """redis-server on 127.0.0.1 with `options` (`--requirepass x`, `--tls-cert-file f`, …);
    with `tls`, its port speaks only TLS."""
    binary = shutil.which("redis-server")
    if binary is None:
        service_missing("redis-server", "the program is not installed (apt-get install redis)")
    assert binary is not None
    port = free_port()
    ports = ["--port", "0", "--tls-port", str(port)] if tls else ["--port", str(port)]
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "redis-server.log"
    command = [binary, *ports, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(folder), "--logfile", str(log), *options]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited: {_tail(log)}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not listen on {port}: {_tail(log)}")
            time.sleep(0.05)
        yield OwnRedis(process, port, log)
    finally:
        process.send_signal(signal.SIGCONT)
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _tail(log: Path) -> str:
    return log.read_text()[-2000:] if log.exists() else "(no log)"


@dataclass
class TlsFiles:
    """A CA made for the test, a server certificate for 127.0.0.1 and a client's, in PEM files."""

    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_options(self) -> list[str]:
        return [
            *("--tls-cert-file", str(self.server_cert), "--tls-key-file", str(self.server_key)),
            *("--tls-ca-cert-file", str(self.ca), "--tls-auth-clients", "yes"),
        ]


def make_tls_files(folder: Path) -> TlsFiles:
    import trustme

    folder.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    server, client = ca.issue_cert("127.0.0.1", "localhost"), ca.issue_cert("vbranch.test")
    files = TlsFiles(*(folder / f"{name}.pem" for name in ("ca", "sc", "sk", "cc", "ck")))
    ca.cert_pem.write_to_path(str(files.ca))
    for leaf, cert, key in (
        (server, files.server_cert, files.server_key),
        (client, files.client_cert, files.client_key),
    ):
        leaf.cert_chain_pems[0].write_to_path(str(cert))
        leaf.private_key_pem.write_to_path(str(key))
    return files
