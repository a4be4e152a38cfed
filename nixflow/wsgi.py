"""WSGI entry point: ``gunicorn nixflow.wsgi:application``.

Importing it fails with SchemaDriftError when the database does not match the code, so
gunicorn (and any WSGI server) refuses to boot instead of serving "table does not
exist" errors.
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "nixflow.settings")

application = get_wsgi_application()

from nixflow.platform.schema_guard import raise_if_drifted  # noqa: E402  (needs django.setup())

raise_if_drifted("web server")
