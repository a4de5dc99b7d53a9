"""Property (R73, R74): quote total = sum of lines = order total = balance change."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from app.billing.pricing import PREPAID_TERMS
from tests.factories import Factory, gql
from tests.fixtures import CREATE, QUOTE, balance, launch

FLAVORS = ["bcc.g5.c2m8", "bcc.g5.c4m16", "bcc.c5.c2m4", "bcc.m5.c2m16"]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    windows=st.booleans(),
    flavor=st.sampled_from(FLAVORS),
    count=st.integers(1, 20),
    storage=st.sampled_from(["LOCAL_SSD", "CDS_PREMIUM", "CDS_SSD"]),
    disk=st.integers(40, 500),
    months=st.sampled_from(sorted(PREPAID_TERMS)),
)
def test_quote_order_and_balance_agree(
    app_client: TestClient,
    factory: Factory,
    windows: bool,
    flavor: str,
    count: int,
    storage: str,
    disk: int,
    months: int,
) -> None:
    tenant = factory.account(balance="9999999")
    image = factory.public_image(os_type="WINDOWS" if windows else "LINUX")
    request = launch(
        image,
        flavor=flavor,
        count=count,
        systemDisk={"storageType": storage, "sizeGb": disk},
        billing={"timing": "PREPAID", "months": months},
    )
    quote = gql(app_client, QUOTE, {"i": request}, tenant)["data"]["priceQuote"]
    assert quote["userErrors"] == []
    line_sum = sum(Decimal(line["amount"]["amount"]) for line in quote["lines"])
    assert Decimal(quote["total"]["amount"]) == line_sum
    before = balance(app_client, tenant)
    order = gql(app_client, CREATE, {"i": request}, tenant)["data"]["createInstances"]["order"]
    assert order["lines"] == quote["lines"]
    assert order["total"]["amount"] == quote["total"]["amount"]
    assert before - balance(app_client, tenant) == Decimal(quote["total"]["amount"])
