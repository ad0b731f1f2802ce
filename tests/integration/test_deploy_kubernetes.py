"""deploy/kubernetes against Kubernetes' schemas and against the code (see
test_deploy_files.py for how: no cluster runs here)."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml
from fieldcrew_cli.servers.nats_server import (
    INTEGRATION_USER,
    NATS_USER,
    SERVICE_USERS,
    integration_permissions,
    service_permissions,
)
from fieldcrew_cli.servers.process import find_binary
from fieldcrew_cli.stack import SERVICES

from tests.integration.test_deploy_files import (
    CNPG_APP_KEYS,
    KUBE,
    KUBERNETES_VERSION,
    STATELESS,
    check_environment,
)

Doc = dict[str, Any]


def documents() -> list[Doc]:
    """Every object the kustomization applies."""
    kustomization = yaml.safe_load((KUBE / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    # every manifest is applied, but the NATS chart's values (helm reads those)
    assert listed == {p.name for p in KUBE.glob("*.yaml")} - {
        "kustomization.yaml",
        "nats-values.yaml",
    }
    docs: list[Doc] = []
    for name in kustomization["resources"]:
        docs += [d for d in yaml.safe_load_all((KUBE / name).read_text()) if d]
    return docs


def find(docs: list[Doc], kind: str, name: str) -> Doc:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind} {name}: {len(found)}"
    return found[0]


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    return documents()


def test_every_object_is_valid_for_kubernetes(docs: list[Doc]) -> None:
    for doc in docs:
        if doc["apiVersion"].startswith("postgresql.cnpg.io/"):
            continue  # a custom resource: checked below
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def secret_values(docs: list[Doc]) -> dict[tuple[str, str], str]:
    """Every (Secret, key) the manifests define, with a fresh value instead of the
    placeholder, and the keys CloudNativePG writes for the Cluster's app user."""
    values: dict[tuple[str, str], str] = {}
    for doc in docs:
        if doc["kind"] == "Secret":
            for key, value in doc["stringData"].items():
                fresh = secrets.token_urlsafe(18).replace("-", "x")
                values[(doc["metadata"]["name"], key)] = fresh if "CHANGE-ME" in value else value
        if doc["kind"] == "Cluster":
            for key in CNPG_APP_KEYS:
                values[(f"{doc['metadata']['name']}-app", key)] = (
                    f"postgresql://app:{'p' * 16}@db/f"
                )
    return values


