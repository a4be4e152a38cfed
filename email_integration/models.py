"""Models of the email_integration app; they arrive with its issue, with their migrations."""
