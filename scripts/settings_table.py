"""Print the README's configuration table from the fields (and descriptions) of ServiceSettings.

    uv run python scripts/settings_table.py

Every service reads these with its own prefix (IDENTITY_, BILLING_, MARKET_DATA_, BOOKING_,
CONTENT_). tests/test_compose.py fails when the README misses a field.
"""

from __future__ import annotations

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


def rows() -> list[str]:
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for name, field in ServiceSettings.model_fields.items():
        meaning = field.description or ""
        lines.append(f"| `<SERVICE>_{name.upper()}` | `{default(field.default)}` | {meaning} |")
    return lines


if __name__ == "__main__":
    missing = sorted(n for n, f in ServiceSettings.model_fields.items() if not f.description)
    if missing:
        print(f"no meaning for: {', '.join(missing)}", file=sys.stderr)
    print("\n".join(rows()))
