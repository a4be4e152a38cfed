"""Event log: the append-only audit trail (SPEC section 6)."""
