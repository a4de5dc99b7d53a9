"""graphql-transport-ws as standard clients expect it (text frames, coded errors), within the
budgets of a public endpoint: connection_init in time, no socket kept without a subscription,
one account's share of sockets, no mutations over the socket, and sockets of a revoked token
closed.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import orjson
from sqlmodel import Session
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType
from strawberry.utils.aio import aclosing

from app.observability import count_errors
from schema.context import Context
from schema.sockets import Seat

#: what may run over the socket: mutations are sent with POST (body limits, request slots)
SOCKET_OPERATIONS = frozenset({OperationType.QUERY, OperationType.SUBSCRIPTION})
#: close codes: an account over its share of sockets, a socket left without a subscription
TOO_MANY_SOCKETS = 4429
IDLE = 1000


class TextWebSocketAdapter(ASGIWebSocketAdapter):
    """Every message a text frame, as the protocol says (GraphiQL, graphql-ws and gql reject
    binary frames).
    """

    async def send_json(self, message: Mapping[str, object]) -> None:
        """Send one protocol message as a JSON text frame."""
        try:
            await self.ws.send_text(orjson.dumps(message).decode())
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc


def seat_of(context: Context) -> Seat | None:
    """The socket's place in the process's socket budgets."""
    seat = context.request.scope.get("state", {}).get("seat")
    return seat if isinstance(seat, Seat) else None


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's handler with this service's budgets (see the module's documentation)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._last_active = asyncio.get_running_loop().time()
        self._idle_task: asyncio.Task[None] | None = None

    async def handle(self) -> None:
        """Serve the socket, closing it once it has been without a subscription too long."""
        self._idle_task = asyncio.create_task(self._close_when_idle())
        try:
            await super().handle()
        finally:
            self._idle_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._idle_task

    async def _close_when_idle(self) -> None:
        idle = self.context.services.settings.websocket_idle_seconds
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(min(1.0, idle / 4))
            if self.operations:
                self._last_active = loop.time()
            elif self.connection_acknowledged and loop.time() - self._last_active >= idle:
                with contextlib.suppress(Exception):
                    await self.websocket.close(
                        code=IDLE, reason=f"No subscription for {idle:g} seconds"
                    )
                return

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        """Strawberry's connection_init, then the socket moves to its account's share of
        sockets (4429 when the account holds its share already) and is watched for its
        token's revocation.
        """
        if self.connection_timed_out:
            return
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        payload = message.get("payload", {})
        if not isinstance(payload, dict):
            await self.websocket.close(code=4400, reason="Invalid connection init payload")
            return
        if self.connection_init_received:
            await self.websocket.close(code=4429, reason="Too many initialisation requests")
            return
        self.connection_init_received = True
        self.context.connection_params = payload
        try:
            acknowledgement = await self.view.on_ws_connect(self.context)
        except ConnectionRejectionError:
            await self.websocket.close(code=4403, reason="Forbidden")
            return
        if not self._signed_in():
            await self.websocket.close(
                code=TOO_MANY_SOCKETS, reason="Too many WebSockets open for this account"
            )
            return
        if isinstance(acknowledgement, UnsetType) or acknowledgement is None:
            await self.send_message({"type": "connection_ack"})
        else:
            await self.send_message({"type": "connection_ack", "payload": acknowledgement})
        self.connection_acknowledged = True
        self._last_active = asyncio.get_running_loop().time()

    def _signed_in(self) -> bool:
        viewer = self.context.viewer
        seat = seat_of(self.context)
        if viewer is None or seat is None:
            return True

        async def revoked() -> None:
            with contextlib.suppress(Exception):
                await self.websocket.close(code=4403, reason="Token revoked")

        services = self.context.services
        if not services.sockets.sign_in(seat, viewer.account_id, viewer.token_id, revoked):
            return False
        services.sockets.watch(
            services.slots, lambda: Session(services.engine, expire_on_commit=False)
        )
        return True

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """Refuse a subscription over the limit with TOO_MANY_SUBSCRIPTIONS."""
        limit = self.max_subscriptions_per_connection
        if (
            self.connection_acknowledged
            and message["id"] not in self.operations
            and limit is not None
            and len(self.operations) >= limit
        ):
            await self.send_message(
                {
                    "id": message["id"],
                    "type": "error",
                    "payload": [
                        {
                            "message": f"At most {limit} subscriptions per connection; "
                            "complete one first.",
                            "extensions": {"code": "TOO_MANY_SUBSCRIPTIONS"},
                        }
                    ],
                }
            )
            return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Strawberry's, with a context of the operation's own (its session and request slot
        are not shared with the socket's other operations) and no mutations.
        """
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=self.context.for_operation(),
                root_value=self.root_value,
                operation_name=operation.operation_name,
                allowed_operation_types=SOCKET_OPERATIONS,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            await operation.send_operation_message(
                CompleteMessage(id=operation.id, type="complete")
            )
        except _OperationStreamClosed:
            return
        except Exception as error:  # pragma: no cover - Strawberry's own last resort
            await self.handle_task_exception(error)
            with contextlib.suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise

    async def send_message(self, message: Any) -> None:
        """Send a protocol message, counting the errors it carries."""
        if message.get("type") == "error":
            count_errors(message.get("payload"))
        elif message.get("type") == "next":
            count_errors((message.get("payload") or {}).get("errors"))
        await super().send_message(message)

    def forget_id(self, id: str) -> None:
        super().forget_id(id)
        self._last_active = asyncio.get_running_loop().time()
