"""The Dockerfile, checked statically (no container runtime on the CI machines): two stages,
an unprivileged user, a health check on /readyz, and the same install CI runs outside a
container (a non-editable `pip install .` of what the image copies)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_two_stages_the_second_copying_only_the_installed_environment() -> None:
    instructions = _instructions()
    stages = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(stages) == 2 and stages[0].endswith(" AS build")
    copies = [rest for keyword, rest in instructions if keyword == "COPY"]
    assert "--from=build /opt/bcc-images /opt/bcc-images" in copies


def test_the_image_runs_as_an_unprivileged_user_with_a_readiness_health_check() -> None:
    instructions = _instructions()
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1] not in ("root", "0")
    checks = [rest for keyword, rest in instructions if keyword == "HEALTHCHECK"]
    assert len(checks) == 1 and "/readyz" in checks[0]
    assert instructions[-1][0] == "CMD" and "serve" in instructions[-1][1]


def test_it_copies_everything_the_package_needs_and_installs_it_non_editable() -> None:
    instructions = _instructions()
    copied = {rest.split()[0] for keyword, rest in instructions if keyword == "COPY"}
    for needed in ("pyproject.toml", "app", "schema", "seed_data"):
        assert any(c == needed or c.startswith(needed) for c in copied), needed
        assert (ROOT / needed).exists()
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert "pip install --no-cache-dir ." in runs and "-e" not in runs.split()
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {"app", "schema", "seed_data", "pyproject.toml"} & set(ignored)
