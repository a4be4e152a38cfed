"""Knowledge base: versioned Markdown articles, their readers' ratings and feedback, and
full-text search with typo tolerance."""
