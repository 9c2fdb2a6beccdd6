"""The three walls of DESIGN.md: the engine imports no UI library, streams no trading code."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHECK = """
import importlib, pathlib, sys
root = pathlib.Path("{package}")
for f in sorted(root.rglob("*.py")):
    parts = f.with_suffix("").parts
    if parts[:2] == ("arena", "ui"):
        continue
    name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
    importlib.import_module(name)
bad = sorted({{m.split(".")[0] for m in sys.modules}} & set({forbidden!r}))
print(",".join(bad))
"""


def imported(package: str, forbidden: tuple[str, ...]) -> str:
    code = CHECK.format(package=package, forbidden=forbidden)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    return out.stdout.strip()


def test_engine_never_imports_panel_bokeh_or_holoviews():
    assert imported("arena", ("panel", "bokeh", "holoviews")) == ""


def test_streams_knows_nothing_of_trading_or_views():
    assert imported("streams", ("arena", "panel", "bokeh", "holoviews")) == ""


def test_components_show_outside_text_through_one_rule():
    """arena/ui/safe.py: the one widget whose browser side renders option labels as
    HTML (MultiChoice, Choices.js) is used only through safe.MultiChoice, which
    escapes them; every module that builds HTML escapes with safe.text."""
    offenders = []
    for f in sorted((ROOT / "arena" / "ui").rglob("*.py")):
        source = f.read_text()
        if f.name != "safe.py" and "widgets.MultiChoice" in source:
            offenders.append(f"{f.name}: pn.widgets.MultiChoice (use arena.ui.safe.MultiChoice)")
        if f.name != "safe.py" and "html.escape" in source:
            offenders.append(f"{f.name}: html.escape (use arena.ui.safe.text)")
    assert offenders == []
