"""The plan of one operation and its run: fields collected once, each turned into a reader and
a completer made for its type, then read for every item without graphql-core's per-field
machinery (see the package's documentation).

Ordering is graphql-core's: fields in the order collection gives them, errors of synchronous
fields in the order they are met. Fields whose resolvers are coroutines are awaited together
once the synchronous pass is done (so their DataLoaders batch), and put in their places.
When several are awaited together, an error among them, or in what they lead to, would be
reported in an order that depends on scheduling, so the run declines instead; one awaited
alone (a list page's root field) is completed as graphql-core completes it, errors in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLError,
    GraphQLID,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    GraphQLUnionType,
    OperationDefinitionNode,
    located_error,
)
from graphql.execution.collect_fields import (
    FieldDetails,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues, get_argument_values
from graphql.pyutils import Path, Undefined, is_awaitable
from strawberry import Info

from schema.compiled.fast import LazyInfo, fast_object
from schema.compiled.steps import (
    ATTRIBUTE,
    DIRECT,
    TYPENAME,
    Complete,
    Decline,
    Step,
    Uncompilable,
    reading,
)


class Plan:
    """One operation of one document, with the @include/@skip variables fixed: its fields
    collected for each type the answer reaches (collected once, on first use).
    """

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        directive_variables: VariableValues,
        types: frozenset[str],
    ) -> None:
        self.schema = schema
        self.types = types
        self.operation = operation
        self.variables = directive_variables
        self.fragment_definitions: dict[str, FragmentDefinitionNode] = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.fragments = {
            name: FragmentDetails(definition)
            for name, definition in self.fragment_definitions.items()
        }
        self._subfields: dict[tuple[str, int], list[Step]] = {}
        query = schema.query_type
        assert query is not None
        self.root_type = query
        grouped = collect_fields(
            schema, self.fragments, directive_variables, query, operation
        ).grouped_field_set
        self.root_steps = self._steps(query, grouped)

    def _steps(
        self, parent: GraphQLObjectType, grouped: dict[str, list[FieldDetails]]
    ) -> list[Step]:
        steps = []
        for key, details in grouped.items():
            name = details[0].node.name.value
            if name == "__typename":
                found: Any = None
                how, attribute, direct = TYPENAME, "", None
            else:
                found = self.schema.get_field(parent, name)
                if found is None:
                    raise Uncompilable(f"{parent.name}.{name}")  # introspection, or unknown
                how, attribute, direct = reading(found)
            steps.append(
                Step(
                    key=key,
                    name=name,
                    field=found,
                    parent=parent,
                    details=details,
                    nodes=[d.node for d in details],
                    how=how,
                    attribute=attribute,
                    direct=direct,
                    non_null=found is not None and isinstance(found.type, GraphQLNonNull),
                )
            )
        return steps

    def subfields(
        self, parent: GraphQLObjectType, details: list[FieldDetails], owner: Step
    ) -> list[Step]:
        """The steps of the selection of an object of type ``parent`` that field ``owner``
        answers (collected once).

        Raises:
            Decline: the object is of a type the compiled path does not answer.
        """
        key = (parent.name, id(owner))
        found = self._subfields.get(key)
        if found is not None:
            return found
        if parent.name not in self.types:
            raise Uncompilable(f"{parent.name} is not compiled")
        grouped = collect_subfields(
            self.schema, self.fragments, self.variables, self.operation, parent, details
        ).grouped_field_set
        steps = self._subfields[key] = self._steps(parent, grouped)
        return steps

    def completer(self, kind: GraphQLOutputType, step: Step) -> Complete:
        """How values of a field's type are completed (made once per step)."""
        if isinstance(kind, GraphQLNonNull):
            inner = self.completer(kind.of_type, step)

            def non_null(run: Run, value: Any, path: Path) -> Any:
                done = inner(run, value, path)
                if done is None:
                    raise Decline(f"null in non-null {step.parent.name}.{step.key}")
                return done

            return non_null
        if isinstance(kind, GraphQLList):
            item = self.completer(kind.of_type, step)

            def listed(run: Run, value: Any, path: Path) -> Any:
                if value is None or value is Undefined:
                    return None
                out = []
                for index, entry in enumerate(value):
                    if is_awaitable(entry):
                        raise Decline("an awaitable list item")
                    out.append(item(run, entry, path.add_key(index, None)))
                return out

            return listed
        if isinstance(kind, GraphQLScalarType | GraphQLEnumType):
            return _leaf(kind)
        if isinstance(kind, GraphQLInterfaceType | GraphQLUnionType):
            return self._abstract(kind, step)
        if isinstance(kind, GraphQLObjectType):
            return self._object(kind, step)
        raise Uncompilable(f"{kind} cannot be completed")

    def _object(self, kind: GraphQLObjectType, step: Step) -> Complete:
        steps = self.subfields(kind, step.details, step)
        check = kind.is_type_of
        # Strawberry's own check (an isinstance) never reads its info: none is built for it
        needs_info = check is not None and "_get_is_type_of" not in check.__qualname__
        fast = None if needs_info else fast_object(self, steps)

        def completed(run: Run, value: Any, path: Path) -> Any:
            if value is None or value is Undefined:
                return None
            if fast is not None:
                try:
                    if check is None or check(value, None) is True:  # type: ignore[arg-type]
                        return fast(value, run)
                except Exception:  # the careful way below tells what happened
                    pass
            if check is not None:
                info = run.info(step, path) if needs_info else None
                if check(value, info) is not True:  # type: ignore[arg-type]
                    raise Decline(f"{value!r} is not a {kind.name}")
            return run.object(steps, value, path)

        return completed

    def _abstract(self, kind: GraphQLInterfaceType | GraphQLUnionType, step: Step) -> Complete:
        resolve_type = kind.resolve_type
        if resolve_type is None:
            raise Uncompilable(f"{kind.name} has no type resolver")
        by_type: dict[str, Complete] = {}

        def completed(run: Run, value: Any, path: Path) -> Any:
            if value is None or value is Undefined:
                return None
            resolved = resolve_type(value, run.info(step, path), kind)
            if not isinstance(resolved, str):
                raise Decline(f"the runtime type of {step.key}")
            found = by_type.get(resolved)
            if found is None:
                runtime = self.schema.get_type(resolved)
                if not isinstance(runtime, GraphQLObjectType):
                    raise Uncompilable(f"{resolved} is not an object type")
                found = by_type[resolved] = self._object(runtime, step)
            return found(run, value, path)

        return completed


