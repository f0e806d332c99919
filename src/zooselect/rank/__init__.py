"""Rank a user's zoo on a user's target: ``zooselect rank``.

The same steps as the benchmark, on one target and a zoo from a zoo file
(:mod:`zooselect.userzoo`): build the target dataset with the data
registry (:func:`zooselect.data.build_dataset`), draw the selection sample
(:func:`zooselect.cache.sample_for_selection`), extract each expert's
penultimate features and source-head probabilities with its own
preprocessing into an HDF5 cache (:func:`zooselect.extraction.write_extraction`),
score every cache with the registry's methods
(:func:`zooselect.scores.compute_score`) and, on request, fine-tune the
top-ranked experts with the benchmark's loop
(:func:`zooselect.training.finetune`). Outputs, under the output folder:

- ``caches/{expert}.h5``: one cache per expert (reused by a later run with
  the same target, expert entry, sample size and seed);
- ``scores/{method}.csv``: ``expert, score, seconds``, as in the benchmark;
- ``ranking.csv`` and ``ranking.png``: the ranked table and its bar chart;
- ``finetune/{expert}.csv``: ``expert, lr, test_accuracy, seconds,
  train_loss`` for each fine-tuned expert;
- ``rank.json``: what was run (target, zoo, methods, sizes, seconds).

The ranking is ordered by the first method's score (larger is better);
``mean_rank`` averages each expert's rank under every method (unless the
method ``mean_rank`` is selected: its column, of the same name, is that
method's score).

Modules: :mod:`.target` (what ``--target`` names, checked), :mod:`.methods`
(the default methods, their check, the scoring), :mod:`.table` (the ranking
table and its text), :mod:`.run` (``rank`` itself: the steps in order).
The chart is drawn by :func:`zooselect.figures.plot_ranking`, the caches
are extracted by :mod:`zooselect.extraction` and read back by
:mod:`zooselect.cache`, and ``--device`` is resolved by
:func:`zooselect.devices.resolve_device`.
"""

from .methods import DEFAULT_METHODS, UNAVAILABLE_INPUTS, check_methods, score_caches
from .run import LOCK_FILE, RankOptions, rank
from .table import format_table, ranking_table
from .target import TargetSpec, parse_target

__all__ = [
    "DEFAULT_METHODS",
    "LOCK_FILE",
    "RankOptions",
    "TargetSpec",
    "UNAVAILABLE_INPUTS",
    "check_methods",
    "format_table",
    "parse_target",
    "rank",
    "ranking_table",
    "score_caches",
]
