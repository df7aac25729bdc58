"""Helm chart: renders, validates against Kubernetes schemas, lints, and is secure by default."""

from __future__ import annotations

import copy
import itertools
import json
import re
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema  # type: ignore[import-untyped, unused-ignore]
import kubernetes_validate
import pytest
import yaml

from .helpers import (
    CHART_DIR,
    CI_VALUES,
    KUBE_VERSIONS,
    NAMESPACE,
    by_kind,
    env_of,
    load_values,
    manifests,
    manifests_for,
    one,
    render,
)

SERVICEMONITOR_SCHEMA = json.loads(
    (Path(__file__).parent / "schemas" / "servicemonitor-v1.json").read_text()
)
# Custom resources kubernetes-validate has no schema for, each with the schema used instead.
CRD_SCHEMAS = {("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICEMONITOR_SCHEMA}

MINIMAL = CHART_DIR / "ci" / "minimal-values.yaml"
PRODUCTION = CHART_DIR / "ci" / "production-values.yaml"
INGRESS = CHART_DIR / "ci" / "ingress-values.yaml"

ci_values = pytest.mark.parametrize("values_file", CI_VALUES, ids=lambda p: p.stem)


def minimal_with(**overrides: Any) -> dict[str, Any]:
    """minimal-values.yaml with top-level keys deep-merged from overrides."""
    values = copy.deepcopy(load_values(MINIMAL))
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    return values


def deployment_of(values: dict[str, Any]) -> dict[str, Any]:
    return one(manifests(render(values)), "Deployment")


def container_env(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """Env of the one container of the one Deployment in docs."""
    return env_of(one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0])


def test_the_three_ci_value_sets_exist() -> None:
    assert {p.name for p in CI_VALUES} == {
        "minimal-values.yaml",
        "production-values.yaml",
        "ingress-values.yaml",
    }


def test_chart_metadata() -> None:
    with helm.Chart.load(CHART_DIR) as chart:
        meta = chart.metadata
    assert meta["apiVersion"] == "v2"
    assert meta["kubeVersion"] == ">=1.29.0-0"
    assert meta["appVersion"]
    assert (CHART_DIR / "README.md").is_file()
    assert (CHART_DIR / "templates" / "NOTES.txt").is_file()


@ci_values
def test_renders_expected_kinds(values_file: Path) -> None:
    kinds = sorted(doc["kind"] for doc in manifests_for(values_file))
    expected = {
        "minimal-values": [
            "ConfigMap",
            "Deployment",
            "NetworkPolicy",
            "Service",
            "ServiceAccount",
        ],
        "production-values": [
            "ConfigMap",
            "Deployment",
            "HorizontalPodAutoscaler",
            "NetworkPolicy",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount",
        ],
        "ingress-values": [
            "ConfigMap",
            "Deployment",
            "Ingress",
            "NetworkPolicy",
            "Service",
            "ServiceAccount",
            "ServiceMonitor",
        ],
    }[values_file.stem]
    assert kinds == expected
    for doc in manifests_for(values_file):
        assert doc["metadata"]["namespace"] == NAMESPACE, doc["kind"]


@ci_values
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_manifests_pass_strict_kubernetes_schema(values_file: Path, kube_version: str) -> None:
    """kubernetes-validate --strict; a SchemaNotFoundError (removed or unknown API) fails."""
    for doc in manifests_for(values_file):
        crd_schema = CRD_SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        if crd_schema is not None:
            jsonschema.validate(doc, crd_schema)
            continue
        try:
            kubernetes_validate.validate(doc, kube_version, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            api = f"{doc['apiVersion']} {doc['kind']}"
            pytest.fail(f"{api} is not served by Kubernetes {kube_version}")
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{doc['kind']} invalid for Kubernetes {kube_version}: {exc}")


def test_validation_rejects_removed_api_and_unknown_field() -> None:
    """Guard the guard: the checks above really fail on the mistakes they exist for."""
    pdb = one(manifests_for(PRODUCTION), "PodDisruptionBudget")
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate({**pdb, "apiVersion": "policy/v1beta1"}, "1.29.0", strict=True)
    deployment = copy.deepcopy(one(manifests_for(MINIMAL), "Deployment"))
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolcy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, "1.29.0", strict=True)
    monitor = copy.deepcopy(one(manifests_for(INGRESS), "ServiceMonitor"))
    monitor["spec"]["endpoints"][0]["intervall"] = "30s"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(monitor, SERVICEMONITOR_SCHEMA)


@ci_values
@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_helm_lint_strict(values_file: Path, kube_version: str) -> None:
    report = helm.lint(
        CHART_DIR,
        load_values(values_file),
        strict=True,
        namespace=NAMESPACE,
        kube_version=f"v{kube_version}",
    )
    assert report["total_charts_linted"] == 1
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


# --- values.schema.json ------------------------------------------------------------------------


def test_every_values_key_is_documented() -> None:
    """Each chart-defined key in values.yaml has a comment line right above it.

    Exempt: keys inside Kubernetes-native blocks documented as a whole (securityContext,
    resources, probe timings) and keys inside list items (ingress hosts)."""
    native_blocks = {
        "podSecurityContext",
        "securityContext",
        "resources",
        "livenessProbe",
        "readinessProbe",
        "startupProbe",
    }
    key = re.compile(r"^(?P<indent>\s*)(?P<name>[A-Za-z][A-Za-z0-9]*):")
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    undocumented, top, list_indent = [], "", None
    for previous, line in itertools.pairwise(lines):
        indent = len(line) - len(line.lstrip())
        if line.lstrip().startswith("- "):
            list_indent = indent if list_indent is None else min(list_indent, indent)
            continue
        if list_indent is not None and indent > list_indent:
            continue
        list_indent = None
        match = key.match(line)
        if not match:
            continue
        if not match["indent"]:
            top = match["name"]
        elif top in native_blocks:
            continue
        is_parent = line.rstrip().endswith(":")
        if not previous.strip().startswith("#") and not (is_parent and match["indent"]):
            undocumented.append(line.strip())
    assert undocumented == []


def test_schema_forbids_unknown_keys_at_every_level() -> None:
    with helm.Chart.load(CHART_DIR) as chart:
        schema = chart.schema
    assert schema is not None
    assert schema["additionalProperties"] is False

    def walk(node: dict[str, Any], path: str) -> list[str]:
        missing = []
        if node.get("type") == "object" and "properties" in node:
            if node.get("additionalProperties") is not False:
                missing.append(path)
            for name, child in node["properties"].items():
                missing += walk(child, f"{path}.{name}")
        return missing

    assert walk(schema, "") == []
    # Every default value is described by the schema.
    with helm.Chart.load(CHART_DIR) as chart:
        assert set(chart.values) <= set(schema["properties"])


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"replicaCount": "two"}, "/replicaCount"),
        ({"replicaCount": -1}, "/replicaCount"),
        ({"replikaCount": 2}, "replikaCount"),
        ({"image": {"repository": "x", "digest": "latest"}}, "/image/digest"),
        ({"image": {"pullPolicy": "Sometimes"}}, "/image/pullPolicy"),
        ({"config": {"authMode": "optional"}}, "/config/authMode"),
        ({"config": {"workers": "4"}}, "/config/workers"),
        ({"config": {"sandboxEnabled": "false"}}, "/config/sandboxEnabled"),
        ({"config": {"fhirAllowlist": ["fhir.example.org"]}}, "/config/fhirAllowlist"),
        ({"config": {"unknown": True}}, "unknown"),
        ({"config": {"commentRetentionDays": 0}}, "/config/commentRetentionDays"),
        ({"config": {"commentRetentionDays": 36501}}, "/config/commentRetentionDays"),
        ({"config": {"commentRetentionDays": "90"}}, "/config/commentRetentionDays"),
        ({"config": {"commentRetentionDays": 1.5}}, "/config/commentRetentionDays"),
        ({"networkPolicy": {"egress": {"database": {"cidrs": ["10.0.0.0"]}}}}, "/cidrs"),
        ({"resources": {"limits": {"cpu": "lots"}}}, "/resources/limits/cpu"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else None,
)
def test_schema_rejects_bad_values(values: dict[str, Any], message: str) -> None:
    with helm.Chart.load(CHART_DIR) as chart:
        with pytest.raises(helm.HelmValuesError, match=re.escape(message)):
            chart.validate_schema(values)
        # ... and a render with them fails too, so `helm install` can never apply them.
        with pytest.raises(helm.HelmValuesError):
            chart.render(values=minimal_with(**values), name="demo", namespace=NAMESPACE)


