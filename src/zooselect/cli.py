"""The ``zooselect`` command.

``zooselect rank --target SPEC --zoo zoo.yaml --out DIR`` ranks a zoo of
pre-trained models on a dataset (see :mod:`zooselect.rank`);
``zooselect methods`` lists the model-selection methods. Bad input stops
with one line, ``zooselect: error: ...``, naming the culprit (``--debug``
shows the traceback as well).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence

EXIT_BAD_INPUT = 1


def _int_at_least(minimum: int, expected: str):
    """An argparse type: an integer of at least ``minimum``, else 'expected {expected}, got ...'."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_count = _int_at_least(0, "an integer >= 0")


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected comma-separated names, e.g. lfc,logme,leep")
    return names


def _rates(text: str) -> list[float]:
    try:
        rates = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated learning rates, got {text!r}") from None
    if not rates or min(rates) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive learning rates, got {text!r}")
    return rates


def build_parser() -> argparse.ArgumentParser:
    from .rank import DEFAULT_METHODS, RankOptions

    defaults = RankOptions()
    parser = argparse.ArgumentParser(
        prog="zooselect",
        description="Which pre-trained model should I fine-tune on my task, without fine-tuning them all?",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    rank = commands.add_parser(
        "rank",
        help="rank a zoo of pre-trained models on a target dataset",
        description="Extract each expert's features on the target, score them with model-selection "
        "methods, print the ranking and write it (ranking.csv, ranking.png) under --out.",
    )
    rank.add_argument(
        "--target", required=True, metavar="SPEC",
        help="the target dataset: a YAML file (kind, options[, name]), imagefolder:PATH, csv:PATH, "
        "torchvision:NAME, url:URL#sha256=HEX, or an image folder",
    )  # fmt: skip
    rank.add_argument("--zoo", required=True, metavar="ZOO.yaml", help="the zoo file: experts by name (see README)")
    rank.add_argument("--out", required=True, metavar="DIR", help="output folder (caches are reused from it)")
    rank.add_argument(
        "--methods", type=_names, default=list(DEFAULT_METHODS), metavar="M1,M2,...",
        help=f"methods to score with; the first orders the ranking (default: {','.join(DEFAULT_METHODS)})",
    )  # fmt: skip
    rank.add_argument(
        "--finetune-top", type=_count, default=0, metavar="K",
        help="fine-tune the K top-ranked experts and report their test accuracies (default: 0)",
    )  # fmt: skip
    rank.add_argument("--finetune-epochs", type=_positive_int, default=defaults.finetune_epochs, metavar="N",
                      help=f"fine-tuning epochs (default: {defaults.finetune_epochs})")  # fmt: skip
    rank.add_argument("--finetune-lrs", type=_rates, default=list(defaults.finetune_lrs), metavar="LR1,LR2",
                      help="fine-tuning learning rates; the best test accuracy is reported (default: 0.01)")  # fmt: skip
    rank.add_argument("--batch-size", type=_positive_int, default=defaults.batch_size, metavar="N",
                      help=f"fine-tuning batch size (default: {defaults.batch_size})")  # fmt: skip
    rank.add_argument(
        "--images-per-class", type=_positive_int, default=defaults.images_per_class, metavar="K",
        help=f"training images per class the methods see (default: {defaults.images_per_class})",
    )  # fmt: skip
    rank.add_argument("--seed", type=_count, default=defaults.seed, help="seed of every random draw (default: 0)")
    rank.add_argument("--device", default="auto",
                      help="where the experts run: auto (a GPU where there is one), cpu, cuda, cuda:1, ...")  # fmt: skip
    rank.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                      help="torch threads (default: torch's choice)")  # fmt: skip
    rank.add_argument("--workers", type=_count, default=defaults.workers, metavar="N",
                      help=f"processes decoding images (default: {defaults.workers}; 0: none, decode in-process)")  # fmt: skip
    rank.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    rank.add_argument("-v", "--verbose", action="store_true", help="log what is read, written and how long it took")

    commands.add_parser("methods", help="list the model-selection methods", description="List the methods.")
    return parser


def _run_rank(args: argparse.Namespace) -> int:
    from .rank import RankOptions, format_table, parse_target, rank
    from .userzoo import read_zoo

    start = time.perf_counter()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    options = RankOptions(
        methods=args.methods,
        images_per_class=args.images_per_class,
        seed=args.seed,
        finetune_top=args.finetune_top,
        finetune_epochs=args.finetune_epochs,
        finetune_lrs=tuple(args.finetune_lrs),
        batch_size=args.batch_size,
        progress=not args.quiet,
        workers=args.workers,
        device=args.device,
    )
    from .rank import check_methods

    check_methods(options.methods)  # before reading anything
    entries = read_zoo(args.zoo)
    target = parse_target(args.target)
    table = rank(target, entries, args.out, options)
    shown = table.drop(columns=["cache_seconds"])
    print(f"\nRanking of {len(table)} experts on {target.name} (best first, by {options.methods[0]}):\n")
    print(format_table(shown))
    if "finetune_accuracy" in table:
        best = table.dropna(subset=["finetune_accuracy"]).sort_values("finetune_accuracy", ascending=False)
        print(f"\nFine-tuned test accuracy of the top {len(best)}: " + ", ".join(
            f"{row.expert} {row.finetune_accuracy:.4f}" for row in best.itertuples()))  # fmt: skip
    print(f"\nWrote {args.out}/ranking.csv and ranking.png in {time.perf_counter() - start:.1f} s.")
    return 0


def _run_methods() -> int:
    from .rank import DEFAULT_METHODS, UNAVAILABLE_INPUTS
    from .scores import METHODS

    for name, method in sorted(METHODS.items()):
        notes = []
        if name in DEFAULT_METHODS:
            notes.append("default")
        if any(i in UNAVAILABLE_INPUTS for i in method.inputs):
            notes.append("benchmark only")
        if "gradients" in method.inputs:
            notes.append("slow; our models and torchvision ResNets/DenseNets only")
        note = f" [{'; '.join(notes)}]" if notes else ""
        print(f"{name:18s} {method.summary}{note}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = getattr(args, "verbose", False)
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s" if verbose else "%(levelname)s: %(message)s",
    )
    try:
        if args.command == "methods":
            return _run_methods()
        return _run_rank(args)
    except (ValueError, OSError) as error:  # bad input: one line, no traceback
        if args.debug:
            raise
        message = str(error) or type(error).__name__
        print(f"zooselect: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("zooselect: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
