"""Analysis of a run beyond the leaderboard: risk statistics (``risk``) and pandas
tables (``tables``, ``trades``). Import the submodules directly."""
