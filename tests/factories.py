"""Test factories: entities created through the services, committed like a request would."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from sqlmodel import select
from starlette.testclient import TestClient

from app.accounts import service as accounts_service
from app.accounts.permissions import OPERATOR
from app.clock import Clock
from app.database import read_session, write_session
from app.images.models import Image
from app.platform.viewer import Role
from app.workflows import settlement


@dataclass(frozen=True)
class Tenant:
    """An account and a bearer token for it."""

    id: str
    token: str
    token_id: str

    @property
    def headers(self) -> dict[str, str]:
        """Authorization header for this tenant."""
        return {"Authorization": f"Bearer {self.token}"}


class Factory:
    """Makes accounts, tokens and images for tests."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.clock = Clock(simulated=False)

    def account(self, role: Role = Role.CUSTOMER, balance: str | None = None) -> Tenant:
        """Create an account with a token (and a TOP_UP if a balance is given)."""
        with write_session(self.engine) as session:
            now = self.clock.now()
            account = accounts_service.create(
                session=session,
                viewer=OPERATOR,
                name=f"test-{secrets.token_hex(4)}",
                role=role,
                now=now,
            )
            token, secret = accounts_service.create_token(
                session=session, viewer=OPERATOR, account_id=account.id, now=now
            )
            if balance is not None:
                settlement.top_up(
                    session=session,
                    viewer=OPERATOR,
                    account_id=account.id,
                    amount=Decimal(balance),
                    now=now,
                )
            return Tenant(account.id, secret, token.id)

    def public_image(
        self, region: str = "bj", os_type: str = "LINUX", generation: str = "BCC"
    ) -> str:
        """Return the id of a seeded public image."""
        with read_session(self.engine) as session:
            stmt = select(Image).where(
                Image.kind == "PUBLIC",
                Image.region_code == region,
                Image.os_type == os_type,
                Image.generation == generation,
            )
            image = session.exec(stmt.order_by(Image.seed_key)).first()
            assert image is not None
            return image.id


def gql(
    client: TestClient,
    query: str,
    variables: dict[str, Any] | None = None,
    tenant: Tenant | None = None,
    *,
    expect_errors: bool = False,
) -> dict[str, Any]:
    """POST a GraphQL document and return the JSON body; fails on unexpected errors."""
    response = client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers=tenant.headers if tenant else {},
    )
    body: dict[str, Any] = response.json()
    if not expect_errors:
        assert "errors" not in body, body.get("errors")
    return body


def custom_image(
    engine: Engine,
    owner_id: str,
    region: str = "bj",
    name: str | None = None,
    size_gb: int = 40,
    status: str = "AVAILABLE",
) -> str:
    """Insert a custom image row directly (for read-side tests that need many quickly)."""
    from app.ids import new_id

    with write_session(engine) as session:
        image = Image(
            id=new_id("m"),
            name=name or f"custom-{secrets.token_hex(3)}",
            kind="CUSTOM",
            generation="BCC",
            region_code=region,
            status=status,
            os_type="LINUX",
            os_name="Ubuntu",
            os_version="22.04",
            os_arch="x86_64",
            min_disk_gb=40,
            size_gb=size_gb,
            created_at=Clock(simulated=False).now(),
            owner_id=owner_id,
            source_kind="INSTANCE",
            system_disk_kind="CDS",
        )
        session.add(image)
        return image.id
