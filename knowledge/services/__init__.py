"""Writes of the knowledge base. The admin, the API, demo data and tasks all call these.

Each service checks who may do it, locks the row it changes (``select_for_update``),
changes it, and records one event (``knowledge.events``), all in one transaction.
Articles are written by agents; readers (requesters, anonymous visitors) only rate,
comment on and read published articles they can see.

One module per part of the knowledge base; import the services from here
(``from knowledge.services import article_create``):

- ``articles``: articles and their versions, the publishing workflow;
- ``taxonomy``: categories and tags;
- ``readers``: ratings, counted views, feedback (and turning it into a ticket);
- ``attachments``: files of articles;
- ``ticket_links``: articles that helped with tickets;
- ``search_history``: the searches behind the search reports;
- ``vocabulary``: the words behind typo tolerance.
"""

from knowledge.services.articles import (
    CONTENT_FIELDS,
    MAX_BODY_CHARS,
    META_FIELDS,
    article_create,
    article_delete,
    article_restore,
    article_transition,
    article_update,
)
from knowledge.services.attachments import attachment_add, attachment_remove
from knowledge.services.readers import (
    VIEW_WINDOW,
    article_rate,
    article_view_record,
    feedback_create,
    feedback_create_ticket,
    feedback_resolve,
    viewer_key_for,
)
from knowledge.services.search_history import search_click, search_record
from knowledge.services.taxonomy import (
    CATEGORY_WRITES,
    TAG_WRITES,
    TaxonomyWrites,
    category_create,
    category_delete,
    category_update,
    tag_create,
    tag_delete,
    tag_update,
)
from knowledge.services.ticket_links import article_link_ticket, article_unlink_ticket
from knowledge.services.vocabulary import vocabulary_add, vocabulary_rebuild

__all__ = [
    "CATEGORY_WRITES",
    "CONTENT_FIELDS",
    "MAX_BODY_CHARS",
    "META_FIELDS",
    "TAG_WRITES",
    "VIEW_WINDOW",
    "TaxonomyWrites",
    "article_create",
    "article_delete",
    "article_link_ticket",
    "article_rate",
    "article_restore",
    "article_transition",
    "article_unlink_ticket",
    "article_update",
    "article_view_record",
    "attachment_add",
    "attachment_remove",
    "category_create",
    "category_delete",
    "category_update",
    "feedback_create",
    "feedback_create_ticket",
    "feedback_resolve",
    "search_click",
    "search_record",
    "tag_create",
    "tag_delete",
    "tag_update",
    "viewer_key_for",
    "vocabulary_add",
    "vocabulary_rebuild",
]
