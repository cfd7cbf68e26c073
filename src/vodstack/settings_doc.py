"""The configuration reference, written from ``Settings`` itself so that it cannot drift:
each setting's environment variable, default and description.

    python -m vodstack.settings_doc            # writes docs/configuration-reference.md
    python -m vodstack.settings_doc --check    # exits 1 when that file is not in step
"""

from __future__ import annotations

import argparse
import sys
import typing
from enum import Enum
from pathlib import Path

from pydantic import AliasChoices
from pydantic.fields import FieldInfo

from vodstack.settings import Settings

REFERENCE = Path("docs/configuration-reference.md")
COMMAND = "python -m vodstack.settings_doc"

_HEADER = f"""# Configuration reference

<!-- Written by `{COMMAND}` from src/vodstack/settings.py: edit the settings'
descriptions there and run it again, never this file. -->

Every setting is an environment variable (or a line of `.env` in the working directory).
Which ones matter for which deployment, and why, is in [configuration](configuration.md).

| variable | default | meaning |
|---|---|---|
"""


def env_names(name: str, field: FieldInfo) -> list[str]:
    """The variables a field is read from: its alias choices, or the prefixed name."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    if isinstance(alias, str):
        return [alias]
    prefix = str(Settings.model_config.get("env_prefix", ""))
    return [f"{prefix}{name}".upper()]


def shown_default(field: FieldInfo) -> str:
    """The default as a person reads it: a field may say it in words (``shown_default``),
    where the value is computed or a bare number would say little."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "shown_default" in extra:
        return str(extra["shown_default"])
    value = field.default
    if value is None or value == "":
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, list):
        return f"`{','.join(str(item) for item in value)}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return f"`{value}`"


def choices(field: FieldInfo) -> list[str]:
    """The values a ``Literal`` field takes (an optional one's too)."""
    annotation = field.annotation
    if typing.get_origin(annotation) is not typing.Literal:
        return []
    return [str(value) for value in typing.get_args(annotation)]


def row(name: str, field: FieldInfo) -> str:
    variables = " or ".join(f"`{env}`" for env in env_names(name, field))
    meaning = field.description or ""
    values = choices(field)
    if values:
        listed = ", ".join(f"`{value}`" for value in values)
        meaning = f"{meaning} (one of {listed})" if meaning else f"one of {listed}"
    cells = [variables, shown_default(field), meaning]
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def undescribed() -> list[str]:
    """Settings that the reference could not explain: each needs a description."""
    return [name for name, field in Settings.model_fields.items() if not field.description]


def render() -> str:
    rows = [row(name, field) for name, field in Settings.model_fields.items()]
    return _HEADER + "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("path", nargs="?", type=Path, default=REFERENCE)
    parser.add_argument("--check", action="store_true", help="only say whether it is in step")
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.path.read_text() if args.path.is_file() else ""
        if current != text:
            print(f"{args.path} is not in step with the settings: run {COMMAND}")
            return 1
        return 0
    args.path.write_text(text)
    print(f"wrote {args.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
