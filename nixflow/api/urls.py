from django.urls import path
from rest_framework.routers import SimpleRouter

from nixflow.api.saved_views import ViewViewSet
from nixflow.api.tags import TagViewSet
from nixflow.api.teams import MeView, RoutingRuleViewSet, TeamViewSet
from nixflow.api.views import TicketViewSet, WorkflowViewSet

router = SimpleRouter()
router.register("tickets", TicketViewSet, basename="ticket")
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("views", ViewViewSet, basename="view")  # nixflow.api.saved_views
router.register("tags", TagViewSet, basename="tag")  # nixflow.api.tags
router.register("teams", TeamViewSet, basename="team")  # nixflow.api.teams
router.register("routing-rules", RoutingRuleViewSet, basename="routing-rule")

urlpatterns = [
    # nixflow.api.teams.MeView: views.MeView's GET plus the availability (GET, PATCH).
    path("me/", MeView.as_view(), name="me"),
    *router.urls,
]
