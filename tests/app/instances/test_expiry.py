"""Prepaid terms end (R74): the scheduler stops expired instances; they cannot be restarted,
and releasing them afterwards refunds nothing."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine
from starlette.testclient import TestClient

from app.database import read_session, write_session
from app.instances.models import Instance
from app.instances.service import expire_due
from app.platform.viewer import Role, Viewer
from app.workflows.instance_actions import release
from tests.factories import Factory, gql
from tests.fixtures import CREATE, balance, launch


def test_an_instance_past_its_term_is_stopped_and_refunds_nothing(
    app_client: TestClient, factory: Factory, engine: Engine, run_operations: Callable[[], int]
) -> None:
    tenant = factory.account(balance="1000")
    body = gql(
        app_client,
        CREATE,
        {"i": launch(factory.public_image(), billing={"timing": "PREPAID", "months": 1})},
        tenant,
    )
    instance_id = body["data"]["createInstances"]["instances"][0]["id"]
    run_operations()
    with read_session(engine) as session:
        row = session.get(Instance, instance_id)
        assert row is not None and row.expires_at is not None
        expires = row.expires_at
    with write_session(engine) as session:
        expire_due(session, expires - timedelta(seconds=1))
    with read_session(engine) as session:
        assert session.get(Instance, instance_id).status == "RUNNING"  # type: ignore[union-attr]
    with write_session(engine) as session:
        expire_due(session, expires)
    state = gql(
        app_client, f'{{ instance(id: "{instance_id}") {{ status statusReason }} }}', tenant=tenant
    )
    assert state["data"]["instance"] == {"status": "STOPPED", "statusReason": "EXPIRED"}
    start = gql(
        app_client,
        f'mutation {{ startInstance(input: {{instanceId: "{instance_id}"}}) {{ userErrors {{ code message }} }} }}',
        tenant=tenant,
    )
    assert start["data"]["startInstance"]["userErrors"] == [
        {
            "code": "INSTANCE_STATUS_FORBIDDEN",
            "message": f"Instance {instance_id}'s prepaid term has ended.",
        }
    ]
    before = balance(app_client, tenant)
    viewer = Viewer(account_id=tenant.id, role=Role.CUSTOMER, token_id=tenant.token_id)
    with write_session(engine) as session:
        released, refund = release(
            session=session, viewer=viewer, instance_id=instance_id, now=expires + timedelta(days=1)
        )
        assert (released.status, refund) == ("RELEASED", 0)
    assert balance(app_client, tenant) == before
