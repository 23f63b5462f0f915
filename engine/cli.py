"""The `specbridge` command line (also `python -m engine`). Contract: docs/cli.md.

Every failure prints one clear line per problem to stderr and exits 1; a traceback is a bug.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from . import find_specs, load_spec
from .errors import SpecbridgeError, SpecError, SpecErrors
from .settings import read_settings_file

F = TypeVar("F", bound=Callable[..., Any])
DEFAULT_STORE = "sqlite:///specbridge.db"


def store_url(url: str | None) -> str:
    return url or os.environ.get("SPECBRIDGE_STORE") or DEFAULT_STORE


def friendly(fn: F, hints: Callable[[ImportError], str | None] | None = None) -> F:
    """Turn our errors into `error: ...` on stderr and exit 1, never a traceback.

    `hints` may turn a missing optional package into a one-line install hint.
    """
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SpecErrors as exc:
            for error in exc:
                click.echo(error.render(), err=True)
            sys.exit(1)
        except SpecbridgeError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except ImportError as exc:
            hint = hints(exc) if hints is not None else None
            if hint is None:
                raise
            click.echo(f"error: {hint}", err=True)
            sys.exit(1)
    return wrapper  # type: ignore[return-value]


# Subcommands in their own modules, imported when used: `validate` should not pay for the demo's
# simulators or the workers (about 100 ms together). A broken module still fails loudly, as soon
# as its command (or the list of commands, for --help) is asked for.
# The demo names ERPs, so it lives in simulators/. Celery workers live in workers/ (the scale
# extra); Celery itself is imported only when `worker` or `enqueue` runs.
LAZY_COMMANDS = {"store": "engine.store.cli:store", "new": "engine.scaffold:new", "demo": "simulators.demo:demo",
                 "worker": "workers.cli:worker", "enqueue": "workers.cli:enqueue"}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})  # a loaded one is in both

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            module, _, attr = LAZY_COMMANDS[cmd_name].partition(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="specbridge")
def cli() -> None:
    """specbridge: ERP connectors as YAML specs."""


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path())
def validate(paths: tuple[str, ...]) -> None:
    """Load, validate and compile specs (default: mappings/). Prints FILE:LINE:COL: message."""
    specs = find_specs(list(paths) or ["mappings"])
    failed = 0
    for path in specs:
        try:
            load_spec(path)
        except SpecErrors as exc:
            failed += 1
            for error in exc:
                click.echo(error.render())
        except SpecError as exc:
            failed += 1
            click.echo(exc.render())
    click.echo(f"{len(specs) - failed} valid, {failed} invalid", err=True)
    sys.exit(1 if failed else 0)


def _read_input(path: str) -> bytes:
    """The input file's bytes, untouched: line endings and encoding are the flow's business."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise SpecbridgeError(f"cannot read input {path}: {exc}") from None


def _settings(path: str | None) -> dict[str, Any]:
    return read_settings_file(path) if path else {}


def _open_store(url: str | None, must_exist: bool = False) -> Any:
    from .store import open_store
    url = store_url(url)
    if must_exist and url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return None  # preview never creates a database file
    return open_store(url)


@cli.command()
@click.argument("spec", type=click.Path())
@click.option("--input", "input_path", required=True, type=click.Path(), help="The record: JSON, or XML.")
@click.option("--settings", "settings_path", type=click.Path(), help="YAML or JSON {Name: value}.")
@click.option("--store", "store", help="Store URL to read lookups from (never written).")
@click.option("--user", help="The App4Sales user name.")
@click.option("--tenant", default="default", show_default=True)
@click.option("--explain", is_flag=True, help="Also show which rule produced each field.")
@friendly
def preview(spec: str, input_path: str, settings_path: str | None, store: str | None, user: str | None,
            tenant: str, explain: bool) -> None:
    """Show what a run would send. No network, no writes; secrets redacted."""
    plan = load_spec(spec)
    opened = _open_store(store, must_exist=True)
    try:
        result = plan.preview(_read_input(input_path), settings=_settings(settings_path), store=opened,
                              user=user, tenant=tenant, explain=explain)
    finally:
        if opened is not None:
            opened.close()
    click.echo(json.dumps(result.as_dict(), indent=2, ensure_ascii=False, default=str))


