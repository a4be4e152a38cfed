# syntax=docker/dockerfile:1
# One image for every NixFlow process: the one-shot `migrate` job, web (gunicorn), and
# the Celery worker and beat. docker-compose.yml chooses the command per service.
FROM python:3.11-slim-bookworm

# The code runs from /app, where manage.py is. PYTHONPATH puts it first for gunicorn and
# celery too, so every process imports the same tree and settings.BASE_DIR is /app
# (staticfiles/ and var/ live under it).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN groupadd --system --gid 10001 nixflow \
    && useradd --system --uid 10001 --gid nixflow --create-home --home-dir /home/nixflow nixflow

WORKDIR /app

# Dependencies get their own layer, so a code change does not reinstall them. With only
# pyproject.toml (and the README it names) in place, `pip install .` installs the pinned
# runtime dependencies (no [dev] extra) and an empty nixflow distribution; the code
# itself is the /app tree copied next.
COPY pyproject.toml README.md ./
RUN pip install .

COPY . .

# Static files are collected into the image (whitenoise serves them). Production settings
# refuse to load without SECRET_KEY, NIXFLOW_SECRET_KEYS (a Fernet key: 32 bytes, base64),
# ALLOWED_HOSTS and DATABASE_URL; these values exist
# for this one command only and never reach a running container. collectstatic does not
# connect to the database, and the memory broker keeps the settings from creating
# var/broker/ as root. var/ (media uploads) belongs to the runtime user; the code and
# the static files stay root-owned, read-only to it.
RUN NIXFLOW_ENV=production \
    SECRET_KEY=collectstatic-at-build-time-only \
    NIXFLOW_SECRET_KEYS=Y29sbGVjdHN0YXRpYy1hdC1idWlsZC10aW1lLW9ubHk= \
    ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://build:build@localhost:5432/build \
    CELERY_BROKER_URL=memory:// \
    python manage.py collectstatic --noinput \
    && mkdir -p var/media \
    && chown -R nixflow:nixflow var

USER nixflow

EXPOSE 8000

# Importing nixflow.wsgi runs the schema guard: on a drifted database gunicorn exits
# instead of serving "relation does not exist" errors. The worker heartbeat file lives
# in /dev/shm, not on the container's overlay filesystem.
CMD ["gunicorn", "nixflow.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-tmp-dir", "/dev/shm", "--access-logfile", "-"]
