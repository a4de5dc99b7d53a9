"""Workflows: what combines entities (launch, rebuild, capture, copy, import, publish,
settle, refund). Entity packages below never import this layer or each other's services.
"""