@cli.command()
@click.argument("spec", type=click.Path())
@click.option("--input", "input_path", required=True, type=click.Path())
@click.option("--settings", "settings_path", required=True, type=click.Path())
@click.option("--store", "store")
@click.option("--user")
@click.option("--tenant", default="default", show_default=True)
@click.option("--run-key", help="Resume or repeat-proof this run under an explicit key.")
@click.option("--again", is_flag=True, help="Run anew even if the same record already went through.")
@friendly
def run(spec: str, input_path: str, settings_path: str, store: str | None, user: str | None, tenant: str,
        run_key: str | None, again: bool) -> None:
    """Run a flow for real and print its result message.

    Sending the same record to the same flow again resumes an interrupted run, or does nothing
    if it completed, so a retried command never creates a customer twice; --again overrides that.
    """
    import uuid
    plan = load_spec(spec)
    opened = _open_store(store)
    try:
        with _progress() as progress:
            result = plan.run(_read_input(input_path), settings=_settings(settings_path), store=opened,
                              user=user, tenant=tenant, progress=progress,
                              run_key=uuid.uuid4().hex if again else run_key)
    finally:
        opened.close()
    if result.replayed:
        click.echo("note: this record already went through this flow; nothing was sent again "
                   "(use --again to run it anew)", err=True)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(result.message)
    if result.counts is not None:
        counts = {k: v for k, v in result.counts.items() if k != "rejections"}
        click.echo(json.dumps(counts), err=True)
        for rejection in result.counts.get("rejections", []):
            click.echo(f"rejected {rejection['record']}: {rejection['reason']}", err=True)


@cli.command()
@click.argument("spec", type=click.Path())
@click.option("--settings", "settings_path", required=True, type=click.Path())
@click.option("--store", "store")
@click.option("--user", help="The user for letters that do not say whose run they were.")
@click.option("--tenant", default="default", show_default=True,
              help="Replay this tenant's letters only (the settings are this tenant's).")
@friendly
def replay(spec: str, settings_path: str, store: str | None, user: str | None, tenant: str) -> None:
    """Run the flow's dead letters again (records whose run failed), each under its own run key.

    A run that had got partway resumes from its journal, so nothing is created twice; a letter
    whose run now succeeds is removed. Each letter runs as the user its run had.
    """
    plan = load_spec(spec)
    opened = _open_store(store)
    ok = failed = 0
    try:
        letters = opened.dead_letters(plan.name, tenant=tenant)
        seen: set[str] = set()
        for letter in letters:
            if letter.run_key in seen:
                continue  # one run failed several times: replay it once
            seen.add(letter.run_key)
            record = letter.record.encode("utf-8", "surrogateescape") if isinstance(letter.record, str) else letter.record
            try:
                result = plan.run(record, settings=_settings(settings_path), store=opened, user=letter.user or user,
                                  tenant=tenant, run_key=letter.run_key)
            except SpecbridgeError as exc:
                failed += 1
                click.echo(f"still failing {letter.run_key}: {exc}", err=True)
                continue
            ok += 1
            for same in letters:
                if same.run_key == letter.run_key:
                    opened.remove_dead_letter(same.id)
            click.echo(f"replayed {letter.run_key}: {result.message}")
    finally:
        opened.close()
    click.echo(f"{ok} replayed, {failed} still failing")
    sys.exit(1 if failed else 0)


@contextmanager
def _progress() -> Iterator[Callable[[int], None]]:
    """Records read so far: a rich progress bar on a terminal, a plain line per 10,000 otherwise."""
    if sys.stderr.isatty():
        from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
        with Progress(SpinnerColumn(), TextColumn("{task.completed:,} records read"), TimeElapsedColumn(),
                      transient=True) as bar:
            task = bar.add_task("read", total=None)
            yield lambda n: bar.update(task, completed=n)
        return
    last = [0]

    def log(n: int) -> None:
        if n // 10_000 > last[0] // 10_000:
            click.echo(f"{n} records read", err=True)
        last[0] = n
    yield log


@cli.command("test")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-v", "--verbose", is_flag=True, help="List passing fixtures too.")
def test_cmd(paths: tuple[str, ...], verbose: bool) -> None:
    """Run every spec's `tests:` fixtures. Closes with 'N passed, N failed'."""
    from .fixtures import run_fixtures
    passed = failed = 0
    for path in find_specs(list(paths) or ["mappings"]):
        try:
            plan = load_spec(path)
        except SpecError as exc:
            failed += 1
            click.echo(exc.render())
            continue
        for outcome in run_fixtures(plan):
            if outcome.passed:
                passed += 1
                if verbose:
                    click.echo(f"PASS {path}: {outcome.name}")
            else:
                failed += 1
                click.echo(f"FAIL {path}: {outcome.name}")
                for problem in outcome.problems:
                    click.echo(f"    {problem}")
    click.echo(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


@cli.command()
@click.argument("specs", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["markdown", "html"]), default="markdown", show_default=True)
@click.option("--all", "all_", is_flag=True, help="Write docs for every spec under mappings/ into docs/connectors/.")
@friendly
def docs(specs: tuple[str, ...], fmt: str, all_: bool) -> None:
    """Mapping tables generated from specs, so docs never drift."""
    from .docs import render_docs, write_all
    if all_:
        for written in write_all(Path("mappings"), Path("docs/connectors"), fmt):
            click.echo(str(written))
        return
    if not specs:
        raise SpecbridgeError("name a spec, or use --all")
    for spec in specs:
        click.echo(render_docs(load_spec(spec), fmt))


def main() -> None:
    cli(prog_name="specbridge")


if __name__ == "__main__":
    main()
