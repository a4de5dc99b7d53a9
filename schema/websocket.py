"""graphql-transport-ws as standard clients expect it: text frames, coded errors."""

from __future__ import annotations

from collections.abc import Mapping

import orjson
from starlette.websockets import WebSocketDisconnect
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

from schema.context import Context


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


class TransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's handler; a subscription past the per-connection limit gets a coded error."""

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
