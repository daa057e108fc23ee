# Koolivärav's image: the same gunicorn and worker commands as deploy/systemd/, from the same
# folders (/opt/koolivarav for the code, /var/lib/koolivarav/static for the static files).
# It runs as a non-root user on a read-only root filesystem: nothing is written at run time but
# /tmp (a tmpfs in compose.yaml). Build: docker build -t koolivarav . (see README).

# --- build: dependencies, translations, static files ------------------------------------------
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /opt/koolivarav
COPY requirements/ requirements/
RUN python -m venv .venv && .venv/bin/pip install -r requirements/prod.txt
# Babel compiles the catalogues and is needed for nothing else: a venv of its own, not shipped.
RUN python -m venv /opt/babel && /opt/babel/bin/pip install "$(grep -i '^babel==' requirements/dev.txt)"
COPY . .
RUN /opt/babel/bin/pybabel compile --domain django --directory locale \
 && DEBUG=false SECRET_KEY=build-only-not-used-at-run-time STATIC_ROOT=/var/lib/koolivarav/static \
    .venv/bin/python manage.py collectstatic --no-input --verbosity 0 \
 && .venv/bin/python -m compileall -q config koolivarav

# --- run --------------------------------------------------------------------------------------
FROM python:3.11-slim
RUN groupadd --system --gid 10001 koolivarav \
 && useradd --system --uid 10001 --gid koolivarav --home-dir /nonexistent --no-create-home \
    --shell /usr/sbin/nologin koolivarav
WORKDIR /opt/koolivarav
# Owned by root and not writable by the user the processes run as.
COPY --from=build /opt/koolivarav /opt/koolivarav
COPY --from=build /var/lib/koolivarav/static /var/lib/koolivarav/static
ENV PATH=/opt/koolivarav/.venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=config.settings.base \
    STATIC_ROOT=/var/lib/koolivarav/static \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GUNICORN_BIND=0.0.0.0:8000
USER koolivarav:koolivarav
EXPOSE 8000
# The app server; the worker is the same image with: python manage.py run_worker
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "config.wsgi"]
