"""``zooselect rank``'s ranking table: one row per expert, best first, and its text for the terminal.

Drawing it is :func:`zooselect.figures.plot_ranking`'s job.
"""

from __future__ import annotations

import math
from typing import Any


def ranking_table(
    rows_by_method: dict[str, list[dict[str, Any]]], labels: dict[str, str]
) -> "pd.DataFrame":  # noqa: F821
    """One row per expert, best first by the first method; each method's score and ``mean_rank``
    (the average rank over the methods, which breaks ties; left out when the method ``mean_rank``
    is one of them, its own column having that name)."""
    import pandas as pd

    methods = list(rows_by_method)
    table = pd.DataFrame({"expert": list(labels)})
    table["origin"] = [labels[e] for e in table["expert"]]
    for name in methods:
        scores = {row["expert"]: row["score"] for row in rows_by_method[name]}
        table[name] = [scores[e] for e in table["expert"]]
    ranks = table[methods].rank(ascending=False, method="average", na_option="bottom")
    table["_average_rank"] = ranks.mean(axis=1)
    table = table.sort_values([methods[0], "_average_rank"], ascending=[False, True], na_position="last", kind="stable")
    # The method mean_rank has its own column of that name: the average then only breaks ties.
    average = table.pop("_average_rank")
    if "mean_rank" not in methods:
        table["mean_rank"] = average
    table.insert(0, "rank", range(1, len(table) + 1))
    return table.reset_index(drop=True)


def format_table(table: "pd.DataFrame") -> str:  # noqa: F821
    """The table as aligned text, scores with 4 significant digits ("-" where an expert was not fine-tuned)."""

    def cell(value: Any, column: str) -> str:
        if isinstance(value, float):
            if math.isnan(value):
                return "-" if column == "finetune_accuracy" else "nan"
            return f"{value:.4g}"
        return str(value)

    columns = list(table.columns)
    cells = [[cell(v, c) for v, c in zip(row, columns)] for row in table.itertuples(index=False)]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    left = {"expert", "origin"}

    def line(values: list[str]) -> str:
        return "  ".join(v.ljust(w) if c in left else v.rjust(w) for v, w, c in zip(values, widths, columns)).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])
