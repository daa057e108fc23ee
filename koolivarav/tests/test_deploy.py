"""The deployment files run what the tests prove: the systemd units (deploy/systemd/), the
container (Dockerfile, compose.yaml) and the proxy (deploy/nginx.conf).

The units are checked by systemd itself (`systemd-analyze verify`, and `security` for their
hardening) and started here as real processes with the commands and environment they name;
the container cannot be built on these machines (no image registry is reachable), so its
files are parsed and must run exactly the units' commands.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import os
import re
import shlex
import shutil
import signal
import ssl
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import get_commands
from django.db import transaction

from koolivarav.conftest import free_port
from koolivarav.notifications.models import Email
from koolivarav.notifications.services import queue_email
from koolivarav.tests.processes import HOST, wait_until

ROOT = Path(settings.BASE_DIR)
UNITS = ROOT / "deploy" / "systemd"
SERVICES = sorted(UNITS.glob("*.service"))
INSTALL_DIR = "/opt/koolivarav"  # where the units expect the code (README, Dockerfile)
STATE_DIR = "/var/lib/koolivarav"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def read_unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A unit file as systemd reads it: sections of keys, each key with all its values."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        assert not line.endswith("\\"), f"{path.name}: no continued lines, please: {raw!r}"
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        key, separator, value = line.partition("=")
        assert separator, f"{path.name}: not a setting: {raw!r}"
        assert current is not None, f"{path.name}: a setting before any section: {raw!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def command(line: str | list[str]) -> list[str]:
    """A command line with the program named by its file name, as the container's PATH finds
    it: /opt/koolivarav/.venv/bin/python3 manage.py … → python manage.py …"""
    argv = shlex.split(line.lstrip("-@+!:")) if isinstance(line, str) else list(line)
    program = Path(argv[0]).name
    return [re.sub(r"^python[0-9.]*$", "python", program), *argv[1:]]


def service(name: str) -> dict[str, list[str]]:
    return read_unit(UNITS / f"koolivarav-{name}.service")["Service"]


def local(path: str) -> str:
    """A path the units name, as it is on this machine (the checkout instead of /opt)."""
    return path.replace(INSTALL_DIR, str(ROOT))


def unit_environment(unit: dict[str, list[str]], **paths: str) -> dict[str, str]:
    env = dict(value.split("=", 1) for value in unit.get("Environment", []))
    for old, new in paths.items():
        env = {key: value.replace(old, new) for key, value in env.items()}
    return env


# --- the systemd units -------------------------------------------------------------------------


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_every_service_runs_as_the_app_user_on_a_read_only_system(path):
    unit = read_unit(path)["Service"]
    assert unit["User"] == ["koolivarav"]
    assert unit["WorkingDirectory"] == [INSTALL_DIR]
    assert unit["EnvironmentFile"] == ["/etc/koolivarav/koolivarav.env"]
    assert "DJANGO_SETTINGS_MODULE=config.settings.base" in unit["Environment"]
    for setting in ("NoNewPrivileges", "PrivateTmp", "ProtectHome", "PrivateDevices"):
        assert unit[setting] == ["true"], setting
    assert unit["ProtectSystem"] == ["strict"]
    assert unit["CapabilityBoundingSet"] == [""]
    # Writable: only the state folder, where the static files are collected (and /tmp).
    assert "ReadWritePaths" not in unit
    assert unit.get("StateDirectory", ["koolivarav"]) == ["koolivarav"]
    assert f"STATIC_ROOT={STATE_DIR}/static" in unit["Environment"]


def test_only_the_app_server_may_write_its_state_folder():
    writers = {p.name for p in SERVICES if "StateDirectory" in read_unit(p)["Service"]}
    assert writers == {"koolivarav-web.service"}


def test_the_app_servers_metrics_folder_is_emptied_at_every_start():
    web = service("web")
    (runtime,) = web["RuntimeDirectory"]
    assert f"PROMETHEUS_MULTIPROC_DIR=/run/{runtime}" in web["Environment"]


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_every_command_a_unit_starts_exists_in_the_project(path):
    unit = read_unit(path)["Service"]
    lines = unit.get("ExecStartPre", []) + unit["ExecStart"]
    for line in lines:
        argv = shlex.split(line)
        assert argv[0].startswith(f"{INSTALL_DIR}/.venv/bin/"), line
        assert Path(local(argv[0])).exists(), f"{argv[0]} is not in the project's venv"
        name = command(argv)
        if name[0] == "python":
            assert name[1] == "manage.py", line
            assert name[2] in get_commands(), f"{name[2]} is no management command"
        else:
            assert name[:3] == ["gunicorn", "--config", "deploy/gunicorn.conf.py"], line
            assert (ROOT / name[2]).is_file()
            assert name[3] == settings.WSGI_APPLICATION.rsplit(".", 1)[0]


def test_the_units_start_the_worker_and_housekeeping():
    assert [command(line) for line in service("worker")["ExecStart"]] == [
        ["python", "manage.py", "run_worker"]
    ]
    assert [command(line) for line in service("housekeeping")["ExecStart"]] == [
        ["python", "manage.py", "housekeeping", "--if-due"]
    ]


def test_the_timer_runs_housekeeping_once_a_day_and_catches_up_after_a_stop():
    timer = read_unit(UNITS / "koolivarav-housekeeping.timer")
    assert timer["Timer"]["OnCalendar"] == ["*-*-* 03:30:00"]
    assert timer["Timer"]["Persistent"] == ["true"]
    assert (UNITS / "koolivarav-housekeeping.service").exists()  # the timer's unit by name
    assert timer["Install"]["WantedBy"] == ["timers.target"]


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        if IN_CI:
            pytest.fail("systemd-analyze is missing: .ci/run installs the systemd package")
        pytest.skip("systemd-analyze is not installed (Debian's systemd package)")
    return found


def _units_as_on_this_machine(tmp_path: Path) -> list[Path]:
    """The units with the checkout in place of /opt/koolivarav, so that systemd finds the
    programs they start."""
    copies = []
    for path in sorted(UNITS.iterdir()):
        copy = tmp_path / path.name
        copy.write_text(local(path.read_text()))
        copies.append(copy)
    return copies


def test_systemd_accepts_the_units(tmp_path):
    analyze = _systemd_analyze()
    result = subprocess.run(
        [analyze, "verify", "--man=no", *map(str, _units_as_on_this_machine(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    # No output at all: an unknown or misspelt setting is only a warning to systemd.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


@pytest.mark.parametrize("path", SERVICES, ids=lambda p: p.name)
def test_systemd_rates_every_service_well_hardened(path, tmp_path):
    analyze = _systemd_analyze()
    copy = next(c for c in _units_as_on_this_machine(tmp_path) if c.name == path.name)
    result = subprocess.run(
        [analyze, "security", "--offline=true", "--no-pager", str(copy)],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert found, result.stdout + result.stderr
    # 0 is sealed, 10 is open; 2.0 and below is what systemd calls "OK" and better.
    assert float(found.group(1)) <= 2.0, result.stdout


# --- the container -----------------------------------------------------------------------------


def _compose() -> dict:
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#")
    ]


def test_compose_runs_the_same_commands_as_the_units():
    services = _compose()["services"]
    assert [command(services["web"]["command"])] == [
        command(line) for line in service("web")["ExecStart"]
    ]
    assert [command(services["worker"]["command"])] == [
        command(line) for line in service("worker")["ExecStart"]
    ]
    assert command(services["migrate"]["command"]) in [
        command(line) for line in service("migrate")["ExecStart"]
    ]


def test_compose_has_the_database_the_cache_the_app_the_worker_and_a_mail_catcher():
    services = _compose()["services"]
    assert services["db"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert "mailpit" in services["mailpit"]["image"]
    for name in ("migrate", "web", "worker"):
        app = services[name]
        assert app["environment"]["DATABASE_URL"].startswith("postgres://")
        assert app["environment"]["CACHE_URL"].startswith("redis://redis:")
        assert app["environment"]["EMAIL_HOST"] == "mailpit"
        assert app["read_only"] is True
        assert app["tmpfs"][0] == "/tmp"  # noqa: S108 (the container's own)
        assert app["cap_drop"] == ["ALL"]
        assert not app["user"].startswith("0")
    assert "/health/ready" in " ".join(services["web"]["healthcheck"]["test"])
    multiprocess = services["web"]["environment"]["PROMETHEUS_MULTIPROC_DIR"]
    assert multiprocess in services["web"]["tmpfs"]  # empty at every start
    assert f"PROMETHEUS_MULTIPROC_DIR={multiprocess}" in service("web")["Environment"]
    assert services["web"]["depends_on"]["migrate"]["condition"] == (
        "service_completed_successfully"
    )


def test_the_image_runs_the_app_server_as_a_user_of_its_own():
    instructions = _dockerfile_instructions()
    froms = [value for kind, value in instructions if kind == "FROM"]
    assert all(value.startswith("python:3.11-slim") for value in froms)
    (cmd,) = [value for kind, value in instructions if kind == "CMD"]
    assert [command(json.loads(cmd))] == [command(line) for line in service("web")["ExecStart"]]
    (user,) = [value for kind, value in instructions if kind == "USER"]
    assert user.split(":")[0] not in ("root", "0")
    # Nothing runs after the switch to that user: the code stays root's, read-only to the app.
    after_user = instructions[[kind for kind, _ in instructions].index("USER") :]
    assert not [value for kind, value in after_user if kind in ("RUN", "COPY", "ADD")]
    uid = re.search(r"--uid (\d+)", (ROOT / "Dockerfile").read_text()).group(1)
    assert _compose()["x-app"]["user"] == f"{uid}:{uid}"


def test_the_image_uses_the_units_folders_and_environment():
    text = (ROOT / "Dockerfile").read_text()
    assert f"WORKDIR {INSTALL_DIR}" in text
    web = service("web")
    for setting in web["Environment"]:
        if not setting.startswith("PROMETHEUS_MULTIPROC_DIR"):  # compose.yaml's, with its tmpfs
            assert setting in text, f"{setting} is not in the image's environment"
    # The static files are collected when the image is built, into the same STATIC_ROOT.
    assert f"STATIC_ROOT={STATE_DIR}/static" in text
    assert "manage.py collectstatic" in text


def test_the_image_leaves_babel_out():
    text = (ROOT / "Dockerfile").read_text()
    assert "requirements/prod.txt" in text
    assert "requirements/dev.txt" not in text.replace("grep -i '^babel==' requirements/dev.txt", "")


# --- the proxy ---------------------------------------------------------------------------------

NGINX_CONF = ROOT / "deploy" / "nginx.conf"


def _nginx_directives() -> list[str]:
    return [
        line.split("#", 1)[0].strip()
        for line in NGINX_CONF.read_text().splitlines()
        if line.split("#", 1)[0].strip()
    ]


def _size(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kKmM]?)", text).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024 * 1024}[unit.lower()]


def test_the_proxy_lets_a_student_list_through_and_nothing_much_larger():
    (limit,) = [
        _size(d.split()[1].rstrip(";")) for d in _nginx_directives() if d.startswith("client_max")
    ]
    assert settings.STUDENT_FILE_MAX_BYTES < limit <= 2 * settings.STUDENT_FILE_MAX_BYTES
    assert limit <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def test_the_proxy_overwrites_the_headers_the_app_believes_from_it():
    directives = _nginx_directives()
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in directives
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in directives
    assert "proxy_set_header Host $host;" in directives
    assert not [d for d in directives if "$proxy_add_x_forwarded_for" in d]


@pytest.fixture
def gunicorn_config(monkeypatch):
    """deploy/gunicorn.conf.py as gunicorn reads it, with nothing set in the environment."""
    for name in ("GUNICORN_BIND", "WEB_CONCURRENCY", "GUNICORN_LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    spec = importlib.util.spec_from_file_location(
        "gunicorn_conf", ROOT / "deploy" / "gunicorn.conf.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_proxy_speaks_to_the_app_servers_port_and_names_the_readiness_probe(gunicorn_config):
    (bind,) = gunicorn_config.bind
    assert f"server {bind} max_fails=3 fail_timeout=10s;" in _nginx_directives()
    assert "/health/ready" in NGINX_CONF.read_text()


def test_the_app_server_keeps_no_access_log_and_trusts_no_forwarded_header(gunicorn_config):
    assert gunicorn_config.accesslog is None  # a reset link's token is in a request line
    assert gunicorn_config.forwarded_allow_ips == ""  # the app judges them (TRUSTED_PROXIES)


def _nginx() -> str:
    found = (
        os.environ.get("NGINX_BINARY") or shutil.which("nginx") or shutil.which("/usr/sbin/nginx")
    )
    if not found:
        pytest.skip("nginx is not installed (Debian's nginx package)")
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed (a certificate for the test)")
    return found


class Nginx:
    """deploy/nginx.conf in a real nginx on loopback ports, in front of a given app server."""

    def __init__(self, binary: str, folder: Path, app_port: int) -> None:
        self.binary, self.folder = binary, folder
        self.http_port, self.https_port = free_port(), free_port()
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
             "-subj", f"/CN={HOST}", "-keyout", str(folder / "key.pem"),
             "-out", str(folder / "cert.pem")],
            check=True, capture_output=True,
        )  # fmt: skip
        conf = NGINX_CONF.read_text()
        conf = re.sub(r"ssl_certificate\s+\S+;", f"ssl_certificate {folder}/cert.pem;", conf)
        conf = re.sub(r"ssl_certificate_key\s+\S+;", f"ssl_certificate_key {folder}/key.pem;", conf)
        conf = conf.replace("/var/log/nginx/", f"{folder}/")
        conf = conf.replace("server 127.0.0.1:8000 ", f"server 127.0.0.1:{app_port} ")
        conf = re.sub(r"\n\s*listen \[::\]:\d+[^;]*;", "", conf)
        conf = conf.replace("listen 80;", f"listen 127.0.0.1:{self.http_port};")
        conf = conf.replace("listen 443 ", f"listen 127.0.0.1:{self.https_port} ")
        (folder / "koolivarav.conf").write_text(conf)
        temp = " ".join(
            f"{kind}_temp_path {folder}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (folder / "nginx.conf").write_text(
            f"daemon off; pid {folder}/nginx.pid; error_log {folder}/error.log;\n"
            f"events {{}}\nhttp {{ {temp} include {folder}/koolivarav.conf; }}\n"
        )
        self.process: subprocess.Popen[bytes] | None = None

    def command(self, *extra: str) -> list[str]:
        return [self.binary, "-p", str(self.folder), "-c", str(self.folder / "nginx.conf"), *extra]

    def start(self) -> None:
        self.process = subprocess.Popen(self.command(), stderr=subprocess.PIPE)
        wait_until(lambda: _listens(self.https_port), 10, "nginx listens")

    def stop(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGQUIT)
            self.process.wait(timeout=10)

    def request(self, method: str, path: str, body: bytes | None = None, **headers: str):
        connection = http.client.HTTPSConnection(
            "127.0.0.1",
            self.https_port,
            timeout=30,
            context=ssl._create_unverified_context(),  # noqa: S323 (its own certificate)
        )
        connection.request(method, path, body=body, headers={"Host": HOST, **headers})
        response = connection.getresponse()
        return response.status, response.read(), response


def _listens(port: int) -> bool:
    try:
        http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()
        return True
    except OSError:
        return False


def test_nginx_accepts_the_proxy_example(tmp_path):
    proxy = Nginx(_nginx(), tmp_path, app_port=8000)
    result = subprocess.run(proxy.command("-t"), capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


# --- the units' commands, started for real -----------------------------------------------------


def _start(site, argv: list[str], name: str, **environment: str):
    """One of a unit's commands, with its environment, from the checkout."""
    site.env.update(environment)
    return site._spawn([local(arg) for arg in argv], name)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_app_server_unit_serves_pages_and_static_files_behind_the_proxy(site, school, tmp_path):
    processes = site()
    unit = service("web")
    port = free_port()
    (tmp_path / "run").mkdir()
    environment = unit_environment(
        unit, **{STATE_DIR: str(tmp_path / "state"), "/run/koolivarav-web": str(tmp_path / "run")}
    )
    environment["GUNICORN_CMD_ARGS"] = f"--bind 127.0.0.1:{port} --workers 1"
    (pre,) = unit["ExecStartPre"]
    collect = _start(processes, shlex.split(pre), "collectstatic", **environment)
    assert collect.wait(timeout=120) == 0
    assert (tmp_path / "state" / "static" / "staticfiles.json").exists()
    (start,) = unit["ExecStart"]
    server = _start(processes, shlex.split(start), "web", **environment)
    try:
        wait_until(lambda: _listens(port), 30, "the unit's gunicorn listens")
        page = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        page.request("GET", "/", headers={"Host": HOST})
        response = page.getresponse()
        html = response.read().decode()
        assert response.status == 200
        stylesheet = re.search(r'href="(/static/[^"]+\.css)"', html).group(1)
        assert re.search(r"\.[0-9a-f]{12}\.css$", stylesheet)  # hashed: collected for production
        page.request("GET", stylesheet, headers={"Host": HOST})
        assert page.getresponse().status == 200
        _through_the_proxy(tmp_path, port)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=int(unit["TimeoutStopSec"][0]))


