"""Included under /api/forms/: submissions first, since "submissions" is not a slug."""

from rest_framework.routers import SimpleRouter

from forms_builder.api.views import FormViewSet, SubmissionViewSet

router = SimpleRouter()
router.register("submissions", SubmissionViewSet, basename="form-submission")
router.register("", FormViewSet, basename="form")

urlpatterns = router.urls
