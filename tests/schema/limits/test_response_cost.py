"""``actual_cost``: the cost formula over what a response returned, one case per way a field
adds to it, and the plans a cached document keeps reused for its next, different response.
"""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse

from schema import schema
from schema.limits.response_cost import Plans, actual_cost
from schema.limits.shape import select_operation

PAGE = """{
  images(first: 10) {
    totalCount
    edges { cursor node { id tags { key } region { code } listing { id } } }
    pageInfo { hasNextPage }
  }
  regions { code zones { name } }
}"""


def _edge(tags: int, listing: bool) -> dict[str, Any]:
    node = {
        "id": "m-1",
        "tags": [{"key": f"k{n}"} for n in range(tags)],
        "region": {"code": "bj"},
        "listing": {"id": "lst-1"} if listing else None,
    }
    return {"cursor": "c", "node": node}


def _cost(document: str, data: dict[str, Any] | None, plans: Plans | None = None) -> int:
    parsed = parse(document)
    operation = select_operation(parsed, None)
    assert operation is not None
    return actual_cost(schema._schema, parsed, operation, data, plans)


def test_each_kind_of_field_adds_what_the_formula_says() -> None:
    data = {
        "images": {
            "totalCount": 7,
            "edges": [_edge(tags=2, listing=False), _edge(tags=0, listing=True)],
            "pageInfo": {"hasNextPage": False},
        },
        "regions": [{"code": "bj", "zones": [{"name": "a"}]}, {"code": "gz", "zones": []}],
    }
    # images: connection 2 + totalCount 1 + per edge its node 1, tags (a leaf list) 1,
    # region 1 and a listing only where one came back; regions: 2 each (itself, its zones)
    assert _cost(PAGE, data) == 2 + 1 + (1 + 1 + 1) + (1 + 1 + 1 + 1) + 2 * 2


@pytest.mark.parametrize(
    ("document", "data", "cost"),
    [
        ("{ images(first: 10) { nodes { id } } }", {"images": {"nodes": [{}, {}, {}]}}, 2 + 3),
        ("{ images(first: 10) { nodes { id } } }", {"images": None}, 1),  # at least 1
        (
            '{ image(id: "m-1") { sharedWith(first: 5) { nodes { id } } } }',
            {"image": {"sharedWith": {"nodes": [{"id": "a"}, {"id": "b"}]}}},
            1 + 2 + 2,
        ),
        (
            'mutation { renameImage(input: {imageId: "m-1", name: "x"}) { image { id region '
            "{ code } } userErrors { code } } }",
            {"renameImage": {"image": {"id": "m-1", "region": {"code": "bj"}}, "userErrors": []}},
            10 + 1 + 1 + 1,
        ),
        (
            'mutation { renameImage(input: {imageId: "m-1", name: "x"}) { image { id } } }',
            {"renameImage": None},
            10,
        ),
    ],
)
def test_returned_sizes_and_nulls_are_what_is_counted(
    document: str, data: dict[str, Any], cost: int
) -> None:
    assert _cost(document, data) == cost


def test_a_document_s_kept_plans_serve_a_different_response() -> None:
    plans: Plans = {}
    full = {"images": {"totalCount": 2, "edges": [_edge(1, True), _edge(1, True)]}, "regions": []}
    assert _cost(PAGE, full, plans) == 2 + 1 + 2 * 4
    assert plans
    short = {"images": {"totalCount": 1, "edges": [_edge(0, False)]}, "regions": None}
    assert _cost(PAGE, short, plans) == 2 + 1 + 3
    assert _cost(PAGE, full, plans) == _cost(PAGE, full)
