"""ASGI entry point: ``nixflow.asgi:application``; refuses to load on a drifted schema."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nixflow.settings")

application = get_asgi_application()

from nixflow.platform.schema_guard import raise_if_drifted  # noqa: E402  (needs django.setup())

raise_if_drifted("web server")
