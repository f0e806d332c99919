"""The leave-one-target-out choice of a method, its tables, its figure and its recommendation."""

import _bootstrap  # noqa: F401  (makes the zooselect library importable)

from dataclasses import asdict

import pandas as pd

from zooselect.figures import plot_method_choice
from zooselect.io import write_csv, write_json
from zooselect.method_choice import ALL_REGIMES, leave_one_target_out, recommend
from zooselect.runtime import start_job

log = start_job(snakemake)
summary = pd.read_csv(snakemake.input.summary)
folds, methods = leave_one_target_out(summary)
write_csv(snakemake.output.folds, folds)
write_csv(snakemake.output.methods, methods)
zoo = snakemake.params.zoo
recommendation = recommend(folds, methods, zoo, ALL_REGIMES)
write_json(snakemake.output.recommendation, asdict(recommendation))
plot_method_choice(methods, folds, snakemake.output.figure, zoo, ALL_REGIMES)
log.info("recommendation for zoo %s: %s (%s)", zoo, recommendation.method, recommendation.reason)
log.info("methods, all regimes:\n%s", methods[(methods.zoo == zoo) & (methods.regime == ALL_REGIMES)].to_string(index=False))
