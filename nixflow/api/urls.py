from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from nixflow.api.saved_views import ViewViewSet
from nixflow.api.tags import TagViewSet
from nixflow.api.teams import MeView, RoutingRuleViewSet, TeamViewSet
from nixflow.api.ticket_fields import TicketFieldViewSet
from nixflow.api.ticket_links import TicketLinksView, TicketLinkView, TicketMergeView
from nixflow.api.views import TicketViewSet, WorkflowViewSet
from nixflow.models import TICKET_KEY_PATTERN

# Keys in any case, as the ticket routes take them.
KEY = f"(?i:{TICKET_KEY_PATTERN})"

router = SimpleRouter()
router.register("tickets", TicketViewSet, basename="ticket")
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("views", ViewViewSet, basename="view")  # nixflow.api.saved_views
router.register("tags", TagViewSet, basename="tag")  # nixflow.api.tags
router.register("teams", TeamViewSet, basename="team")  # nixflow.api.teams
router.register("routing-rules", RoutingRuleViewSet, basename="routing-rule")
router.register("fields", TicketFieldViewSet, basename="ticket-field")  # custom fields

urlpatterns = [
    # nixflow.api.teams.MeView: views.MeView's GET plus the availability (GET, PATCH).
    path("me/", MeView.as_view(), name="me"),
    # nixflow.api.ticket_links: merging into the ticket of the URL, and its links.
    re_path(rf"^tickets/(?P<key>{KEY})/merge/$", TicketMergeView.as_view(), name="ticket-merge"),
    re_path(rf"^tickets/(?P<key>{KEY})/links/$", TicketLinksView.as_view(), name="ticket-links"),
    re_path(
        rf"^tickets/(?P<key>{KEY})/links/(?P<link_id>[0-9]{{1,18}})/$",
        TicketLinkView.as_view(),
        name="ticket-link",
    ),
    *router.urls,
]
