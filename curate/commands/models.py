"""`curate models`: the offline model registry."""

import click


@click.command()
@click.option("--prepare", is_flag=True,
              help="Convert/cache every registry model now (SmolLM2 GGUF → fp32 safetensors).")
def models(prepare: bool) -> None:
    """List the offline models (registry names usable wherever --model is taken)."""
    from curate.models import describe_models, resolve_model_path

    for row in describe_models():
        if prepare and row["installed"]:
            resolve_model_path(row["name"])
            row["ready"] = True
        if row["ready"]:
            state = "ready"
        else:
            state = "installed, converts on first use" if row["installed"] else "not installed"
        click.echo(f"{row['name']:14s} {row['kind']:13s} {state:34s} {row['description']} [{row['licence']}]")
