"""``/api/knowledge/…``: included by nixflow/urls.py."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from knowledge.api.views import (
    ArticleViewSet,
    CategoryViewSet,
    FeedbackViewSet,
    SearchClickView,
    SearchView,
    SuggestionsView,
    TagViewSet,
)

# Same shape as every app's api/urls.py (a router, then plain views): routes, not logic.
router = SimpleRouter()
router.register("articles", ArticleViewSet, basename="knowledge-article")
router.register("categories", CategoryViewSet, basename="knowledge-category")
router.register("tags", TagViewSet, basename="knowledge-tag")
router.register("feedback", FeedbackViewSet, basename="knowledge-feedback")

urlpatterns = [
    path("search/", SearchView.as_view(), name="knowledge-search"),
    path(
        "search/<uuid:search_id>/click/", SearchClickView.as_view(), name="knowledge-search-click"
    ),
    path("suggestions/", SuggestionsView.as_view(), name="knowledge-suggestions"),
    *router.urls,
]
