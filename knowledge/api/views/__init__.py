"""The knowledge API. Each view validates its input with a serializer, calls one service
or selector, and serializes the result; who sees what is decided by the selectors, who
may change what by the services.

Reading is open: published public articles, categories, tags and search answer
anonymous readers too (a knowledge base portal is read before anyone signs in). Rating
and feedback need an account; writing articles needs an agent.

- ``articles``: the article viewset, with its actions from ``article_actions``;
- ``taxonomy``: categories and tags, one shape;
- ``feedback``: readers' feedback, for editors;
- ``search``: search, search clicks, and suggestions for a ticket;
- ``common``: permissions, id patterns, the article base class.
"""

from knowledge.api.views.articles import ArticleViewSet
from knowledge.api.views.feedback import FeedbackViewSet
from knowledge.api.views.search import SearchClickView, SearchView, SuggestionsView
from knowledge.api.views.taxonomy import CategoryViewSet, TagViewSet

__all__ = [
    "ArticleViewSet",
    "CategoryViewSet",
    "FeedbackViewSet",
    "SearchClickView",
    "SearchView",
    "SuggestionsView",
    "TagViewSet",
]
