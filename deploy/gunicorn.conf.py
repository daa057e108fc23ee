"""Gunicorn's settings for Koolivärav: the systemd unit and the container both start
`gunicorn --config deploy/gunicorn.conf.py config.wsgi` from the project's folder.

Each setting can be changed without editing this file: GUNICORN_CMD_ARGS (e.g.
"--bind 10.0.0.11:8000 --workers 8") is read by gunicorn itself and wins over this file.
"""

import os

# Behind the proxy on the same machine by default; another host's proxy needs an address it
# can reach (GUNICORN_CMD_ARGS="--bind 10.0.0.11:8000"), and that address in TRUSTED_PROXIES.
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]
# Two processes per core: a request mostly waits for the database, Redis or Argon2.
workers = int(os.environ.get("WEB_CONCURRENCY", 2 * (os.cpu_count() or 1)))
timeout = 30
graceful_timeout = 30
# A worker is replaced after this many requests (with jitter, so not all at once): whatever
# memory a long-lived process gathers is given back.
max_requests = 2000
max_requests_jitter = 200
# No access log: a request line can hold a password-reset link's token. The proxy logs
# requests (deploy/nginx.conf logs paths without tokens or query strings); the application
# logs what it does itself, without personal data.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The app reads X-Forwarded-For and X-Forwarded-Proto itself, and believes them only from
# TRUSTED_PROXIES (koolivarav.schools.middleware, SECURE_PROXY_SSL_HEADER): gunicorn passes
# the headers through untouched.
forwarded_allow_ips = ""


def child_exit(server, worker):
    """With PROMETHEUS_MULTIPROC_DIR set, each worker process keeps its metrics in that folder;
    a worker that has exited must be marked dead so that its live gauges stop counting."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
