"""``GET /api/reports/`` and ``GET /api/reports/{name}/``: the reports as JSON, for BI
tools. The same ``reports.selectors.report_build`` the admin pages render, with the
same query parameters (``reports.filters.ReportFilterForm``): a bad date or an id that
names nothing is a 400 with the field's message. Agents and admins read; requesters
get 403, anonymous clients 401.
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from nixflow.api.permissions import IsAgent
from reports.api.serializers import ReportKindSerializer, ReportSerializer
from reports.filters import ReportFilterForm
from reports.selectors import REPORTS, report_build


class IsAgentForReports(IsAgent):
    message = "Only agents and admins can read reports."


PARAMETERS = [
    OpenApiParameter(
        "name",
        OpenApiTypes.STR,
        OpenApiParameter.PATH,
        enum=list(REPORTS),
        description="The report.",
    ),
    OpenApiParameter(
        "range",
        OpenApiTypes.STR,
        enum=["7", "30", "90", "custom"],
        description="The last 7, 30 (default) or 90 days, today included; "
        "from/to make the range custom.",
    ),
    OpenApiParameter("from", OpenApiTypes.DATE, description="First day (YYYY-MM-DD)."),
    OpenApiParameter(
        "to", OpenApiTypes.DATE, description="Last day, included (YYYY-MM-DD); default today."
    ),
    OpenApiParameter(
        "interval", OpenApiTypes.STR, enum=["day", "week"], description="Buckets of the series."
    ),
    OpenApiParameter("workflow", OpenApiTypes.INT, description="A workflow's id."),
    OpenApiParameter("team", OpenApiTypes.INT, description="A team's id."),
    OpenApiParameter(
        "channel", OpenApiTypes.STR, enum=["WEB", "API", "EMAIL", "FORM"], description="Channel."
    ),
    OpenApiParameter(
        "priority",
        OpenApiTypes.STR,
        enum=["LOW", "NORMAL", "HIGH", "URGENT"],
        description="Priority.",
    ),
    OpenApiParameter("tag", OpenApiTypes.INT, description="A tag's id."),
]


class ReportListView(APIView):
    """The reports there are."""

    permission_classes = [IsAuthenticated, IsAgentForReports]

    @extend_schema(responses=ReportKindSerializer(many=True), summary="Reports")
    def get(self, request: Request) -> Response:
        return Response(ReportKindSerializer(REPORTS.values(), many=True).data)


class ReportView(APIView):
    """One report over a range of desk days: headline figures, the chart's series and
    the tables, as the admin page shows them (values unformatted)."""

    permission_classes = [IsAuthenticated, IsAgentForReports]

    @extend_schema(responses=ReportSerializer, parameters=PARAMETERS, summary="A report")
    def get(self, request: Request, name: str) -> Response:
        if name not in REPORTS:
            raise NotFound(f"There is no report {name!r}; there are: {', '.join(REPORTS)}.")
        form = ReportFilterForm(data=request.query_params)
        if not form.is_valid():
            raise ValidationError(
                {field: [str(e) for e in errors] for field, errors in form.errors.items()}
            )
        report = report_build(name=name, filters=form.filters())
        return Response(ReportSerializer(report).data)