def _leaf(kind: GraphQLScalarType | GraphQLEnumType) -> Complete:
    """Completion of a scalar or an enum: the schema's own serializer (a string or boolean
    that needs no conversion is written as it is, as the serializer would).
    """
    coerce = kind.coerce_output_value
    plain: type | None = None
    if kind is GraphQLString or kind is GraphQLID:
        plain = str
    elif kind is GraphQLBoolean:
        plain = bool

    def leaf(run: Run, value: Any, path: Path) -> Any:
        if value is None or value is Undefined:
            return None
        if plain is not None and type(value) is plain:
            return value
        coerced = coerce(value)
        if coerced is None or coerced is Undefined:
            raise Decline(f"{kind} cannot represent {value!r}")
        return coerced

    return leaf


@dataclass(eq=False)
class Run:
    """One request's walk of a plan."""

    plan: Plan
    context: Any
    variables: VariableValues
    root: Any = None
    errors: list[GraphQLError] = field(default_factory=list)
    lazy_info: LazyInfo = field(init=False)
    _pending: list[tuple[dict[str, Any], Step, Awaitable[Any], Path]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.lazy_info = LazyInfo(self.context)

    async def execute(self) -> dict[str, Any]:
        """The data of the answer (``errors`` holds the field errors, in order).

        Raises:
            Decline: the ordinary executor must answer instead.
        """
        try:
            return await self._execute()
        except Decline:
            for _, _, waiting, _ in self._pending:  # never to be awaited: closed
                close = getattr(waiting, "close", None)
                if close is not None:
                    close()
            raise

    async def _execute(self) -> dict[str, Any]:
        data = self.object(self.plan.root_steps, self.root, None)
        while self._pending:
            batch = self._pending
            before = len(self.errors)
            values = await asyncio.gather(*(p[2] for p in batch), return_exceptions=True)
            self._pending = []
            for (container, step, _, path), value in zip(batch, values, strict=True):
                if isinstance(value, BaseException):
                    raise Decline(f"{step.parent.name}.{step.key} failed when awaited")
                container[step.key] = self._completed(step, value, path)
            if len(self.errors) != before and len(batch) > 1:
                # awaited together, their errors would be met in the order they finish
                raise Decline("an error below one of several awaited fields")
        return data

    def object(self, steps: list[Step], source: Any, path: Path | None) -> dict[str, Any]:
        """An object's answer: its fields in order (errors in place, as null)."""
        result: dict[str, Any] = {}
        for step in steps:
            how = step.how
            if how == TYPENAME:
                result[step.key] = step.parent.name
                continue
            here = Path(path, step.key, step.parent.name)
            try:
                if how == ATTRIBUTE:
                    value = getattr(source, step.attribute)
                else:
                    if how == DIRECT:
                        direct = step.direct
                        assert direct is not None
                        args = (source,) if direct.with_self else ()
                        if direct.info_name is None:
                            value = direct.func(*args)
                        else:
                            info = Info(_raw_info=self.info(step, here), _field=direct.definition)
                            value = direct.func(*args, **{direct.info_name: info})
                    else:
                        value = self._resolve(step, source, here)
                    if is_awaitable(value):
                        result[step.key] = None  # its place, filled once it is awaited
                        self._pending.append((result, step, value, here))
                        continue
                result[step.key] = self._completed(step, value, here)
            except Decline:
                raise
            except Exception as raw:
                if step.non_null:
                    raise Decline("an error in a non-null field") from raw
                self.errors.append(located_error(raw, step.nodes, here.as_list()))
                result[step.key] = None
        return result

    def _completed(self, step: Step, value: Any, path: Path) -> Any:
        complete = step.complete
        if complete is None:
            complete = step.complete = self.plan.completer(step.field.type, step)
        if isinstance(value, Exception):
            raise value
        return complete(self, value, path)

    def _resolve(self, step: Step, source: Any, path: Path) -> Any:
        first = step.details[0]
        args = (
            get_argument_values(step.field, first.node, self.variables)
            if step.field.args or first.node.arguments
            else {}
        )
        resolve = step.field.resolve
        if resolve is None:
            raise Uncompilable(f"{step.parent.name}.{step.key} has no resolver")
        return resolve(source, self.info(step, path), **args)

    def info(self, step: Step, path: Path) -> GraphQLResolveInfo[Any]:
        """What graphql-core would hand a resolver of this field."""
        plan = self.plan
        return GraphQLResolveInfo(
            step.nodes[0].name.value,
            step.nodes,
            step.field.type,
            step.parent,
            path,
            plan.schema,
            plan.fragment_definitions,
            self.root,
            plan.operation,
            self.variables,
            self.context,
            is_awaitable,
            None,
            None,  # type: ignore[arg-type]  # no resolver of this schema tracks async work
        )