def _through_the_proxy(tmp_path: Path, app_port: int) -> None:
    binary = (
        os.environ.get("NGINX_BINARY") or shutil.which("nginx") or shutil.which("/usr/sbin/nginx")
    )
    if not binary or not shutil.which("openssl"):
        return  # test_nginx_accepts_the_proxy_example says it was skipped
    folder = tmp_path / "nginx"
    folder.mkdir()
    proxy = Nginx(binary, folder, app_port)
    proxy.start()
    try:
        plain = http.client.HTTPConnection("127.0.0.1", proxy.http_port, timeout=10)
        plain.request("GET", "/apply/?x=1", headers={"Host": HOST})
        redirect = plain.getresponse()
        assert (redirect.status, redirect.getheader("Location")) == (
            301,
            f"https://{HOST}/apply/?x=1",
        )
        status, _body, _response = proxy.request("GET", "/")
        assert status == 200
        assert proxy.request("GET", "/metrics")[0] == 404
        too_large = b"x" * (4 * 1024 * 1024)
        assert proxy.request("POST", "/", too_large, **{"Content-Type": "text/plain"})[0] == 413
        proxy.request("GET", "/password-reset/MTIz/secret-reset-token-42/?code=38001085718")
    finally:
        proxy.stop()
    log = (folder / "koolivarav.access.log").read_text()
    assert '"GET /password-reset/-/-/"' in log
    assert "secret-reset-token-42" not in log
    assert "38001085718" not in log


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_worker_unit_sends_e_mail_and_stops_when_told(site, school, smtp_server):
    processes = site()
    unit = service("worker")
    (start,) = unit["ExecStart"]
    worker = _start(processes, shlex.split(start), "worker", **unit_environment(unit))
    try:
        with transaction.atomic():
            email = queue_email(
                school=school,
                to="vanem@example.ee",
                kind="test",
                template="applications/email/new_application",
                context={"review_url": "https://jpk.example.ee/admin/"},
            )
        wait_until(
            lambda: Email.objects.get(pk=email.pk).status == Email.Status.SENT,
            60,
            "the unit's worker sends the e-mail",
        )
        assert [m["To"] for m in smtp_server.messages] == ["vanem@example.ee"]
    finally:
        worker.send_signal(getattr(signal, unit["KillSignal"][0]))
        assert worker.wait(timeout=int(unit["TimeoutStopSec"][0])) is not None


