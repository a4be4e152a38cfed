"""Macros: canned replies with placeholders and the changes they make to a ticket."""