@ci_values
def test_ci_values_satisfy_schema(values_file: Path) -> None:
    with helm.Chart.load(CHART_DIR) as chart:
        chart.validate_schema(load_values(values_file))


# --- cross-value checks (template `fail`) ------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"config": {"publicBaseUrl": ""}}, "config.publicBaseUrl is required"),
        ({"config": {"publicBaseUrl": "http://cds.example.test"}}, "must be https"),
        ({"config": {"authMode": "disabled"}}, "config.authMode=disabled"),
        ({"config": {"sandboxEnabled": True}}, "config.sandboxEnabled=true"),
        ({"config": {"fhirOpenAllowlist": ["https://fhir.example.test"]}}, "fhirOpenAllowlist"),
        ({"config": {"corsOrigins": ["*"]}}, "corsOrigins contains *"),
        ({"trustedIssuers": None}, "trustedIssuers is required"),
        ({"replicaCount": 2}, "redis.existingSecret is required"),
        ({"autoscaling": {"enabled": True}}, "redis.existingSecret is required"),
        (
            {"serviceMonitor": {"enabled": True}, "config": {"workers": 2}},
            "config.workers must be 1",
        ),
        ({"terminationGracePeriodSeconds": 25}, "terminationGracePeriodSeconds (25) must exceed"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else None,
)
def test_render_refuses_unsafe_or_inconsistent_values(values: dict[str, Any], message: str) -> None:
    with pytest.raises(helm.HelmRenderError, match=re.escape(message)):
        render(minimal_with(**values))


