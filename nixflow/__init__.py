"""NixFlow: the project package and the core service-desk app."""

from nixflow.celery import app as celery_app

__all__ = ["celery_app"]
