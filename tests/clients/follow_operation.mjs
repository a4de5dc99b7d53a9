// Follow one operation with the graphql-ws client (graphql-transport-ws), as a Node console
// would: `node follow_operation.mjs <ws url> <operation id>` with the bearer token in
// BCC_IMAGES_TOKEN. Prints every `next` payload as one JSON line on stdout and exits
//   0 once the operation is SUCCEEDED,
//   1 when the subscription completes without SUCCEEDED,
//   2 on an error (connection refused or closed, GraphQL errors),
//   3 when the server sends a binary frame (the protocol wants text frames),
//   4 after the timeout (BCC_IMAGES_TIMEOUT_MS, 60 s by default).
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, operationId] = process.argv.slice(2);
const token = process.env.BCC_IMAGES_TOKEN;
if (!url || !operationId || !token) {
  console.error("usage: BCC_IMAGES_TOKEN=… node follow_operation.mjs <ws url> <operation id>");
  process.exit(64);
}

let finished = false;

function finish(code, message) {
  if (finished) return; // the first reason is the one reported
  finished = true;
  if (message) console.error(message);
  process.exitCode = code;
  // dispose() rethrows a failed connection, already reported above
  client.dispose().catch(() => {});
  // the socket may linger while closing; nothing else is left to do
  setTimeout(() => process.exit(code), 200).unref();
}

// ws hands binary frames to the client as Buffers, which JSON.parse would quietly accept;
// a browser would hand it a Blob and fail, so refuse them here.
class TextOnlyWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    this.on("message", (_data, isBinary) => {
      if (isBinary) finish(3, "binary WebSocket frame received");
    });
  }
}

const client = createClient({
  url,
  webSocketImpl: TextOnlyWebSocket,
  connectionParams: { Authorization: `Bearer ${token}` },
  retryAttempts: 0,
  on: {
    connected: (socket) => {
      if (socket.protocol !== "graphql-transport-ws") {
        finish(2, `negotiated subprotocol ${JSON.stringify(socket.protocol)}`);
      }
    },
    closed: (event) => {
      if (event && event.code !== 1000) {
        finish(2, `connection closed: ${event.code} ${event.reason}`);
      }
    },
  },
});

const timeout = Number(process.env.BCC_IMAGES_TIMEOUT_MS || 60000);
setTimeout(() => finish(4, `no SUCCEEDED within ${timeout} ms`), timeout).unref();

client.subscribe(
  {
    query: `subscription Follow($id: ID!) {
      operationUpdated(id: $id) { id kind status progress targetIds }
    }`,
    variables: { id: operationId },
  },
  {
    next: (payload) => {
      console.log(JSON.stringify(payload));
      if (payload.errors) finish(2, "GraphQL errors");
      else if (payload.data?.operationUpdated?.status === "SUCCEEDED") finish(0);
    },
    error: (error) => {
      const detail = error instanceof Error ? error.message : JSON.stringify(error);
      finish(2, `subscription error: ${detail}`);
    },
    complete: () => {
      finish(1, "completed without SUCCEEDED");
    },
  },
);
