"""Project plumbing: the code that runs NixFlow rather than the service desk itself.

The ``nixflow`` package holds three kinds of code, and this subpackage is the second:

1. **Entry points other tools name**, kept at the top of ``nixflow/`` because their dotted
   paths are written into deploy files and commands: ``nixflow.settings``
   (``DJANGO_SETTINGS_MODULE``), ``nixflow.urls`` (``ROOT_URLCONF``),
   ``nixflow.wsgi:application`` and ``nixflow.asgi:application`` (gunicorn, uvicorn) and
   ``nixflow.celery`` (``celery -A nixflow``).
2. **Plumbing** (here): what keeps the processes honest about the database and the host
   they run on -- the schema guard and its system checks (``schema_guard``, ``checks``),
   the liveness and readiness endpoints (``health``), the embedded PostgreSQL used for
   development (``embedded_db``), the guarded Celery beat scheduler (``beat``) and the
   deploy tooling around migrations. Nothing here knows about tickets.
3. **The core ticketing app**: models, services, selectors, API, admin and the
   management commands that operate on tickets, at the top of ``nixflow/``.

A module belongs here when it would be the same in any Django project deployed the way
NixFlow is deployed; it belongs in the app when it speaks of tickets, workflows or users.
"""
