"""Floods of documents over real sockets (R140, R152, R154, R195): what a document holds
but does not run is measured before it is validated, so attackers cannot hold the event loop
and slow other clients; aliased introspection is charged per alias; unparsable or oversized
persisted documents are not stored and the store stays bounded; parsed documents stay within
their byte budget.

Attackers connect from other loopback addresses (127.0.0.2 and up) than the victim
(127.0.0.1), as other clients on the internet would, so each has buckets of its own.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse
from sqlalchemy import create_engine, text

from tests.acceptance.conftest import Server, own_server

# timing-sensitive: CI runs this module by itself, never beside another suite
pytestmark = pytest.mark.alone

GRAPHQL_RESPONSE = "application/graphql-response+json"
VICTIM = "{ regions { code } }"
REPEATED = " ".join("a: images { nodes { id } }" for _ in range(300))
#: what the probe sent: a cheap selected operation, and 300 repeats where nothing runs them
ATTACKS = {
    "unselected-operation": "query A { __typename } query B { " + REPEATED + " }",
    "unused-fragment": "query A { __typename } fragment F on Query { " + REPEATED + " }",
}
MAX_PERSISTED = 20


@pytest.fixture(scope="module")
def floods(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with generous buckets and a small store of persisted documents."""
    settings = {
        "rate_limit_points": 1_000_000,
        "rate_limit_refill_per_second": 1_000_000,
        "persisted_query_max_documents": MAX_PERSISTED,
    }
    with own_server(tmp_path_factory, "document-floods", settings) as server:
        yield server


def client_from(address: str) -> httpx.Client:
    """An HTTP client whose connections come from ``address`` (a loopback address)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=30)


def sha(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()


def persisted(query: str | None, digest: str) -> dict[str, Any]:
    body: dict[str, Any] = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    if query is not None:
        body["query"] = query
    return body


# -- 1. what does not run cannot hold the event loop ------------------------------------------


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_a_victim_is_answered_within_a_second_while_two_attackers_flood(
    floods: Server, attack: str
) -> None:
    # given two attackers sending the document over and over, one with a new comment each time
    document = ATTACKS[attack]
    stop = threading.Event()
    refused: list[str] = []

    def attacker(address: str, vary: bool) -> None:
        with client_from(address) as client:
            i = 0
            while not stop.is_set():
                i += 1
                query = f"{document} # {i}" if vary else document
                body = client.post(
                    f"{floods.url}/graphql", json={"query": query, "operationName": "A"}
                ).json()
                refused.append(body["errors"][0]["extensions"]["code"] if "errors" in body else "")

    # when the victim, who has asked before, asks for the regions meanwhile
    latencies: list[float] = []
    assert floods.post(VICTIM).status_code == 200
    with ThreadPoolExecutor(max_workers=2) as pool:
        attackers = [
            pool.submit(attacker, "127.0.0.2", False),
            pool.submit(attacker, "127.0.0.3", True),
        ]
        try:
            time.sleep(0.5)
            with client_from("127.0.0.1") as victim:
                for _ in range(10):
                    started = time.monotonic()
                    response = victim.post(f"{floods.url}/graphql", json={"query": VICTIM})
                    latencies.append(time.monotonic() - started)
                    assert response.status_code == 200
                    assert response.json()["data"]["regions"]
                    time.sleep(0.1)
        finally:
            stop.set()
            for future in attackers:
                future.result(timeout=60)

    # then every answer came within a second, and every attack was refused by the limits
    assert max(latencies) < 1.0, latencies
    assert refused
    assert set(refused) == {"QUERY_TOO_COMPLEX"}


# -- 2. introspection is charged per root selection ----------------------------------------


def test_aliased_introspection_is_charged_per_alias(floods: Server) -> None:
    # when the schema is introspected under 21 aliases in one request
    one = "__schema { types { name fields { name type { name } } } }"
    query = "{ " + " ".join(f"s{i}: {one}" for i in range(21)) + " }"
    body = floods.post(query).json()

    # then the request is charged 10 for each of them
    assert body["extensions"]["cost"]["requested"] == 210


# -- 3. operation selection ---------------------------------------------------------------


@pytest.mark.parametrize(("accept", "status"), [("application/json", 200), (GRAPHQL_RESPONSE, 400)])
def test_several_operations_and_no_name_is_a_bad_request(
    floods: Server, accept: str, status: int
) -> None:
    response = floods.post(
        "query A { __typename } query B { regions { code } }", headers={"Accept": accept}
    )
    assert response.status_code == status
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert "data" not in body


# -- 4. persisted documents ----------------------------------------------------------------


def stored(server: Server) -> list[tuple[str, str]]:
    """The persisted documents in the server's database: (hash, text)."""
    engine = create_engine(server.env["BCC_IMAGES_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT sha256, query FROM persisted_query")).all()
    finally:
        engine.dispose()
    return [(r[0], r[1]) for r in rows]


