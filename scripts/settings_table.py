"""Print the README's configuration tables from the fields (and descriptions) of the settings.

    uv run python scripts/settings_table.py            # the shared ServiceSettings
    uv run python scripts/settings_table.py identity   # identity's own settings

Every service reads the shared ones with its own prefix (IDENTITY_, BILLING_, MARKET_DATA_,
BOOKING_, CONTENT_). tests/test_compose.py fails when the README misses a field.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys

from pydantic import SecretStr

from lib_settings import ServiceSettings


def default(value: object) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None or value == "":
        return "(empty)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return json.dumps(value)
    return str(value)


def service_settings_class(service: str) -> type[ServiceSettings]:
    module = importlib.import_module(f"{service}.config")
    found = [
        cls
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, ServiceSettings) and cls.__module__ == module.__name__
    ]
    if len(found) != 1:
        raise SystemExit(f"{service}.config defines {len(found)} settings classes")
    return found[0]


def own_fields(settings: type[ServiceSettings]) -> list[str]:
    """The fields a service adds to the shared ones."""
    return [n for n in settings.model_fields if n not in ServiceSettings.model_fields]


def rows(settings: type[ServiceSettings] = ServiceSettings) -> list[str]:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    if settings is ServiceSettings:
        names, prefix = list(ServiceSettings.model_fields), "<SERVICE>_"
    else:
        names, prefix = own_fields(settings), str(settings.model_config.get("env_prefix", ""))
    for name in names:
        field = settings.model_fields[name]
        meaning = field.description or ""
        lines.append(f"| `{prefix}{name.upper()}` | `{default(field.default)}` | {meaning} |")
    return lines


if __name__ == "__main__":
    settings = service_settings_class(sys.argv[1]) if len(sys.argv) > 1 else ServiceSettings
    missing = sorted(n for n, f in settings.model_fields.items() if not f.description)
    if missing:
        print(f"no meaning for: {', '.join(missing)}", file=sys.stderr)
    print("\n".join(rows(settings)))