def container_env(docs: list[Doc], container: Doc) -> dict[str, str]:
    """The container's environment as the kubelet makes it: ConfigMaps, Secrets, $(VAR)."""
    known = secret_values(docs)
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(find(docs, "ConfigMap", source["configMapRef"]["name"])["data"])
    helpers = set()
    for var in container.get("env", []):
        if "valueFrom" in var:
            ref = var["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) in known, f"no Secret {ref['name']}/{ref['key']}"
            value = known[(ref["name"], ref["key"])]
        else:
            value = re.sub(r"\$\((\w+)\)", lambda m: env[m[1]], var["value"])
            helpers |= set(re.findall(r"\$\((\w+)\)", var["value"]))
        env[var["name"]] = value
    # a variable that is not a setting must be there only to build another one
    assert {n for n in env if not n.startswith("FIELDCREW_")} <= helpers
    return env


def test_every_service_is_deployed_with_probes_resources_and_real_settings(
    docs: list[Doc], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SERVICES:
        deployment = find(docs, "Deployment", f"fieldcrew-{name}")
        assert deployment["spec"]["replicas"] == (2 if name in STATELESS else 1)
        pod = deployment["spec"]["template"]
        (container,) = pod["spec"]["containers"]
        port = check_environment(name, container_env(docs, container), monkeypatch)
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["http"] == port
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = container[probe]["httpGet"]
            assert get["path"] == path and ports.get(get["port"], get["port"]) == port
        assert {"cpu", "memory"} <= set(container["resources"]["requests"])
        assert {"cpu", "memory"} <= set(container["resources"]["limits"])
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        labels = pod["metadata"]["labels"]
        budget = find(docs, "PodDisruptionBudget", f"fieldcrew-{name}")
        assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
        service = find(docs, "Service", f"fieldcrew-{name}")
        assert service["spec"]["selector"].items() <= labels.items()
        assert service["spec"]["ports"][0]["targetPort"] in ("http", port)
    gateway = container_env(
        docs,
        find(docs, "Deployment", "fieldcrew-gateway")["spec"]["template"]["spec"]["containers"][0],
    )
    for upstream in ("dispatch", "team", "photos", "aggregator"):
        url = urlsplit(gateway[f"FIELDCREW_{upstream.upper()}_URL"])
        service = find(docs, "Service", url.hostname or "")
        assert service["spec"]["ports"][0]["port"] == url.port


def test_postgres_is_a_cloudnativepg_cluster_the_aggregator_uses(docs: list[Doc]) -> None:
    (cluster,) = [d for d in docs if d["kind"] == "Cluster"]
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] >= 3
    assert cluster["spec"]["bootstrap"]["initdb"]["database"] == "fieldcrew"
    assert cluster["spec"]["storage"]["size"]
    aggregator = find(docs, "Deployment", "fieldcrew-aggregator")
    (container,) = aggregator["spec"]["template"]["spec"]["containers"]
    (database,) = [v for v in container["env"] if v["name"] == "FIELDCREW_DATABASE_URL"]
    ref = database["valueFrom"]["secretKeyRef"]
    assert ref == {"name": f"{cluster['metadata']['name']}-app", "key": "uri"}


# -- the official NATS chart's values --------------------------------------------------------


@pytest.fixture(scope="module")
def nats_values() -> Doc:
    values: Doc = yaml.safe_load((KUBE / "nats-values.yaml").read_text())
    return values


def test_nats_is_a_three_node_jetstream_cluster(nats_values: Doc, docs: list[Doc]) -> None:
    config = nats_values["config"]
    assert config["cluster"] == {"enabled": True, "replicas": 3}
    jetstream = config["jetstream"]
    assert jetstream["enabled"] and jetstream["fileStore"]["enabled"]
    assert jetstream["merge"]["sync_interval"] == "always"
    assert nats_values["podDisruptionBudget"]["enabled"]
    job = find(docs, "Job", "fieldcrew-create-stream")
    command = " ".join(job["spec"]["template"]["spec"]["containers"][0]["command"])
    assert "--replicas 3" in command and "--storage file" in command


def test_nats_users_and_permissions_are_the_embedded_servers(
    nats_values: Doc, docs: list[Doc]
) -> None:
    users = {u["user"]: u for u in nats_values["config"]["merge"]["authorization"]["users"]}
    assert set(users) == {NATS_USER, *SERVICE_USERS, INTEGRATION_USER}
    assert "permissions" not in users[NATS_USER]  # the admin: unrestricted
    assert users[INTEGRATION_USER]["permissions"] == integration_permissions()
    for service in SERVICE_USERS:
        assert users[service]["permissions"] == service_permissions(service)
    # every password is an environment variable of the NATS container, from the Secret
    env = nats_values["container"]["env"]
    known = secret_values(docs)
    for user in users.values():
        (variable,) = re.findall(r"^<< \$(\w+) >>$", user["password"])
        ref = env[variable]["valueFrom"]["secretKeyRef"]
        assert (ref["name"], ref["key"]) in known


def test_the_chart_renders_a_config_nats_server_accepts(nats_values: Doc, tmp_path: Path) -> None:
    """The server config the chart makes from these values (its JSON, ``<< >>`` unquoted),
    checked by the real nats-server."""
    config = nats_values["config"]
    rendered = {
        "port": 4222,
        "server_name": "nats-0",
        "jetstream": {
            "store_dir": config["jetstream"]["fileStore"]["dir"],
            **config["jetstream"]["merge"],
        },
        "cluster": {
            "name": "nats",
            "port": 6222,
            "routes": [f"nats://nats-{i}.nats-headless:6222" for i in range(3)],
        },
        **config["merge"],
    }
    text = re.sub(r'"<< (.*?) >>"', r"\1", json.dumps(rendered, indent=2))
    path = tmp_path / "nats.conf"
    path.write_text(text)
    chart_env = nats_values["container"]["env"]
    from_secrets = {k: secrets.token_hex(16) for k, v in chart_env.items() if isinstance(v, dict)}
    plain = {k: v for k, v in chart_env.items() if isinstance(v, str)}
    env = {**os.environ, **plain, **from_secrets}
    done = subprocess.run(
        [find_binary("nats-server"), "-t", "-c", str(path)], env=env, capture_output=True
    )
    assert done.returncode == 0, done.stderr.decode() + text
