"""Accounts, API tokens and the permission vocabulary."""
