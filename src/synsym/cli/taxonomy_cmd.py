"""`synsym taxonomy show|validate`: look at a taxonomy and check a user's taxonomy file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from synsym.cli.app import app
from synsym.core.taxonomy import Taxonomy, builtin_taxonomies, load_taxonomy

taxonomy_app = typer.Typer(help="Show built-in taxonomies and validate your own.", no_args_is_help=True)
app.add_typer(taxonomy_app, name="taxonomy")
out = Console(soft_wrap=True)


def render_taxonomy(tax: Taxonomy) -> None:
    """Print the symptoms and label spaces of `tax` as rich tables on stdout."""
    out.print(f"[bold]{tax.name}[/] v{tax.version}: {tax.description}", highlight=False)
    out.print(f"styles: {', '.join(tax.styles) or '(none)'}", highlight=False)
    out.print("what a label means (convention): " + "; ".join(tax.convention.describe()), highlight=False)
    table = Table("#", title=f"{len(tax.symptoms)} symptoms")
    table.add_column("symptom", no_wrap=True)
    table.add_column("definition", ratio=1)
    table.add_column("seeds", justify="right")
    table.add_column("examples")
    for i, s in enumerate(tax.symptoms):
        examples = ", ".join(f"{style} {len(posts)}" for style, posts in s.examples.items()) or "-"
        table.add_row(str(i), s.name, s.definition, str(len(s.seeds)), examples)
    out.print(table)
    spaces = Table("space", "labels", "ambiguous to lift", "symptoms mapped to nothing", title="label spaces")
    spaces.columns[0].no_wrap = True
    for key, space in tax.label_spaces.items():
        mapping = " (identity)" if space.mapping == "identity" else ""
        spaces.add_row(
            key,
            f"{len(space.labels)}{mapping}",
            ", ".join(space.ambiguous_labels()) or "-",
            ", ".join(space.unmapped_symptoms()) or "-",
        )
    out.print(spaces)


@taxonomy_app.command("show")
def show(
    name: Annotated[
        str, typer.Argument(help="Built-in taxonomy name or a YAML file.", show_default=True)
    ] = "depression-14",
) -> None:
    """Show a taxonomy's symptoms, definitions, seeds, examples and label spaces."""
    render_taxonomy(load_taxonomy(name))


@taxonomy_app.command("list")
def list_builtin() -> None:
    """List the built-in taxonomies."""
    for name in builtin_taxonomies():
        out.print(name, highlight=False)


@taxonomy_app.command("validate")
def validate(file: Annotated[Path, typer.Argument(help="Taxonomy YAML file to check.")]) -> None:
    """Check a taxonomy file: prints OK, or one `path -> what is wrong` line per problem (exit 2)."""
    tax = load_taxonomy(file)  # a ConfigError/InputError reaches the CLI boundary: message, exit 2
    spaces = ", ".join(tax.label_spaces) or "no label spaces"
    out.print(f"OK: {file}: taxonomy {tax.name}, {len(tax.symptoms)} symptoms, {spaces}", highlight=False)
