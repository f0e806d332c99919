"""A bad config stops the real ``snakemake -n`` before any job is planned, naming the key at fault.

One case per kind of start-up check (architecture options, dataset options and
the class count they give, method options, given zoo entries), each on the
tiny config of tests/_tiny.py in its own empty folder: the dry run must fail,
print the key, and leave no file behind but the config.
"""

import copy

import pytest

from _tiny import TINY, run_snakemake, write_config


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda c: c["zoo"]["architectures"]["resnet"].update(widht=8),
         "zoo.architectures.resnet: unknown option 'widht' (did you mean width?)"),
        (lambda c: c["targets"]["dots"]["options"].update(max_dots=1),
         "targets.dots: option 'max_dots' gives 1 class (one per dot count); at least 2 needed"),
        (lambda c: c["targets"].update(glyphs={"kind": "font_glyphs", "options": {"chars": "0"}}),
         "targets.glyphs: option 'chars' '0' gives 1 class (one per character); at least 2 needed"),
        (lambda c: c["methods"].update(transrate={"eps": "1e-4"}),
         "methods.transrate: option 'eps' must be a number (its default is 0.0001), got '1e-4'"),
        (lambda c: c["zoo"].update(given={"tv": {"orign": "torchvision", "model": "resnet18"}}),
         "zoo.given: expert 'tv' has no 'origin' key; unknown key 'orign' (did you mean origin?)"),
    ],
    ids=["arch-option", "one-dot-class", "one-glyph-class", "method-option", "given-entry-typo"],
)  # fmt: skip
def test_a_dry_run_stops_at_a_bad_config_naming_the_key(tmp_path, edit, message):
    config = copy.deepcopy(TINY)
    edit(config)
    write_config(tmp_path, config)
    result = run_snakemake(tmp_path, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert message in output, output[-3000:]
    assert "Job stats" not in output  # stopped while the workflow was read, before planning
    assert not (tmp_path / "results").exists()
