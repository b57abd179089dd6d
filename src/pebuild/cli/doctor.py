"""`pebuild doctor`: a thin verb over pebuild.doctor."""

from __future__ import annotations

import click

from pebuild.cli._common import emit_json

EPILOG = """\b
Examples:
  pebuild doctor                          what works, what is missing, the Debian package of each
  pebuild doctor --json                   the same for scripts (exit 6 when `pebuild make` cannot run)
  apt-get install --no-install-recommends $(pebuild doctor --apt)   every package pebuild uses

Exit 0 when everything every `pebuild make` needs is present (libwim, the Python
packages), even if tools for other verbs are missing; 6 otherwise.
"""


@click.command(epilog=EPILOG)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--apt", is_flag=True, help="Print only the Debian package names, for apt-get install.")
def doctor(as_json: bool, apt: bool) -> None:
    """Check every system tool pebuild can use and name the Debian package of what is missing."""
    from pebuild.doctor import debian_packages, run_doctor
    from pebuild.errors import ToolError

    if apt:
        click.echo(" ".join(debian_packages()))
        return
    report = run_doctor()
    if as_json:
        emit_json(report.to_json())
    else:
        _print_table(report)
    if not report.ok:
        names = ", ".join(f"{r.check.name} ({r.hint()})" for r in report.missing_core)
        raise ToolError(f"pebuild make cannot run: missing {names}")


def _verbs(verbs: tuple[str, ...], shown: int = 4) -> str:
    if not verbs:
        return "-"
    more = f" +{len(verbs) - shown}" if len(verbs) > shown else ""
    return ", ".join(verbs[:shown]) + more


def _print_table(report) -> None:  # type: ignore[no-untyped-def]
    click.echo(f"pebuild {report.version}, Python {report.python}")
    rows = [("", "NAME", "DEBIAN PACKAGE", "NEEDED BY", "FOUND")]
    for r in report.results:
        c = r.check
        rows.append(
            (
                "ok" if r.ok else "MISSING",
                c.name,
                c.package or "(pip)",
                _verbs(c.verbs),
                r.finding.detail,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        click.echo("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:4])) + "  " + row[4])
    missing = report.missing
    if missing:
        click.echo("")
        for r in missing:
            tag = "needed by every `pebuild make`" if r.check.core else (r.check.purpose or "optional")
            click.echo(f"missing {r.check.name}: {tag}; install: {r.hint()}")
    unlisted = sorted({r.check.package for r in missing if r.check.package and not r.listed})
    if unlisted:
        click.echo(
            f"not in pebuild's package list (install them only if you need them): {', '.join(unlisted)}"
        )
    click.echo(
        "every Debian package pebuild uses: apt-get install --no-install-recommends $(pebuild doctor --apt)"
    )
    if report.ok:
        extra = f" ({len(missing)} tool(s) for other verbs missing)" if missing else ""
        click.echo(f"verdict: ok, everything `pebuild make` needs is present{extra}")
