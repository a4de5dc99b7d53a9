"""Marketplace listings, their plans and the sales that pay providers."""
