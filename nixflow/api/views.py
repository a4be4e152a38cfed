from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from nixflow.api.serializers import MeSerializer


class MeView(APIView):
    """The authenticated user: lets an integration confirm whose token it holds."""

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        return Response(MeSerializer(request.user).data)
