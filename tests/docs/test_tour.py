"""The documentation's examples are executable: every block marked ``<!-- run -->`` in the
README, the tour (docs/tour.md) and the partner guide (docs/partners.md) runs, in order, against
a real server, and fails the test if it answers an error the text does not promise
(``<!-- run: expect-errors -->``). Each page is run by a reader of its own, from the top.

Shell blocks run in one bash session per page (variables they set carry over; ``jq`` and
``curl`` are used as a reader would). GraphQL blocks send each of their operations as GraphiQL
would; comments at the top say what they need: ``# Authorization: Bearer $TOKEN``,
``# variables: {"image": "$IMAGE"}`` (filled from the shell's variables) and
``# keep: NAME=.data.path[0].id`` (a value the next blocks use).

Every GraphQL block of every page, run or not, fits schema.graphql, and GraphiQL's opening
example runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import OperationDefinitionNode, build_schema, parse, validate

from tests.acceptance.conftest import free_port, start_server, stop_server
from tests.conftest import fresh_database

ROOT = Path(__file__).resolve().parents[2]
#: the pages whose marked blocks run, and how many blocks each has at least
RUNNABLE = {"README.md": 3, "docs/tour.md": 10, "docs/partners.md": 11, "docs/governance.md": 7}
GRAPHIQL = ROOT / "app" / "static" / "graphiql" / "index.html"
DOCS_URL = "http://127.0.0.1:8000"
BLOCK = re.compile(
    r"<!-- run(?::\s*(?P<options>[^>]*?))?\s*-->\s*\n```(?P<language>\w+)\n(?P<body>.*?)\n```",
    re.S,
)
HEADER = re.compile(r"^#\s*(?P<key>Authorization|variables|keep):\s*(?P<value>.+)$")

pytestmark = pytest.mark.once


@dataclass(frozen=True)
class Block:
    """One runnable block of a page."""

    language: str
    body: str
    expect_errors: bool
    line: int


def blocks(text: str) -> list[Block]:
    """The runnable blocks, in order."""
    return [
        Block(
            m.group("language"),
            m.group("body"),
            "expect-errors" in (m.group("options") or ""),
            text.count("\n", 0, m.start()) + 1,
        )
        for m in BLOCK.finditer(text)
    ]


def problems(answer: Any) -> list[Any]:
    """Errors and non-empty userErrors anywhere in an answer."""
    found: list[Any] = []
    if isinstance(answer, dict):
        found += answer.get("errors") or []
        for key, value in answer.items():
            if key == "userErrors" and value:
                found += value
            elif key != "errors":
                found += problems(value)
    elif isinstance(answer, list):
        for item in answer:
            found += problems(item)
    return found


def json_objects(text: str) -> Iterator[Any]:
    """The JSON objects printed in a shell's output (curl prints no newline after them)."""
    decoder = json.JSONDecoder()
    position = text.find("{")
    while position != -1:
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        yield value
        position = text.find("{", end)


def pick(answer: Any, path: str) -> Any:
    """A value at a jq-like path such as ``.data.images.nodes[0].id``."""
    value = answer
    for name, index in re.findall(r"\.(\w+)|\[(\d+)\]", path):
        value = value[name] if name else value[int(index)]
    return value


