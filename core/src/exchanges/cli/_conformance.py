"""``conformance ID``: run the conformance suite of an installed exchange and report each TC id."""

from __future__ import annotations

import click

from ._common import emit_json, json_option, state


@click.command("conformance")
@click.argument("exchange_id")
@json_option
@click.option("--verbose", "-v", is_flag=True, help="Also show pytest's own output.")
def conformance_command(exchange_id: str, as_json: bool, verbose: bool) -> None:
    """Run the conformance suite for EXCHANGE_ID; exit 1 if any TC id fails.

    The plugin's own suite (with its recorded cases) runs when its descriptor
    names one; otherwise the generic suite runs and case-driven groups skip.
    """
    from ..testing.runner import run_conformance

    state().host.descriptor(exchange_id)  # unknown ids fail here with the usual message
    outcomes = run_conformance(exchange_id, quiet=not verbose)
    if as_json:
        emit_json([{"id": o.tc_id, "outcome": o.outcome, "detail": o.detail} for o in outcomes])
    else:
        colours = {"passed": "green", "failed": "red", "skipped": "yellow"}
        for o in outcomes:
            line = f"{o.tc_id:9} {o.outcome:8} {o.detail}".rstrip()
            click.secho(line, fg=colours.get(o.outcome))
        counts = {k: sum(o.outcome == k for o in outcomes) for k in ("passed", "failed", "skipped")}
        click.echo(f"{exchange_id}: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
    if any(o.outcome == "failed" for o in outcomes):
        raise click.exceptions.Exit(1)
