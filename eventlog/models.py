"""Models of the eventlog app; they arrive with its issue, with their migrations."""
