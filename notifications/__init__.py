"""Agent notifications: what concerns an agent, told in the admin and by mail."""
