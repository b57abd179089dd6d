"""Render the recipe's startup files: winpeshl.ini, startnet.cmd, wimscript.ini.

Values are jinja2 templates over the recipe variables (StrictUndefined: a
misspelt variable is an error at the line that uses it, not an empty string).
Windows reads these files as ANSI/UTF-16 text with CRLF line ends.
"""

from __future__ import annotations

from typing import Any

import jinja2

from pebuild.errors import RecipeError
from pebuild.recipe.loader import Recipe
from pebuild.recipe.model import StartupSettings, WimscriptSettings

LAUNCH_APP_LIMIT = 250  # winpeshl.ini [LaunchApp] AppPath (MS winpeshlini reference)

_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False)


def render_text(recipe: Recipe, text: str, variables: dict[str, Any], *key: str | int) -> str:
    """Render one template value; errors carry the recipe location of `key`."""
    try:
        return _ENV.from_string(text).render(**variables)
    except jinja2.UndefinedError as exc:
        raise recipe.error(f"{'.'.join(map(str, key))}: {exc.message}", *key) from None
    except jinja2.TemplateError as exc:
        raise recipe.error(f"{'.'.join(map(str, key))}: template error: {exc}", *key) from None


def render_file_template(path: str, text: str, variables: dict[str, Any]) -> str:
    """Render a bundled template file (overlay or recipe file with template = true)."""
    try:
        return _ENV.from_string(text).render(**variables)
    except jinja2.TemplateSyntaxError as exc:
        raise RecipeError(f"template error: {exc.message}", path=path, line=exc.lineno) from None
    except jinja2.TemplateError as exc:
        raise RecipeError(f"template error: {exc}", path=path) from None


def crlf(lines: list[str]) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def winpeshl_ini(recipe: Recipe, variables: dict[str, Any]) -> bytes | None:
    """winpeshl.ini from [startup] launch_app / launch_apps; None when neither is set."""
    startup: StartupSettings = recipe.settings.startup
    lines: list[str] = []
    if startup.launch_app:
        app = render_text(recipe, startup.launch_app, variables, "startup", "launch_app")
        if len(app) > LAUNCH_APP_LIMIT:
            raise recipe.error(
                f"startup.launch_app: AppPath is {len(app)} characters after rendering; "
                f"winpeshl.ini [LaunchApp] allows at most {LAUNCH_APP_LIMIT}",
                "startup",
                "launch_app",
            )
        lines += ["[LaunchApp]", f"AppPath = {app}"]
    if startup.launch_apps:
        lines.append("[LaunchApps]")
        for i, entry in enumerate(startup.launch_apps):
            app = render_text(recipe, entry.app, variables, "startup", "launch_apps", i)
            args = render_text(recipe, entry.args, variables, "startup", "launch_apps", i)
            if "," in app:
                raise recipe.error(
                    "startup.launch_apps: a program path cannot contain ',' (winpeshl splits arguments there)",
                    "startup",
                    "launch_apps",
                    i,
                )
            lines.append(f"{app}, {args}" if args else app)
    return crlf(lines) if lines else None


def startnet_lines(recipe: Recipe, variables: dict[str, Any]) -> list[str]:
    return [
        render_text(recipe, line, variables, "startup", "startnet", i)
        for i, line in enumerate(recipe.settings.startup.startnet)
    ]


def startnet_cmd(existing: bytes | None, lines: list[str]) -> bytes:
    """startnet.cmd with `lines` appended; keeps the image's own content (wpeinit) first."""
    text = existing.decode("utf-8", errors="replace") if existing else "wpeinit\r\n"
    body = text.replace("\r\n", "\n").rstrip("\n").split("\n")
    return crlf([*body, *lines])


def wimscript_ini(settings: WimscriptSettings) -> bytes:
    """wimscript.ini as imagex /capture /config reads it (DISM WimScript.ini page)."""
    lines: list[str] = []
    for title, entries in (
        ("ExclusionList", settings.exclusion_list),
        ("ExclusionException", settings.exclusion_exception),
        ("CompressionExclusionList", settings.compression_exclusion_list),
    ):
        if entries:
            lines += [f"[{title}]", *entries, ""]
    return crlf(lines[:-1] if lines else [])
