"""Models of the forms_builder app; they arrive with its issue, with their migrations."""
