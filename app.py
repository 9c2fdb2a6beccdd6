"""`panel serve app.py`: the Trading Arena dashboard (one shared competition)."""

from arena.ui.app import ArenaApp

ArenaApp().serve_doc()
