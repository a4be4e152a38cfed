"""Data-subject requests: export everything the desk holds about a person, or erase it."""
