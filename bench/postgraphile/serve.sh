#!/bin/sh
# PostGraphile 4.14.1, the round-2 contender (PERFORMANCE.md "three baselines", SPEC R135), exactly
# as `python -m bench.run` starts it. PostgreSQL only.
#
# Usage: bench/postgraphile/serve.sh CONNECTION SCHEMA PORT [WORKERS]
#   e.g. bench/postgraphile/serve.sh postgresql://postgres@127.0.0.1:5432/test bench_pg 5000 2
# Install first (once): cd bench/postgraphile && npm ci
#
# It runs from this directory because PostGraphile's CLI reads postgraphile.tags.json5 from its
# working directory. Production mode, no GraphiQL, no query log, no default mutations (the page
# is a query), the default pool of 10 connections per process; WORKERS > 1 uses PostGraphile's
# own --cluster-workers (one Node.js process per worker, like uvicorn --workers).
set -eu
cd "$(dirname "$0")"
connection=$1
schema=$2
port=$3
workers=${4:-1}
if [ "$workers" -gt 1 ]; then
  set -- --cluster-workers "$workers"
else
  set --
fi
NODE_ENV=production exec node node_modules/postgraphile/cli.js \
  --connection "$connection" \
  --schema "$schema" \
  --host 127.0.0.1 \
  --port "$port" \
  --disable-default-mutations \
  --disable-graphiql \
  --disable-query-log \
  --max-pool-size "${BENCH_POSTGRAPHILE_POOL:-10}" \
  "$@"
