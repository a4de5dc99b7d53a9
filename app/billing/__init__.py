"""Prices, orders, the ledger and who each charge belongs to."""
