"""Start a bcc-images server for a benchmark and sample its memory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Running:
    """A started server."""

    url: str
    pid: int
    env: dict[str, str]

    def cli(self, *args: str) -> dict[str, object]:
        """Run a bcc-images command against the server's database."""
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
        return result


@contextmanager
def server(
    workdir: Path, extra_env: dict[str, str] | None = None, workers: int = 1
) -> Iterator[Running]:
    """Run `bcc-images serve` on a fresh SQLite database under ``workdir``."""
    port = free_port()
    env = {
        **os.environ,
        "BCC_IMAGES_DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
        "BCC_IMAGES_DATA_DIR": str(workdir / "data"),
        "BCC_IMAGES_LOG_LEVEL": "WARNING",
        **(extra_env or {}),
    }
    log = (workdir / "server.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", str(workers)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
    else:
        process.kill()
        raise RuntimeError("server did not start")
    try:
        yield Running(url, process.pid, env)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class PeakSampler:
    """Samples a process's RSS in a thread and remembers the peak."""

    pid: int
    interval: float = 0.05
    peak: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> PeakSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
                self.samples += 1
            except FileNotFoundError:
                return
            time.sleep(self.interval)

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
