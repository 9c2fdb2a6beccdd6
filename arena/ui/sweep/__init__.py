"""Views of a sweep's results (HoloViews) and the served sweep page (Panel).

* :func:`heatmap`: a metric over two parameters (the others averaged, or sliders);
* :func:`scatter` and :func:`parallel_coordinates`: more than two parameters;
* :func:`ranking_plot`: the tournament ranking with bootstrap error bars;
* :func:`walk_forward_plot`: the stitched out-of-sample equity of a walk-forward run;
* :class:`SweepView`: a results folder live (progress, heatmap, ranking, downloads),
  the ``/sweep`` page of ``arena serve --sweep DIR``.

The numbers come from :mod:`arena.ui.sweep.table` (pandas), described in docs/sweeps.md.
"""

from arena.ui.sweep.heatmap import heatmap
from arena.ui.sweep.page import SweepView
from arena.ui.sweep.ranking import ranked, ranking_plot
from arena.ui.sweep.scatter import parallel_coordinates, scatter
from arena.ui.sweep.walkforward import walk_forward_plot

__all__ = ["SweepView", "heatmap", "parallel_coordinates", "ranked", "ranking_plot", "scatter",
           "walk_forward_plot"]