def test_development_mode_allows_what_production_refuses() -> None:
    values = minimal_with(
        config={
            "environment": "development",
            "authMode": "disabled",
            "publicBaseUrl": "http://127.0.0.1:8080",
        },
        trustedIssuers=None,
    )
    env = env_of(deployment_of(values)["spec"]["template"]["spec"]["containers"][0])
    assert env["OIH_AUTH_MODE"] == "disabled"
    assert "OIH_TRUSTED_ISSUERS_FILE" not in env


def test_public_base_url_defaults_to_first_ingress_host() -> None:
    env = container_env(manifests_for(INGRESS))
    assert env["OIH_PUBLIC_BASE_URL"] == "https://cds.example.org"


# --- security and runtime shape of the Deployment ---------------------------------------------


@ci_values
def test_deployment_is_locked_down(values_file: Path) -> None:
    deployment = one(manifests_for(values_file), "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert not pod.get("hostNetwork")
    assert not pod.get("hostPID")
    assert not pod.get("hostIPC")

    sc = container["securityContext"]
    assert sc["runAsNonRoot"] is True
    assert sc["runAsUser"] == 10001
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["privileged"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["seccompProfile"] == {"type": "RuntimeDefault"}

    probes = {
        name: container[name]["httpGet"]
        for name in ("startupProbe", "livenessProbe", "readinessProbe")
    }
    assert probes["livenessProbe"] == {"path": "/healthz", "port": "http"}
    assert probes["readinessProbe"] == {"path": "/readyz", "port": "http"}
    assert probes["startupProbe"]["path"] == "/healthz"
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["command"] == ["oih-cds"]
    assert container["args"][0] == "serve"

    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}

    # Writable paths are emptyDirs; everything else is read-only.
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    for path in ("/var/lib/oih-cds", "/tmp"):
        assert "emptyDir" in volumes[mounts[path]["name"]], path
    assert mounts["/etc/oih-cds"]["readOnly"] is True

    env = env_of(container)
    assert env["OIH_DATA_DIR"] == "/var/lib/oih-cds"
    assert env["OIH_AUTH_MODE"] == "required"
    assert env["OIH_SANDBOX_ENABLED"] == "false"
    assert env["OIH_ENVIRONMENT"] == "production"
    assert env["OIH_OTEL_ENABLED"] == "false"
    assert env["OIH_CORS_ORIGINS"] == ""
    assert env["OIH_TRUSTED_ISSUERS_FILE"] == "/etc/oih-cds/trusted-issuers.yaml"

    # Graceful shutdown fits in the grace period: preStop sleep + uvicorn's own timeout.
    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    assert sleep + int(env["OIH_GRACEFUL_TIMEOUT_SECONDS"]) < pod["terminationGracePeriodSeconds"]

    keys = [c["topologyKey"] for c in pod["topologySpreadConstraints"]]
    assert keys == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    for constraint in pod["topologySpreadConstraints"]:
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert constraint["labelSelector"]["matchLabels"] == selector


@ci_values
def test_service_account_does_not_mount_token(values_file: Path) -> None:
    account = one(manifests_for(values_file), "ServiceAccount")
    assert account["automountServiceAccountToken"] is False


def test_config_checksum_changes_with_the_configmap() -> None:
    def checksum(values: dict[str, Any]) -> str:
        annotations = deployment_of(values)["spec"]["template"]["metadata"]["annotations"]
        return str(annotations["checksum/config"])

    base = checksum(minimal_with())
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert checksum(minimal_with(rules={"thresholds": {"mme_high": 120}})) != base
    assert checksum(minimal_with()) == base


def test_configmap_files_and_env() -> None:
    docs = manifests_for(PRODUCTION)
    data = one(docs, "ConfigMap")["data"]
    assert yaml.safe_load(data["rules.yaml"]) == load_values(PRODUCTION)["rules"]
    issuers = yaml.safe_load(data["trusted-issuers.yaml"])
    assert issuers == load_values(PRODUCTION)["trustedIssuers"]
    env = container_env(docs)
    assert env["OIH_RULES_FILE"] == "/etc/oih-cds/rules.yaml"
    # Without overrides the image's built-in thresholds apply.
    minimal_env = container_env(manifests_for(MINIMAL))
    assert "OIH_RULES_FILE" not in minimal_env


@ci_values
def test_configmap_files_load_with_the_service_loaders(values_file: Path, tmp_path: Path) -> None:
    """What the chart writes is what the service accepts at start-up (same parsers)."""
    from rules.settings import load_rule_settings
    from service.auth.issuers import load_trusted_issuers

    data = one(manifests_for(values_file), "ConfigMap")["data"]
    rules_file = tmp_path / "rules.yaml"
    rules_file.write_text(data["rules.yaml"])
    settings = load_rule_settings(rules_file)
    for key, entry in (load_values(values_file).get("rules") or {}).get("thresholds", {}).items():
        value = entry["value"] if isinstance(entry, dict) else entry
        assert getattr(settings, key) == value
    issuers_file = tmp_path / "trusted-issuers.yaml"
    issuers_file.write_text(data["trusted-issuers.yaml"])
    issuers = load_trusted_issuers(issuers_file)
    expected = {entry["iss"] for entry in load_values(values_file)["trustedIssuers"]["issuers"]}
    assert set(issuers) == expected


def test_production_secrets_come_from_existing_secrets() -> None:
    docs = manifests_for(PRODUCTION)
    assert by_kind(docs, "Secret") == []
    env = container_env(docs)
    db_ref = {"secretKeyRef": {"name": "oih-cds-db", "key": "database-url"}}
    redis_ref = {"secretKeyRef": {"name": "oih-cds-redis", "key": "redis-url"}}
    key_ref = {"secretKeyRef": {"name": "oih-cds-patient-key", "key": "patient-key-secret"}}
    assert env["OIH_DATABASE_URL"] == db_ref
    assert env["OIH_REDIS_URL"] == redis_ref
    assert env["OIH_PATIENT_KEY_SECRET"] == key_ref
    # The minimal install uses SQLite on the data volume: no URL at all, and no snoozing.
    minimal_env = container_env(manifests_for(MINIMAL))
    assert "OIH_DATABASE_URL" not in minimal_env
    assert "OIH_REDIS_URL" not in minimal_env
    assert "OIH_PATIENT_KEY_SECRET" not in minimal_env


@pytest.mark.parametrize("days", [1, 90, 36500])
def test_comment_retention_becomes_the_env_var_the_service_reads(
    days: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.config import Settings

    env = container_env(manifests(render(minimal_with(config={"commentRetentionDays": days}))))
    assert env["OIH_COMMENT_RETENTION_DAYS"] == str(days)  # an integer, never 3.65e+04
    monkeypatch.setenv("OIH_COMMENT_RETENTION_DAYS", env["OIH_COMMENT_RETENTION_DAYS"])
    settings = Settings(auth_mode="disabled", _env_file=None)
    assert settings.comment_retention_days == days
    # Unset (the default) keeps comments: no variable at all.
    assert "OIH_COMMENT_RETENTION_DAYS" not in container_env(manifests_for(MINIMAL))
    assert container_env(manifests_for(PRODUCTION))["OIH_COMMENT_RETENTION_DAYS"] == "90"


def test_image_by_tag_or_digest() -> None:
    def image(values: dict[str, Any]) -> str:
        return str(deployment_of(values)["spec"]["template"]["spec"]["containers"][0]["image"])

    with helm.Chart.load(CHART_DIR) as chart:
        app_version = chart.metadata["appVersion"]
    assert image(minimal_with()) == f"ghcr.io/example/oih-cds:{app_version}"
    assert image(minimal_with(image={"tag": "1.2.3"})).endswith(":1.2.3")
    digest = "sha256:" + "a" * 64
    pinned = minimal_with(image={"tag": "1.2.3", "digest": digest})
    assert image(pinned) == f"ghcr.io/example/oih-cds@{digest}"


def test_checkov_skips_are_annotated_with_reasons() -> None:
    """Skips live on the resource, one per annotation, as `CKV_ID=reason`, only when needed."""

    def skips(values: dict[str, Any]) -> dict[str, str]:
        annotations = deployment_of(values)["metadata"].get("annotations", {})
        return {k: v for k, v in annotations.items() if k.startswith("checkov.io/skip")}

    for value in skips(minimal_with()).values():
        check, _, reason = value.partition("=")
        assert re.fullmatch(r"CKV2?_K8S_\d+", check)
        assert len(reason) > 20
    assert [v.split("=")[0] for v in skips(minimal_with()).values()] == ["CKV_K8S_43"]
    production = load_values(PRODUCTION)
    assert [v.split("=")[0] for v in skips(production).values()] == ["CKV_K8S_35"]


# --- scaling, disruption, network ---------------------------------------------------------------


def test_production_scaling_and_disruption() -> None:
    docs = manifests_for(PRODUCTION)
    deployment = one(docs, "Deployment")
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert hpa["spec"]["minReplicas"] == 3
    metrics = {
        m["resource"]["name"]: m["resource"]["target"]["averageUtilization"]
        for m in hpa["spec"]["metrics"]
    }
    assert metrics == {"cpu": 65, "memory": 80}

    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["selector"] == deployment["spec"]["selector"]


def test_replica_count_without_hpa() -> None:
    values = minimal_with(replicaCount=3, redis={"existingSecret": "r"})
    assert deployment_of(values)["spec"]["replicas"] == 3


def test_production_network_policy() -> None:
    docs = manifests_for(PRODUCTION)
    policy = one(docs, "NetworkPolicy")["spec"]
    selector = one(docs, "Deployment")["spec"]["selector"]["matchLabels"]
    assert policy["podSelector"]["matchLabels"] == selector
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    (ingress,) = policy["ingress"]
    assert ingress["ports"] == [{"port": "http", "protocol": "TCP"}]
    assert len(ingress["from"]) == 2

    egress = policy["egress"]
    assert {} not in egress, "production must not allow all egress"
    dns = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]
    assert egress[0] == {"ports": dns}
    destinations = {
        rule["to"][0]["ipBlock"]["cidr"]: [p["port"] for p in rule["ports"]] for rule in egress[1:]
    }
    assert destinations == {"10.20.0.0/16": [443], "10.30.1.0/24": [5432], "10.30.2.0/24": [6379]}


def test_default_network_policy_allows_open_egress_toggle() -> None:
    policy = one(manifests_for(MINIMAL), "NetworkPolicy")["spec"]
    assert policy["egress"] == [{}]
    assert "from" not in policy["ingress"][0]
    off = minimal_with(networkPolicy={"enabled": False})
    assert by_kind(manifests(render(off)), "NetworkPolicy") == []


def test_ingress_tls_and_service_monitor() -> None:
    docs = manifests_for(INGRESS)
    service = one(docs, "Service")
    ingress = one(docs, "Ingress")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [{"secretName": "oih-cds-tls", "hosts": ["cds.example.org"]}]
    (rule,) = ingress["rules"]
    (path,) = rule["http"]["paths"]
    # Only the CDS Hooks API is public: not /metrics, /healthz or /readyz.
    assert path["path"] == "/cds-services"
    backend = {"name": service["metadata"]["name"], "port": {"name": "http"}}
    assert path["backend"]["service"] == backend

    monitor = one(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    selected = monitor["spec"]["selector"]["matchLabels"].items()
    assert selected <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "30s", "scrapeTimeout": "10s"}
    ]
    assert service["spec"]["ports"][0]["name"] == "http"


def test_readme_documents_every_value() -> None:
    """The chart README's values table lists every leaf key (regenerate it with
    scripts/chart-values-table.py)."""
    readme = (CHART_DIR / "README.md").read_text()

    def leaves(value: Any, path: str = "") -> list[str]:
        if isinstance(value, dict) and value:
            return [leaf for k, v in value.items() for leaf in leaves(v, f"{path}{k}.")]
        return [path.rstrip(".")]

    with helm.Chart.load(CHART_DIR) as chart:
        missing = [key for key in leaves(chart.values) if f"| `{key}` |" not in readme]
    assert missing == []
    for section in ("## Install", "## Upgrades", "## Scaling", "## Monitoring"):
        assert section in readme


def test_notes_render() -> None:
    notes = render(load_values(MINIMAL))["oih-cds/templates/NOTES.txt"]
    assert "https://cds.example.test/cds-services" in notes
    assert "SQLite" in notes
    assert "snoozing is off" in notes
    assert "comments (which may\nhold PHI) are kept indefinitely" in notes
    production = render(load_values(PRODUCTION))["oih-cds/templates/NOTES.txt"]
    assert "snoozing is off" not in production
    assert "kept indefinitely" not in production
