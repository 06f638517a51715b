"""Operator and widget WebSocket consumers (thin: parse, authorize, call services)."""
