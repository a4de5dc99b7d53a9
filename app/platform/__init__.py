"""What every domain stands on, knowing none of them: who is calling and what they may see,
the catalogue and account versions cached answers are checked against, the change feed
subscriptions wait on, idempotency records, persisted queries, the service's own secrets, and
the shared clock and scheduler tables. Session listeners are installed by one explicit call
(``app.workflows.tracking.install``), never by importing a module.
"""
