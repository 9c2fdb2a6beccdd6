"""Analysis views (HoloViews) of the pandas tables in ``arena.analysis``."""
