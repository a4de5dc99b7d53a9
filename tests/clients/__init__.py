"""Real clients against a real server: gql (Python), graphql-ws (Node), GraphiQL and a
cross-origin page in headless Chromium. CI runs this folder once, not per database."""
