"""The GraphQL schema: one Query and one Mutation assembled from the domain modules."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as alias_validator
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.schema.config import StrawberryConfig

from app.config import Settings
from schema.accounts.mutations import AccountMutations, QuotaMutations
from schema.accounts.queries import AccountQueries
from schema.billing.mutations import BillingMutations
from schema.errors import MaskUnexpectedErrors
from schema.images.imports import ImportMutations
from schema.images.mutations import ImageMutations
from schema.images.queries import ImageQueries, ImageSubscriptions
from schema.instances.mutations import InstanceMutations, RebuildMutations
from schema.instances.queries import InstanceQueries
from schema.limits import QueryCost
from schema.marketplace.queries import ListingMutations, ListingQueries
from schema.nodes import NodeQueries
from schema.operations.queries import OperationQueries, OperationSubscriptions
from schema.regions.queries import RegionQueries
from schema.snapshots.queries import SnapshotMutations, SnapshotQueries


@strawberry.type(description="Read the catalogue, your resources, and operations.")
class Query(
    NodeQueries,
    AccountQueries,
    RegionQueries,
    ImageQueries,
    SnapshotQueries,
    ListingQueries,
    InstanceQueries,
    OperationQueries,
):
    pass


@strawberry.type(
    description="Change things; every mutation takes one input and returns userErrors."
)
class Mutation(
    ImageMutations,
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


@strawberry.type(description="Follow long-running work over graphql-transport-ws.")
class Subscription(OperationSubscriptions, ImageSubscriptions):
    pass


class Schema(strawberry.Schema):
    """Strawberry's schema, without its log line for every error a client caused: expected
    errors are answers, not incidents; unexpected ones are logged (with an error id) by
    MaskUnexpectedErrors."""

    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Log nothing here (see MaskUnexpectedErrors)."""


class CloseSession(SchemaExtension):
    """Close the request's read session once the operation is done."""

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        finally:
            close = getattr(self.execution_context.context, "close", None)
            if close is not None:
                close()


def build_schema(settings: Settings) -> strawberry.Schema:
    """Build the schema with the request limits of API.md from settings."""
    # The depth and alias rules are built once: Strawberry's limiter extensions build a new
    # rule class per request, which defeats the validation cache (it is keyed by the rules).
    limit_rules: list[type[ASTValidationRule]] = [
        depth_validator(settings.max_query_depth, None),
        alias_validator(settings.max_aliases),
    ]
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        CloseSession,
        lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
        lambda: AddValidationRules(limit_rules),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        QueryCost,
        MaskUnexpectedErrors,
    ]
    if not settings.introspection:
        extensions.append(DisableIntrospection)
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not settings.introspection),
    )


#: the schema with default settings, for `strawberry export-schema schema:schema` and tests
schema = build_schema(Settings())
