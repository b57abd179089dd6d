"""Jinja2 templates of the PXE outputs (dnsmasq.conf, boot.ipxe, nginx and tftpd-hpa snippets)."""

from __future__ import annotations

from functools import cache
from typing import Any


@cache
def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("pebuild.pxe", "templates"),
        autoescape=False,  # config files and scripts, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )


def render(name: str, **context: Any) -> str:
    return str(_environment().get_template(name).render(**context))
