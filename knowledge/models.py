"""Models of the knowledge app; they arrive with its issue, with their migrations."""
