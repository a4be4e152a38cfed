"""Knowledge base: versioned articles and full-text search (SPEC section 3)."""
