"""Event log: the append-only audit trail, its seals, and the outbox."""
