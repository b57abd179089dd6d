"""Answer files from jinja2 templates: the WDS client unattend.xml and the install image's files.

* ``wds_client`` — windowsPE pass for Windows Setup in WDS client mode
  (``setup.exe /wds /wdsdiscover /unattend:X:\\WDSClientUnattend.xml``): language,
  disk wipe and partitions, the install image by name, WDS credentials.
* ``image`` — unattend.xml for the installed image (specialize + oobeSystem);
  WDS substitutes ``%MACHINENAME%`` and ``%MACHINEDOMAIN%`` per client.
* ``sysprep`` — sysprep.inf for XP/2003-era images with the same variables.

Every rendered file is parsed before it is written (xml.dom.minidom for XML,
the INF parser for sysprep.inf), so a template or value that breaks the syntax
is an error at build time, not a failed deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from xml.dom import minidom
from xml.parsers.expat import ExpatError

import jinja2

from pebuild.errors import RecipeError
from pebuild.servicing.drivers import parse_inf

#: recipe arch -> processorArchitecture attribute of unattend components
UNATTEND_CPU = {"x86": "x86", "amd64": "amd64", "arm64": "arm64", "ia64": "ia64"}

KINDS: dict[str, tuple[str, str]] = {
    # kind -> (bundled template, default image path)
    "wds_client": ("wds_client_unattend.xml.j2", "WDSClientUnattend.xml"),
    "image": ("image_unattend.xml.j2", "Deploy/ImageUnattend.xml"),
    "sysprep": ("sysprep.inf.j2", "Deploy/sysprep.inf"),
}


@dataclass
class Partition:
    type: str = "Primary"
    size: int | None = None  # MB; None = extend over the rest of the disk
    format: str = "NTFS"
    label: str = ""
    letter: str = ""
    active: bool = False


@dataclass
class Credentials:
    domain: str
    username: str
    password: str


@dataclass
class UnattendSpec:
    """One answer file to write: which kind, where in the image, and its settings."""

    kind: str
    path: str
    template: Path | None = None  # user template instead of the bundled one
    settings: dict[str, Any] = field(default_factory=dict)
    location: str | None = None  # recipe file:line of the table, for errors found at render time


def _environment(loader: jinja2.BaseLoader, autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=loader,
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def render_value(text: str, variables: Mapping[str, Any]) -> str:
    """Recipe strings may use {{ variables }} (e.g. a password from the recipe's [variables])."""
    if "{{" not in text and "{%" not in text:
        return text
    env = _environment(jinja2.BaseLoader(), autoescape=False)
    try:
        return env.from_string(text).render(**variables)
    except jinja2.TemplateError as exc:
        raise RecipeError(f"template error in {text!r}: {exc}") from None


def _render_settings(value: Any, variables: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return render_value(value, variables)
    if isinstance(value, list):
        return [_render_settings(v, variables) for v in value]
    if isinstance(value, dict):
        return {k: _render_settings(v, variables) for k, v in value.items()}
    return value


def render_unattend(spec: UnattendSpec, *, arch: str, variables: Mapping[str, Any]) -> bytes:
    """Render and check one answer file; returns UTF-8 XML or ANSI sysprep.inf bytes."""
    template_name, _ = KINDS[spec.kind]
    is_xml = spec.kind != "sysprep"
    if spec.template is not None:
        loader: jinja2.BaseLoader = jinja2.FileSystemLoader(str(spec.template.parent))
        template_name = spec.template.name
    else:
        loader = jinja2.PackageLoader("pebuild.servicing", "templates")
    env = _environment(loader, autoescape=is_xml)
    settings = _render_settings(spec.settings, variables)
    if not is_xml:
        _check_inf_values(settings, spec)
    try:
        text = env.get_template(template_name).render(s=settings, vars=variables, cpu=UNATTEND_CPU[arch])
    except jinja2.TemplateError as exc:
        raise RecipeError(f"unattend.{spec.kind}: template {template_name}: {exc}") from None
    if is_xml:
        data = text.encode("utf-8")
        check_xml(data, f"unattend.{spec.kind} ({spec.path})")
        return data
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode("cp1252", errors="strict")
    check_sysprep_inf(data, f"unattend.{spec.kind} ({spec.path})")
    return data


def check_xml(data: bytes, what: str) -> None:
    try:
        doc = minidom.parseString(data)
    except ExpatError as exc:
        raise RecipeError(f"{what}: rendered file is not well-formed XML: {exc}") from None
    root = doc.documentElement
    if root.tagName != "unattend" or root.getAttribute("xmlns") != "urn:schemas-microsoft-com:unattend":
        raise RecipeError(
            f'{what}: root element must be <unattend xmlns="urn:schemas-microsoft-com:unattend">'
        )


def check_sysprep_inf(data: bytes, what: str) -> None:
    inf = parse_inf(data, Path(what))
    for section in ("unattended", "userdata"):
        if inf.section(section) is None:
            raise RecipeError(f"{what}: rendered sysprep.inf lacks [{section.title()}]")


def _check_inf_values(settings: Mapping[str, Any], spec: UnattendSpec) -> None:
    for key, value in settings.items():
        if isinstance(value, Mapping):
            _check_inf_values(value, spec)
        elif isinstance(value, str) and any(c in value for c in '\r\n"'):
            where = f"{spec.location}: " if spec.location else ""
            raise RecipeError(
                f"{where}unattend.{spec.kind}.{key}: sysprep.inf values cannot hold quotes or newlines "
                "(after the recipe variables are filled in)"
            )


def bundled_template(kind: str) -> str:
    """The text of a bundled template (docs and `--help` show it)."""
    name, _ = KINDS[kind]
    return resources.files("pebuild.servicing").joinpath("templates", name).read_text(encoding="utf-8")