class Reader:
    """Runs blocks the way a reader pasting them would, remembering their variables."""

    def __init__(self, page: str, url: str, env: dict[str, str], workdir: Path) -> None:
        self.page = page
        self.url = url
        self.env = env
        self.env_file = workdir / "reader.env"
        self.env_file.write_text("")
        self.workdir = workdir

    def variables(self) -> dict[str, str]:
        """The shell variables the blocks so far exported."""
        found: dict[str, str] = {}
        for line in self.env_file.read_text().splitlines():
            match = re.match(r'declare -x (\w+)="(.*)"$', line)
            if match:
                found[match.group(1)] = match.group(2).replace('\\"', '"')
        return found

    def shell(self, block: Block) -> None:
        body = block.body.replace(DOCS_URL, self.url)
        script = (
            f'set -euo pipefail; set -a; source "{self.env_file}"\n{body}\n'
            f'set +a; export -p > "{self.env_file}"'
        )
        done = subprocess.run(
            ["bash", "-c", script],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"{self.page} line {block.line}: {done.stderr}{done.stdout}"
        for answer in json_objects(done.stdout):
            self.check(block, answer)

    def graphql(self, block: Block) -> None:
        known = self.variables()

        def fill(text: str) -> str:
            return re.sub(r"\$(\w+)", lambda m: known.get(m.group(1), m.group(0)), text)

        headers, variables, keep = {}, {}, {}
        for line in block.body.splitlines():
            match = HEADER.match(line.strip())
            if match is None:
                continue
            key, value = match.group("key"), fill(match.group("value"))
            if key == "Authorization":
                headers["Authorization"] = value
            elif key == "variables":
                variables = json.loads(value)
            else:
                name, _, path = value.partition("=")
                keep[name.strip()] = path.strip()
        document = parse(block.body)
        for operation in document.definitions:
            if not isinstance(operation, OperationDefinitionNode):
                continue
            declared = {d.variable.name.value for d in operation.variable_definitions or ()}
            answer = httpx.post(
                f"{self.url}/graphql",
                json={
                    "query": block.body,
                    "operationName": operation.name.value if operation.name else None,
                    "variables": {k: v for k, v in variables.items() if k in declared},
                },
                headers=headers,
                timeout=60,
            ).json()
            self.check(block, answer)
            for name, path in keep.items():
                try:
                    value = pick(answer, path)
                except (KeyError, IndexError, TypeError):
                    continue
                with self.env_file.open("a") as env:
                    env.write(f'declare -x {name}="{value}"\n')

    def check(self, block: Block, answer: Any) -> None:
        if not block.expect_errors:
            assert problems(answer) == [], f"{self.page} line {block.line}: {answer}"


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """A server as the documentation's reader runs it, with short operations and a clock an
    administrator may move."""
    with fresh_database(tmp_path_factory) as url:
        data_dir = tmp_path_factory.mktemp("docs-data")
        env = {
            **os.environ,
            "BCC_IMAGES_DATABASE_URL": url,
            "BCC_IMAGES_DATA_DIR": str(data_dir),
            "BCC_IMAGES_OPERATION_SECONDS": "1",
            "BCC_IMAGES_OPERATION_SECONDS_PER_GB": "0",
            "BCC_IMAGES_LOG_LEVEL": "WARNING",
            # docs/governance.md moves the clock (it runs last: the other pages' readers see
            # the real time)
            "BCC_IMAGES_SIMULATED_CLOCK": "1",
            # docs/partners.md's webhook receiver runs on this machine
            "BCC_IMAGES_WEBHOOK_ALLOW_HTTP": "1",
            "BCC_IMAGES_WEBHOOK_ALLOW_HOSTS": "127.0.0.1:9000",
        }
        port = free_port()
        process = start_server(env, data_dir / "server.log", port)
        try:
            yield f"http://127.0.0.1:{port}", env
        finally:
            stop_server(process)


@pytest.mark.parametrize("page", list(RUNNABLE))
def test_every_marked_example_runs(
    page: str, docs_server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    url, env = docs_server
    runnable = blocks((ROOT / page).read_text())
    assert len(runnable) >= RUNNABLE[page], f"{page} is marked to run"
    reader = Reader(page, url, env, tmp_path)
    for block in runnable:
        if block.language == "sh":
            reader.shell(block)
        elif block.language == "graphql":
            reader.graphql(block)
        else:
            raise AssertionError(f"{page} line {block.line}: cannot run a {block.language} block")


def pages() -> list[Path]:
    """The README and every page of the documentation site."""
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def graphql_blocks(path: Path) -> list[str]:
    """The GraphQL blocks of a page, run or not."""
    return re.findall(r"```graphql\n(.*?)\n```", path.read_text(), re.S)


def test_every_graphql_block_pastes_whole() -> None:
    """A block holding several operations names each one, so GraphiQL runs it as pasted."""
    for path in pages():
        for block in graphql_blocks(path):
            document = parse(block)
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                assert all(o.name for o in operations), f"{path.name}: {block[:200]}"


def test_every_graphql_block_fits_the_schema() -> None:
    """Every GraphQL example of the README and the docs is valid against schema.graphql, so
    none describes a field or an input the API no longer has."""
    schema = build_schema((ROOT / "schema.graphql").read_text())
    checked = 0
    for path in pages():
        for block in graphql_blocks(path):
            errors = validate(schema, parse(block))
            assert errors == [], f"{path.relative_to(ROOT)}: {errors[0].message}\n{block[:300]}"
            checked += 1
    assert checked >= 20


def graphiql_example() -> str:
    """The query GraphiQL opens with (app/static/graphiql/index.html)."""
    match = re.search(r"const EXAMPLE_QUERY = `(.*?)`;", GRAPHIQL.read_text(), re.S)
    assert match, "index.html sets EXAMPLE_QUERY"
    return match.group(1)


def test_graphiql_opens_with_an_example_of_this_api(
    docs_server: tuple[str, dict[str, str]],
) -> None:
    """GraphiQL's opening query is this API's, fits the schema and runs anonymously as it is."""
    query = graphiql_example()
    assert "Welcome to GraphiQL" not in query
    schema = build_schema((ROOT / "schema.graphql").read_text())
    assert validate(schema, parse(query)) == []
    url, _ = docs_server
    answer = httpx.post(f"{url}/graphql", json={"query": query}, timeout=60).json()
    assert problems(answer) == [], answer
    assert answer["data"]["regions"] and answer["data"]["images"]["nodes"]
