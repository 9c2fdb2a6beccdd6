"""Panel components for the arena: the only package that imports panel or bokeh.

Components are ``pn.viewable.Viewer`` classes fed by a :class:`SessionFeed`
(one per browser session or notebook), which pulls new rows from the shared
competition's streams.
"""

from arena.ui.feed import SessionFeed
from arena.ui.hub import Hub, shared_hub

__all__ = ["Hub", "SessionFeed", "shared_hub"]
