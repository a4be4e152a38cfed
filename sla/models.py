"""Models of the sla app; they arrive with its issue, with their migrations."""
