"""The GraphQL schema: one Query and one Mutation assembled from the domain modules."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.extensions.tracing import OpenTelemetryExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.types.graphql import OperationType

from app.config import Settings
from schema.accounts.mutations import AccountMutations, QuotaMutations
from schema.accounts.queries import AccountQueries
from schema.arguments import guard_arguments
from schema.billing.mutations import BillingMutations
from schema.compiled.reads import CompiledReads
from schema.context import Context
from schema.descriptions import describe
from schema.errors import MaskUnexpectedErrors
from schema.images.governance import GovernanceMutations, GovernanceQueries
from schema.images.imports import ImportMutations
from schema.images.invitations import InvitationMutations, InvitationQueries
from schema.images.mutations import ImageMutations
from schema.images.policies import PolicyMutations, PolicyQueries
from schema.images.queries import ImageQueries, ImageSubscriptions
from schema.instances.mutations import InstanceMutations, RebuildMutations
from schema.instances.queries import InstanceQueries, RebuildQueries
from schema.limits.extension import DocumentCache, RequestLimits, validation_rules
from schema.marketplace.mutations import ListingMutations
from schema.marketplace.queries import ListingQueries
from schema.nodes.queries import NodeQueries
from schema.operations.queries import OperationQueries, OperationSubscriptions
from schema.regions.queries import RegionQueries
from schema.scalars import SCALARS
from schema.settling import install as settle_cancelled_siblings
from schema.snapshots.mutations import SnapshotMutations
from schema.snapshots.queries import SnapshotQueries
from schema.tags.mutations import TagMutations
from schema.webhooks.events import WebhookSubscriptions
from schema.webhooks.operations import WebhookMutations, WebhookQueries

settle_cancelled_siblings()


@strawberry.type(description="Read the catalogue, your resources, and operations.")
class Query(
    NodeQueries,
    AccountQueries,
    RegionQueries,
    ImageQueries,
    GovernanceQueries,
    InvitationQueries,
    PolicyQueries,
    WebhookQueries,
    SnapshotQueries,
    ListingQueries,
    InstanceQueries,
    RebuildQueries,
    OperationQueries,
):
    pass


@strawberry.type(
    description="Change things; every mutation takes one input and returns userErrors."
)
class Mutation(
    ImageMutations,
    GovernanceMutations,
    InvitationMutations,
    PolicyMutations,
    WebhookMutations,
    TagMutations,
    ImportMutations,
    SnapshotMutations,
    ListingMutations,
    InstanceMutations,
    RebuildMutations,
    AccountMutations,
    QuotaMutations,
    BillingMutations,
):
    pass


@strawberry.type(
    description="Follow long-running work and your account's events over graphql-transport-ws."
)
class Subscription(OperationSubscriptions, ImageSubscriptions, WebhookSubscriptions):
    pass


guard_arguments(Query, Mutation)


class Schema(strawberry.Schema):
    """Strawberry's schema, without its log line for every error a client caused: expected
    errors are answers, not incidents; unexpected ones are logged (with an error id) by
    MaskUnexpectedErrors.
    """

    #: the read path that answers queries over the catalogue from kept plans
    compiled: CompiledReads

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Log nothing here (see MaskUnexpectedErrors)."""


class DatabaseSession(SchemaExtension):
    """The database session of an operation: closed once the operation is done; over a
    WebSocket, a query's execution holds a request slot as an HTTP request does, and a
    subscription gives its event's slot and session back before the event is sent.
    """

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context.context
        if (
            isinstance(context, Context)
            and isinstance(context.request, WebSocket)
            and self.execution_context.operation_type is not OperationType.SUBSCRIPTION
        ):
            async with context.one_event():
                yield
            return
        yield

    def on_stream_result(self, result: Any) -> None:  # type: ignore[override]
        """An event was resolved: let its session and slot go before it is sent."""
        context = self.execution_context.context
        if isinstance(context, Context):
            context.let_go()

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        finally:
            close = getattr(self.execution_context.context, "close", None)
            if close is not None:
                close()


def build_schema(settings: Settings, tracing: bool = False) -> strawberry.Schema:
    """Build the schema with the request limits from settings (and OpenTelemetry spans for
    each operation when ``tracing``).
    """
    documents = DocumentCache(
        settings.document_cache_bytes, validation_rules(settings.introspection)
    )
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        DatabaseSession,
        lambda: RequestLimits(documents),
        MaskUnexpectedErrors,
    ]
    if tracing:
        extensions.append(OpenTelemetryExtension)
    built = Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(
            disable_field_suggestions=not settings.introspection, scalar_map=SCALARS
        ),
    )
    describe(built._schema)
    built.compiled = CompiledReads(built, documents, settings.compiled_reads, tracing)
    return built


#: the schema with default settings, for `strawberry export-schema schema:schema` and tests
schema = build_schema(Settings())
