"""The deployment files say what the gateway really does (issue 42, point 2): the Kubernetes
base, the compose file and the Dockerfile use the ports, probe paths, command lines and
environment variables of this release, and their configs load with the variables they get.
(The image itself runs in deploy/container-test, which .ci/run runs.)"""

from __future__ import annotations

import copy
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from cryptography.fernet import Fernet

from gateway.cli.parser import build_parser
from gateway.config import load_config
from gateway.proxy.openapi import openapi_document

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
KUBE = DEPLOY / "kubernetes"
#: Values of the right shape for the variables the configs name (the checks run on them).
VALUES = {
    "DATABASE_URL": "postgresql://gw:pw@db:5432/gw",
    "GATEWAY_DEPLOY_KEY": "manifest-check-Kv7Qx2Lm9Zr4Tw8",
    "GATEWAY_SECRETS_KEY": Fernet.generate_key().decode(),
    "CORE_TENANT_LOCATOR": "8c6b4a52-6d6e-4b0e-9d55-0b8f3f0c2f4e",
}


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


def _kube() -> dict[str, dict[str, Any]]:
    kustomization = _documents(KUBE / "kustomization.yaml")[0]
    found = {}
    for name in kustomization["resources"]:
        for document in _documents(KUBE / name):
            found[document["kind"]] = document
    return found


def _unkeyed_routes() -> set[str]:
    paths = openapi_document()["paths"]
    return {p for p, ops in paths.items() if ops.get("get", {}).get("security") == []}


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value", VALUES.get(e["name"], "x")) for e in container["env"]}


def _port_of(args: list[str]) -> int:
    parsed = build_parser().parse_args(args)
    return int(parsed.port)


