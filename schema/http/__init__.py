"""The HTTP and WebSocket edge: the view, what of a request body is read, refusals written
before GraphQL runs, authentication, the response cache, persisted queries and
graphql-transport-ws. Only the composition root (app.main) imports this package.
"""