# --- what production installs ------------------------------------------------------------------

BUILD_ONLY = {"babel"}  # compiles the catalogues (make compile-messages, the image's build)


def _pinned(path: Path) -> set[str]:
    return {
        line.split("==")[0].strip().lower()
        for line in path.read_text().splitlines()
        if "==" in line and not line.lstrip().startswith("#")
    }


def test_production_installs_no_build_only_package():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=\[ ;]", d)[0].lower() for d in project["dependencies"]}
    dev = {re.split(r"[<>=\[ ;]", d)[0].lower() for d in project["optional-dependencies"]["dev"]}
    assert not names & BUILD_ONLY
    assert dev >= BUILD_ONLY
    assert not _pinned(ROOT / "requirements" / "prod.txt") & BUILD_ONLY
    assert _pinned(ROOT / "requirements" / "dev.txt") >= BUILD_ONLY


def test_pre_commit_runs_every_check_of_make_lint():
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed")
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [hook for repo in config["repos"] for hook in repo["hooks"]]
    assert {repo["repo"] for repo in config["repos"]} == {"local"}  # no network at commit time
    entries = " ".join(hook["entry"] for hook in hooks)
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^lint: setup\n((?:\t.*\n)+)", makefile, re.M).group(1)
    for line in recipe.splitlines():
        step = line.strip().replace("$(BIN)/", ".venv/bin/").replace("$(DEV) ", "")
        step = step.replace("$(MAKE)", "make")
        if step.startswith("@if command -v xgettext"):
            assert "make --no-print-directory messages" in entries
            assert 'git diff --exit-code -I "POT-Creation-Date" -- locale' in entries
        else:
            assert step in entries, f"make lint runs {step!r}; pre-commit does not"