def test_the_kustomize_base_lists_what_it_has() -> None:
    kustomization = _documents(KUBE / "kustomization.yaml")[0]
    files = {p.name for p in KUBE.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    (generated,) = kustomization["configMapGenerator"]
    assert generated["files"] == ["gateway.toml"] and (KUBE / "gateway.toml").exists()
    assert set(_kube()) == {"Deployment", "Service", "PodDisruptionBudget", "Job",
                            "NetworkPolicy"}  # fmt: skip


#: The Kubernetes version whose schemas the manifests are checked against (offline).
KUBERNETES = "1.33.0"


def _rendered() -> list[dict[str, Any]]:
    """The base as ``kubectl kustomize`` renders it (the ConfigMap made from gateway.toml
    included); where kubectl is not installed, its resource files as they are."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return list(_kube().values())
    out = subprocess.run([kubectl, "kustomize", str(KUBE)], capture_output=True, text=True,  # noqa: S603
                         check=True, timeout=60).stdout  # fmt: skip
    return [d for d in yaml.safe_load_all(out) if d]


def test_the_manifests_are_valid_objects_of_a_named_kubernetes_version() -> None:
    rendered = _rendered()
    for document in rendered:
        kubernetes_validate.validate(document, KUBERNETES, strict=True)
    maps = [d for d in rendered if d["kind"] == "ConfigMap"]
    if shutil.which("kubectl") is not None:  # the generated ConfigMap holds the file as it is
        (config,) = maps
        assert config["data"]["gateway.toml"] == (KUBE / "gateway.toml").read_text()
    # A field Kubernetes does not know is refused (the check can fail).
    broken = copy.deepcopy(_kube()["Deployment"])
    broken["spec"]["template"]["spec"]["containers"][0]["readynessProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_deployment_runs_what_the_gateway_is() -> None:
    kube = _kube()
    deployment = kube["Deployment"]
    spec = deployment["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["replicas"] == 2
    parsed = build_parser().parse_args(container["args"])
    assert parsed.command == "serve" and not parsed.demo
    (http,) = container["ports"]
    assert http["containerPort"] == _port_of(container["args"]) and http["name"] == "http"
    unkeyed = _unkeyed_routes()
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] == "http" and get["path"] in unkeyed, probe
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    # The config file is where WEBHOOK_GATEWAY_CONFIG says, from the ConfigMap, and loads
    # with the environment the pod gets (every ${VAR} it names is given).
    env = _env(container)
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert env["WEBHOOK_GATEWAY_CONFIG"] == f"{mounts['config']}/gateway.toml"
    assert volumes["config"]["configMap"]["name"] == "webhook-gateway-config"
    config = load_config(KUBE / "gateway.toml", env=env)
    assert config.state is not None and config.state.migrate == "manual"
    # shutdown: the pod's grace outlasts not-ready time plus in-flight requests
    assert pod["terminationGracePeriodSeconds"] > (config.server.shutdown_delay
                                                   + config.server.shutdown_timeout)  # fmt: skip
    # Locked down: the image's unprivileged user, read-only root, no capabilities.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == _dockerfile_user()
    hardened = container["securityContext"]
    assert hardened["readOnlyRootFilesystem"] is True
    assert hardened["allowPrivilegeEscalation"] is False
    assert hardened["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]
    # The Service, the budget and the policy point at these pods and this port.
    labels = spec["template"]["metadata"]["labels"]
    service = kube["Service"]["spec"]
    assert service["selector"].items() <= labels.items()
    assert service["ports"][0]["targetPort"] == "http"
    assert kube["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    policy = kube["NetworkPolicy"]["spec"]
    assert policy["ingress"][0]["ports"][0]["port"] == http["containerPort"]
    assert {5432, 443} <= {p["port"] for rule in policy["egress"] for p in rule["ports"]}


def test_the_migration_job_migrates_with_the_variables_it_gets() -> None:
    job = _kube()["Job"]
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert build_parser().parse_args(container["args"]).command == "migrate"
    # migrate reads [state] (and [http]): no account's or server's variables needed
    config = load_config(KUBE / "gateway.toml", env=_env(container), accounts=[], server=False)
    assert config.state is not None
    with pytest.raises(Exception, match="CORE_TOKEN"):  # serve would need them: not given here
        load_config(KUBE / "gateway.toml", env=_env(container))


def _dockerfile() -> str:
    return (DEPLOY / "Dockerfile").read_text(encoding="utf-8")


def _dockerfile_user() -> int:
    users = re.findall(r"^USER (\S+)$", _dockerfile(), flags=re.M)
    return int(users[-1])


def test_the_dockerfile_serves_on_the_port_it_exposes() -> None:
    text = _dockerfile()
    (exposed,) = re.findall(r"^EXPOSE (\d+)$", text, flags=re.M)
    (cmd,) = re.findall(r"^CMD (\[.*\])$", text, flags=re.M)
    args = yaml.safe_load(cmd)
    assert build_parser().parse_args(args).command == "serve"
    assert _port_of(args) == int(exposed)
    assert re.search(r"^ENTRYPOINT \[\"webhook-gateway\"\]$", text, flags=re.M)
    scripts = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'webhook-gateway = "gateway.cli:main"' in scripts
    (check,) = re.findall(r"^\s+CMD \[\"python3\", \"-c\", \"(.*)\"\]$", text, flags=re.M)
    assert f"127.0.0.1:{exposed}/healthz" in check and "/healthz" in _unkeyed_routes()
    assert "USER 10001" in text and "--no-index" in text  # unprivileged; no index at install
    assert "org.opencontainers.image.title" in text


def test_compose_runs_two_replicas_with_what_they_need() -> None:
    compose = _documents(DEPLOY / "compose.yaml")[0]
    services = compose["services"]
    for name in ("gw-a", "gw-b"):
        service = services[name]
        assert build_parser().parse_args(service["command"]).command == "serve"
        _, container_port = service["ports"][0].split(":")
        assert int(container_port) == _port_of(service["command"]) and service["read_only"]
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        env = {k: str(v) for k, v in service["environment"].items()}
        mounted = dict(v.rsplit(":", 1)[0].split(":") for v in service["volumes"])
        (config_file,) = [DEPLOY / Path(h).name for h, c in mounted.items()
                          if c == env["WEBHOOK_GATEWAY_CONFIG"]]  # fmt: skip
        config = load_config(config_file, env=env)
        assert config.state is not None and config.state.url.startswith("postgresql://")
        core = services["core"]["command"]
        assert shlex.join(core[:2]) == "emulate enterprise_core"
        assert f":{core[core.index('--port') + 1]}" in config.accounts["core"].settings.base_url
    assert build_parser().parse_args(services["migrate"]["command"]).command == "migrate"
