"""``memcollab local serve|status|stop``: a llama.cpp server that outlives the command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from memcollab_langgraph.cli.render import console, emit_json, notes
from memcollab_langgraph.config import load_config
from memcollab_langgraph.errors import MemCollabError

__all__ = ["app"]

app = typer.Typer(help="Run local GGUF models behind an OpenAI-compatible llama.cpp server.", no_args_is_help=True)

NameOpt = Annotated[str, typer.Option("--name", help="Name of the detached server.")]


def _models(model: list[str] | None, config: Path | None) -> dict[str, str]:
    if model:
        out: dict[str, str] = {}
        for item in model:
            alias, sep, ref = item.partition("=")
            if not sep or not alias or not ref:
                raise typer.BadParameter(
                    f"--model {item!r} must look like alias=name-or-path, e.g. smollm2=smollm2-135m"
                )
            out[alias] = ref
        return out
    if config is not None:
        cfg = load_config(config)
        if cfg.local is None:
            raise typer.BadParameter(f"{config} has no [local] table with models to serve")
        return dict(cfg.local.models)
    return {"smollm2": "smollm2-135m"}


@app.command()
def serve(
    model: Annotated[
        list[str] | None,
        typer.Option(help="alias=model (repeatable); default the [local] table of --config, else SmolLM2."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Serve this configuration's [local] models.")
    ] = None,
    name: NameOpt = "default",
    port: Annotated[int | None, typer.Option(help="Port on 127.0.0.1; default a free one.")] = None,
    json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Start a detached server (it keeps running after this command) and print its address."""
    from memcollab_langgraph.local import serve_detached

    try:
        state = serve_detached(_models(model, config), name=name, port=port)
    except MemCollabError as e:
        notes.print(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(code=2) from None
    if json:
        emit_json(state.to_json())
    else:
        console.print(f"serving {', '.join(state.aliases)} at {state.base_url} (pid {state.pid}, log {state.log_path})")


@app.command()
def status(json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the detached servers that are running."""
    from memcollab_langgraph.local import list_detached

    servers = list_detached()
    if json:
        emit_json([s.to_json() for s in servers])
        return
    if not servers:
        console.print("no local server is running (start one with `memcollab local serve`)")
    for s in servers:
        console.print(f"{s.name}: {', '.join(s.aliases)} at {s.base_url} (pid {s.pid}, since {s.started_at:%H:%M:%S})")


@app.command()
def stop(name: NameOpt = "default") -> None:
    """Stop a detached server."""
    from memcollab_langgraph.local import stop_detached

    stopped = stop_detached(name) is not None
    console.print(f"stopped {name!r}" if stopped else f"no server named {name!r} was running")
