"""Included under /api/forms/: submissions first, since "submissions" is not a slug."""

from rest_framework.routers import SimpleRouter

from forms_builder.api.views import FormViewSet, SubmissionViewSet

# Same shape as every app's api/urls.py (a router, then plain views): routes, not logic.
router = SimpleRouter()
router.register("submissions", SubmissionViewSet, basename="form-submission")
router.register("", FormViewSet, basename="form")

urlpatterns = router.urls
