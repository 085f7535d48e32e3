"""RecRanker Studio core: data, baselines, evaluation and the run directory.

Importing this package is cheap on purpose (no lenskit, torch or transformers):
the dashboard imports it on every rerun.
"""

__version__ = "0.1.0"
