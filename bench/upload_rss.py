"""P9 (second half): a 2 GB upload with the server's resident memory under 200 MB.

Usage: .venv/bin/python -m bench.upload_rss [--gb 2]
Creates a sparse file of the given size, uploads it with a streaming multipart request,
samples the server's RSS every 50 ms, and checks the stored object's SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
import time
from pathlib import Path

import httpx

from bench.server import PeakSampler, rss_bytes, server

UPLOAD = (
    'mutation($f: Upload!) { uploadObject(input: {region: "bj", file: $f}) '
    "{ object { key sizeBytes sha256 } userErrors { code message } } }"
)


def sha256_of(path: Path) -> str:
    """Hash a file in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 * 1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def main() -> None:
    """Run the benchmark and print one JSON line of results."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=2.0)
    args = parser.parse_args()
    size = int(args.gb * 1024**3)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        source = work / "disk.raw"
        with source.open("wb") as handle:  # sparse, plus real bytes at both ends
            handle.write(b"\x01" * 4096)
            handle.seek(size - 4096)
            handle.write(b"\x02" * 4096)
        expected = sha256_of(source)
        limit = str(size + 1024**3)
        with server(work, {"BCC_IMAGES_MAX_UPLOAD_BYTES": limit}) as running:
            token = running.cli("account", "create", "--name", "bench", "--role", "CUSTOMER")[
                "token"
            ]
            idle = rss_bytes(running.pid)
            started = time.monotonic()
            with PeakSampler(running.pid) as sampler, source.open("rb") as handle:
                response = httpx.post(
                    f"{running.url}/graphql",
                    headers={"Authorization": f"Bearer {token}"},
                    data={
                        "operations": json.dumps({"query": UPLOAD, "variables": {"f": None}}),
                        "map": json.dumps({"0": ["variables.f"]}),
                    },
                    files={"0": ("disk.raw", handle, "application/octet-stream")},
                    timeout=3600,
                )
            elapsed = time.monotonic() - started
        body = response.json()
        stored = body["data"]["uploadObject"]["object"]
        print(
            json.dumps(
                {
                    "bytes": size,
                    "seconds": round(elapsed, 1),
                    "mb_per_s": round(size / 1024**2 / elapsed, 1),
                    "server_rss_idle_mb": round(idle / 1024**2, 1),
                    "server_rss_peak_mb": round(sampler.peak / 1024**2, 1),
                    "samples": sampler.samples,
                    "sha256_matches": stored["sha256"] == expected,
                    "target_rss_mb": 200,
                    "met": sampler.peak < 200 * 1024**2 and stored["sha256"] == expected,
                }
            )
        )


if __name__ == "__main__":
    main()