def test_an_anonymous_registration_flood_stores_only_what_parses_and_at_most_10(
    floods: Server,
) -> None:
    # given an anonymous attacker registering 30 unparsable documents of 500 KB and 30 valid ones
    junk = [f"{i} " + "{" * 500_000 for i in range(30)]
    valid = [f"{{ flood{i}: __typename }}" for i in range(30)]
    with client_from("127.0.0.4") as attacker:
        junk_answers = [
            attacker.post(f"{floods.url}/graphql", json=persisted(q, sha(q))) for q in junk
        ]
        valid_answers = [
            attacker.post(f"{floods.url}/graphql", json=persisted(q, sha(q))).json() for q in valid
        ]
        junk_later = [
            attacker.post(f"{floods.url}/graphql", json=persisted(None, sha(q))).json()
            for q in junk
        ]

    # then the junk is refused and not stored, the valid documents run
    assert {a.json()["errors"][0]["extensions"]["code"] for a in junk_answers} <= {
        "GRAPHQL_PARSE_FAILED",
        "QUERY_TOO_COMPLEX",
    }
    assert {b["errors"][0]["extensions"]["code"] for b in junk_later} == {
        "PERSISTED_QUERY_NOT_FOUND"
    }
    assert all("errors" not in a for a in valid_answers)
    # and the store holds at most 10 of them (a minute's registrations), every one parses
    rows = stored(floods)
    assert len([h for h, _ in rows if h in {sha(q) for q in valid}]) <= 10
    assert not {sha(q) for q in junk} & {h for h, _ in rows}
    for _, query in rows:
        parse(query)
        assert len(query.encode()) <= 64 * 1024


def test_the_store_stays_bounded(floods: Server) -> None:
    # given a signed-in client registering twice as many documents as the store holds
    tenant = floods.account()
    for i in range(2 * MAX_PERSISTED):
        query = f"{{ bounded{i}: __typename }}"
        response = httpx.post(
            f"{floods.url}/graphql",
            json=persisted(query, sha(query)),
            headers=tenant.headers,
            timeout=30,
        )
        assert "errors" not in response.json()

    # then the store holds no more than its bound, the newest kept
    rows = stored(floods)
    assert len(rows) <= MAX_PERSISTED
    last = f"{{ bounded{2 * MAX_PERSISTED - 1}: __typename }}"
    assert sha(last) in {h for h, _ in rows}


def test_a_nul_in_a_persisted_document_is_refused_not_a_server_error(floods: Server) -> None:
    query = "{ regions { code } } # \x00"
    response = httpx.post(f"{floods.url}/graphql", json=persisted(query, sha(query)), timeout=30)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


# -- 5. parsed documents stay within their budget -------------------------------------------


def rss_bytes(pid: int) -> int:
    """The resident set size of a process (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc")
def test_unique_large_documents_do_not_grow_the_process_past_its_budget(floods: Server) -> None:
    # given the server's resident size after a first large document
    assert floods.process is not None
    pid = floods.process.pid
    with client_from("127.0.0.5") as attacker:
        attacker.post(f"{floods.url}/graphql", json={"query": "{ " + "a " * 4990 + "} #warm"})
        before = rss_bytes(pid)

        # when 200 documents of 4,990 selections arrive, each with its own comment
        for i in range(200):
            query = "{ " + "a " * 4990 + "} #" + str(i)
            attacker.post(f"{floods.url}/graphql", json={"query": query})

    # then the process grew by less than the parsed-document cache's budget (32 MB)
    grown = rss_bytes(pid) - before
    assert grown < 32 * 1024 * 1024, f"grew by {grown / 1024 / 1024:.0f} MB"
