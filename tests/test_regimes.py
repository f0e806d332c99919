"""The regime grammar: full, or N images per class (the config schema's pattern)."""

import pytest

from zooselect.regimes import regime_shots


def test_a_regime_names_its_images_per_class_and_full_is_zero():
    assert regime_shots("full") == 0
    assert regime_shots("5shot") == 5
    assert regime_shots("20shot") == 20


@pytest.mark.parametrize("name", ["0shot", "5shots", "5_shot", "shot", "Full"])
def test_a_name_outside_the_grammar_is_refused_by_name(name):
    with pytest.raises(ValueError, match=f"regime '{name}'"):
        regime_shots(name)
