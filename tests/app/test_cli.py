"""The command line as an operator meets it: one line for a bad setting or an unreachable
database (never a traceback), the settings it runs with, and the database commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BCC_IMAGES_")}
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("BCC_IMAGES_LOG_LEVEL", "LOUD"),
        ("BCC_IMAGES_MAX_QUERY_COST", "-5"),
        ("BCC_IMAGES_OPERATION_SECONDS", "abc"),
    ],
)
def test_a_bad_setting_stops_start_up_in_one_line(variable: str, value: str) -> None:
    done = _run("serve", **{variable: value})
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert variable in lines[0] and "Traceback" not in done.stderr


def test_an_unreachable_database_is_one_line_with_the_password_masked() -> None:
    url = "postgresql+psycopg://bcc:hunter2@127.0.0.1:1/nowhere"
    done = _run("seed", BCC_IMAGES_DATABASE_URL=url)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "BCC_IMAGES_DATABASE_URL=postgresql+psycopg://bcc:***@127.0.0.1:1/nowhere" in lines[0]
    assert "hunter2" not in done.stderr


def test_settings_are_listed_with_secrets_masked() -> None:
    done = _run(
        "settings",
        BCC_IMAGES_CURSOR_SECRET="very-secret",
        BCC_IMAGES_DATABASE_URL="postgresql+psycopg://u:pw@db/x",
        BCC_IMAGES_MAX_QUERY_COST="500",
    )
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert shown["BCC_IMAGES_MAX_QUERY_COST"] == "500"
    assert shown["BCC_IMAGES_CURSOR_SECRET"] == "***"
    assert shown["BCC_IMAGES_DATABASE_URL"] == "postgresql+psycopg://u:***@db/x"
    assert "very-secret" not in done.stdout and "pw@" not in done.stdout


def test_database_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert json.loads(_run("db", "current", BCC_IMAGES_DATABASE_URL=url).stdout) == {
        "revision": None
    }
    history = json.loads(_run("db", "history", BCC_IMAGES_DATABASE_URL=url).stdout)["revisions"]
    assert history[0]["revision"] == "0001" and len(history) >= 12
    newest = history[-1]["revision"]
    up = json.loads(_run("db", "upgrade", BCC_IMAGES_DATABASE_URL=url).stdout)
    assert up == {"from": None, "to": newest}
    down = json.loads(_run("db", "downgrade", "0010", BCC_IMAGES_DATABASE_URL=url).stdout)
    assert down == {"from": newest, "to": "0010"}
    again = json.loads(_run("db", "upgrade", BCC_IMAGES_DATABASE_URL=url).stdout)
    assert again == {"from": "0010", "to": newest}
