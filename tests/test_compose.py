"""docker-compose.yml, deploy/Procfile.dev and the README agree with the services' code.

No Docker needed: the files are parsed and compared with each service's pyproject
(console scripts) and settings class (port, env variable names). Each check is a function
returning the problems it found, so the tests at the bottom can prove a check does fail.
"""

from __future__ import annotations

import copy
import importlib
import inspect
import re
import shlex
import tomllib
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from lib_settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROCFILE = ROOT / "deploy" / "Procfile.dev"
README = ROOT / "README.md"
DOCKERFILE = "deploy/Dockerfile"
INFRA = ("postgres", "rabbitmq")
# Development stand-ins run from public images, not ours: localstripe (a fake Stripe API).
STAND_INS = ("localstripe",)
LOCALSTRIPE_URL = "http://localstripe:8420"

# DESIGN.md, table "Contexts": the port of each service.
DESIGN_PORTS = {
    "identity": 8001,
    "billing": 8002,
    "market_data": 8003,
    "booking": 8004,
    "content": 8005,
}

Compose = dict[str, Any]


# --- what the code says -------------------------------------------------------------------


def service_packages() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "services").glob("*/pyproject.toml"))


SERVICES = service_packages()


@cache
def console_scripts(service: str) -> frozenset[str]:
    pyproject = tomllib.loads((ROOT / "services" / service / "pyproject.toml").read_text())
    return frozenset(pyproject.get("project", {}).get("scripts", {}))


@cache
def settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"{service}.config")
    found = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, ServiceSettings)
        and cls is not ServiceSettings
        and cls.__module__ == module.__name__
    ]
    assert len(found) == 1, f"{service}.config defines {len(found)} settings classes"
    return found[0]


def env_prefix(service: str) -> str:
    return str(settings_class(service).model_config.get("env_prefix", ""))


def env_names(service: str) -> set[str]:
    """Every env variable the service's settings read."""
    prefix = env_prefix(service)
    return {f"{prefix}{name}".upper() for name in settings_class(service).model_fields}


def owner_of(variable: str) -> str | None:
    """The service whose prefix the variable carries (longest prefix wins)."""
    owners = [s for s in SERVICES if variable.startswith(env_prefix(s))]
    return max(owners, key=lambda s: len(env_prefix(s)), default=None)


# --- reading compose ----------------------------------------------------------------------


def load_compose() -> Compose:
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


