"""Analysis of a run beyond the leaderboard: risk statistics (``risk``) and pandas
tables (``tables``, ``trades``, ``exposure``; every statistic of every agent:
``summary``); across many runs, tournament and sweep statistics
(``significance``: bootstrap CIs, P(beats), rank stability, deflated Sharpe).
Import the submodules directly."""