def argv(command: str | list[str] | None) -> list[str]:
    if command is None:
        return []
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def environment(spec: dict[str, Any]) -> dict[str, str]:
    env = spec.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def published_ports(spec: dict[str, Any]) -> list[tuple[int, int]]:
    """(host port, container port) pairs of `ports:`, short or long syntax."""
    pairs = []
    for entry in spec.get("ports") or []:
        if isinstance(entry, dict):
            pairs.append((int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        container = int(parts[-1])
        host = int(parts[-2]) if len(parts) >= 2 else container
        pairs.append((host, container))
    return pairs


def depends_on(spec: dict[str, Any]) -> dict[str, str | None]:
    deps = spec.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps)
    return {name: (cond or {}).get("condition") for name, cond in deps.items()}


def healthcheck_text(spec: dict[str, Any]) -> str:
    test = (spec.get("healthcheck") or {}).get("test")
    return " ".join(argv(test))


def app_services(compose: Compose) -> list[str]:
    return [name for name in compose["services"] if name not in (*INFRA, *STAND_INS)]


# --- checks -------------------------------------------------------------------------------


def check_services_present(compose: Compose) -> list[str]:
    names = compose["services"]
    return [
        f"no compose service {name!r}"
        for service in SERVICES
        for name in (f"{service}-api", f"{service}-worker")
        if name not in names
    ]


def check_api_ports(compose: Compose) -> list[str]:
    problems = []
    for service in SERVICES:
        port = settings_class(service).http_port_default
        spec = compose["services"].get(f"{service}-api", {})
        if DESIGN_PORTS.get(service) != port:
            problems.append(
                f"{service}: settings port {port}, DESIGN.md {DESIGN_PORTS.get(service)}"
            )
        if published_ports(spec) != [(port, port)]:
            problems.append(f"{service}-api publishes {spec.get('ports')}, expected {port}:{port}")
        if f":{port}/readyz" not in healthcheck_text(spec):
            problems.append(f"{service}-api healthcheck does not probe :{port}/readyz")
        env = environment(spec)
        prefix = env_prefix(service)
        if env.get(f"{prefix}HTTP_PORT", str(port)) != str(port):
            problems.append(f"{service}-api sets {prefix}HTTP_PORT={env[f'{prefix}HTTP_PORT']}")
        if env.get(f"{prefix}HTTP_HOST") != "0.0.0.0":
            problems.append(f"{service}-api must set {prefix}HTTP_HOST=0.0.0.0")
    return problems


def check_commands(compose: Compose) -> list[str]:
    problems = []
    for service in SERVICES:
        for kind in ("api", "worker"):
            name = f"{service}-{kind}"
            command = argv(compose["services"].get(name, {}).get("command"))
            if not command or command[0] != name:
                problems.append(f"{name} runs {command}, expected the console script {name}")
            elif command[0] not in console_scripts(service):
                problems.append(f"{name}: {command[0]} is not in [project.scripts] of {service}")
    return problems


def check_environment(compose: Compose) -> list[str]:
    problems = []
    for name, spec in compose["services"].items():
        if name in INFRA or name in STAND_INS:
            continue
        own = next((s for s in SERVICES if name in (f"{s}-api", f"{s}-worker")), None)
        env = environment(spec)
        for variable in env:
            service = owner_of(variable)
            if service is None:
                problems.append(f"{name}: {variable} belongs to no service's settings")
            elif variable not in env_names(service):
                problems.append(f"{name}: {variable} is not a field of {service}'s settings")
            elif own is not None and service != own:
                problems.append(f"{name}: {variable} configures {service}, not {own}")
        if own is None:
            continue
        prefix = env_prefix(own)
        db = urlsplit(env.get(f"{prefix}DATABASE_URL", ""))
        if db.hostname != "postgres" or db.username != own:
            problems.append(f"{name}: {prefix}DATABASE_URL must use role {own} at host postgres")
        if urlsplit(env.get(f"{prefix}AMQP_URL", "")).hostname != "rabbitmq":
            problems.append(f"{name}: {prefix}AMQP_URL must point at host rabbitmq")
    return problems


def check_migrate(compose: Compose) -> list[str]:
    spec = compose["services"].get("migrate")
    if spec is None:
        return ["no one-shot migrate service"]
    problems = []
    command = " ".join(argv(spec.get("command")))
    env = environment(spec)
    for service in SERVICES:
        if not re.search(rf"\b{service}\b", command):
            problems.append(f"migrate does not migrate {service}")
        if f"{env_prefix(service)}DATABASE_URL" not in env:
            problems.append(f"migrate has no {env_prefix(service)}DATABASE_URL")
    return problems


def check_start_order(compose: Compose) -> list[str]:
    problems = []
    for name in app_services(compose):
        deps = depends_on(compose["services"][name])
        for infra in INFRA:
            if deps.get(infra) != "service_healthy":
                problems.append(f"{name} does not wait for {infra} to be healthy")
        if name != "migrate" and deps.get("migrate") != "service_completed_successfully":
            problems.append(f"{name} does not wait for migrate to complete")
    for name in INFRA:
        if not healthcheck_text(compose["services"].get(name, {})):
            problems.append(f"{name} has no healthcheck")
    return problems


def check_images(compose: Compose) -> list[str]:
    problems = []
    for name in app_services(compose):
        build = compose["services"][name].get("build") or {}
        if not isinstance(build, dict) or build.get("dockerfile") != DOCKERFILE:
            problems.append(f"{name} is not built from {DOCKERFILE}")
    return problems


def check_infrastructure(compose: Compose) -> list[str]:
    problems = []
    postgres = compose["services"].get("postgres", {})
    if not str(postgres.get("image", "")).startswith("postgres:15"):
        problems.append("postgres must run postgres:15")
    if environment(postgres).get("POSTGRES_DB") != "platform":
        problems.append("postgres must create the database platform")
    mounts = [str(v) for v in postgres.get("volumes") or []]
    if not any(
        m.startswith("./deploy/postgres/init.sql:/docker-entrypoint-initdb.d/") for m in mounts
    ):
        problems.append("deploy/postgres/init.sql is not mounted into /docker-entrypoint-initdb.d")
    if "pg_isready" not in healthcheck_text(postgres):
        problems.append("postgres healthcheck must use pg_isready")
    rabbitmq = compose["services"].get("rabbitmq", {})
    if not str(rabbitmq.get("image", "")).endswith("-management"):
        problems.append("rabbitmq must use the management image")
    if "rabbitmq-diagnostics -q ping" not in healthcheck_text(rabbitmq):
        problems.append("rabbitmq healthcheck must be rabbitmq-diagnostics -q ping")
    return problems


def check_localstripe(compose: Compose) -> list[str]:
    """Billing talks to the localstripe service, which starts (and is healthy) first."""
    spec = compose["services"].get("localstripe")
    if spec is None:
        return ["no localstripe service"]
    problems = []
    command = " ".join(argv(spec.get("command")))
    port = urlsplit(LOCALSTRIPE_URL).port
    if "pip install" not in command or f"localstripe --port {port}" not in command:
        problems.append(f"localstripe must install and run localstripe --port {port}")
    webhook = "http://billing-api:8002/api/v1/webhooks/stripe"
    if "/_config/webhooks/" not in command or webhook not in command:
        problems.append("localstripe does not register billing-api's webhook endpoint")
    if not healthcheck_text(spec):
        problems.append("localstripe has no healthcheck")
    for name in ("billing-api", "billing-worker"):
        billing = compose["services"].get(name, {})
        base = environment(billing).get("BILLING_STRIPE_API_BASE")
        if base != LOCALSTRIPE_URL:
            problems.append(f"{name}: BILLING_STRIPE_API_BASE is {base}, not {LOCALSTRIPE_URL}")
        if depends_on(billing).get("localstripe") != "service_healthy":
            problems.append(f"{name} does not wait for localstripe to be healthy")
    return problems


def parse_procfile(text: str) -> dict[str, str]:
    entries: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, command = line.partition(":")
        assert sep, f"not a Procfile line: {line!r}"
        assert name.strip() not in entries, f"{name.strip()} twice in the Procfile"
        entries[name.strip()] = command.strip()
    return entries


# Development stand-ins `make dev` runs beside the services (localstripe: a fake Stripe
# API; mail-sink: logs identity's mails).
DEV_TOOLS = {
    "localstripe": ["python3", "scripts/dev_localstripe.py"],
    "mail-sink": ["uv", "run", "--frozen", "identity-mail-sink"],
}


def check_procfile(entries: dict[str, str]) -> list[str]:
    problems = []
    expected = {f"{s}-{kind}": s for s in SERVICES for kind in ("api", "worker")}
    if len(entries) != len(expected) + len(DEV_TOOLS):
        problems.append(
            f"Procfile has {len(entries)} entries, expected {len(expected) + len(DEV_TOOLS)}"
        )
    for name, command in DEV_TOOLS.items():
        if argv(entries.get(name)) != command:
            problems.append(f"Procfile {name}: {entries.get(name)}, expected {command}")
    for name, service in expected.items():
        command = argv(entries.get(name))
        if command != ["uv", "run", "--frozen", name]:
            problems.append(f"Procfile {name}: {command}, expected uv run --frozen {name}")
        elif name not in console_scripts(service):
            problems.append(f"Procfile {name} is not a console script of {service}")
    problems += [
        f"Procfile runs unknown process {n}"
        for n in entries
        if n not in expected and n not in DEV_TOOLS
    ]
    if "identity-mail-sink" not in console_scripts("identity"):
        problems.append("identity-mail-sink is not a console script of identity")
    return problems


# --- the files as they are ----------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> Compose:
    return load_compose()


def test_services_are_found() -> None:
    assert sorted(DESIGN_PORTS) == SERVICES


@pytest.mark.parametrize(
    "check",
    [
        check_services_present,
        check_api_ports,
        check_commands,
        check_environment,
        check_migrate,
        check_start_order,
        check_images,
        check_infrastructure,
        check_localstripe,
    ],
)
def test_compose(compose: Compose, check: Any) -> None:
    assert check(compose) == []


def test_dockerfile_exists() -> None:
    assert (ROOT / DOCKERFILE).is_file()


def test_procfile() -> None:
    assert check_procfile(parse_procfile(PROCFILE.read_text())) == []


def test_readme_documents_every_setting() -> None:
    readme = README.read_text()
    missing = [
        f"<SERVICE>_{name.upper()}"
        for name in ServiceSettings.model_fields
        if f"`<SERVICE>_{name.upper()}`" not in readme
    ]
    missing += [
        var for var in ("TEST_POSTGRES_URL", "TEST_AMQP_URL", "CI") if f"`{var}`" not in readme
    ]
    # A service's own settings (e.g. IDENTITY_SMTP_HOST) are listed in its section.
    missing += [
        f"{env_prefix(service)}{name}".upper()
        for service in SERVICES
        for name in settings_class(service).model_fields
        if name not in ServiceSettings.model_fields
        and f"`{env_prefix(service)}{name}`".upper() not in readme.upper()
    ]
    assert missing == []


# --- the checks do fail -------------------------------------------------------------------


def mutated(compose: Compose, service: str, **changes: Any) -> Compose:
    changed = copy.deepcopy(compose)
    changed["services"][service].update(changes)
    return changed


def test_a_wrong_port_is_caught(compose: Compose) -> None:
    changed = mutated(compose, "billing-api", ports=["8012:8002"])
    assert any("billing-api publishes" in p for p in check_api_ports(changed))


def test_an_unknown_command_is_caught(compose: Compose) -> None:
    changed = mutated(compose, "content-worker", command=["content-wrker"])
    assert check_commands(changed)


def test_an_unknown_env_variable_is_caught(compose: Compose) -> None:
    env = {**environment(compose["services"]["booking-api"]), "BOOKING_DATABSE_URL": "x"}
    changed = mutated(compose, "booking-api", environment=env)
    assert any("BOOKING_DATABSE_URL" in p for p in check_environment(changed))


def test_another_services_variable_is_caught(compose: Compose) -> None:
    env = {**environment(compose["services"]["booking-api"]), "BILLING_LOG_LEVEL": "DEBUG"}
    changed = mutated(compose, "booking-api", environment=env)
    assert check_environment(changed)


def test_a_missing_health_condition_is_caught(compose: Compose) -> None:
    changed = mutated(compose, "identity-worker", depends_on=["postgres", "rabbitmq", "migrate"])
    assert len(check_start_order(changed)) == 3


def test_a_missing_service_is_caught(compose: Compose) -> None:
    changed = copy.deepcopy(compose)
    del changed["services"]["market_data-worker"]
    assert check_services_present(changed) == ["no compose service 'market_data-worker'"]


def test_billing_pointed_elsewhere_than_localstripe_is_caught(compose: Compose) -> None:
    env = {
        **environment(compose["services"]["billing-worker"]),
        "BILLING_STRIPE_API_BASE": "http://127.0.0.1:8420",
    }
    changed = mutated(compose, "billing-worker", environment=env)
    assert any("billing-worker: BILLING_STRIPE_API_BASE" in p for p in check_localstripe(changed))
    changed = copy.deepcopy(compose)
    del changed["services"]["localstripe"]
    assert check_localstripe(changed) == ["no localstripe service"]


def test_a_procfile_without_an_entry_is_caught() -> None:
    entries = parse_procfile(PROCFILE.read_text())
    del entries["booking-worker"]
    assert check_procfile(entries)


def test_a_procfile_without_the_mail_sink_is_caught() -> None:
    entries = parse_procfile(PROCFILE.read_text())
    del entries["mail-sink"]
    assert check_procfile(entries)
