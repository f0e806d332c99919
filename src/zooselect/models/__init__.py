"""Every model an expert can be, by name, and checkpoints that load without running pickled code.

:mod:`.registry` is the one place that knows model names: each belongs to a
library (zooselect's own architectures, any torchvision classifier, any
timm model) that checks, builds and prepares input for it. The pieces it
uses: our networks (:mod:`.resnet`, :mod:`.densenet`,
:mod:`.multidomain_resnet`), the wrappers of torchvision's and timm's models
(:mod:`.torchvision_models`, :mod:`.torchvision_classifiers`,
:mod:`.timm_models`, :mod:`.library_keys`), input preparation
(:mod:`.inputs`), and checkpoint files (:mod:`.checkpoint` reads every one,
:mod:`.local` turns plain state dicts into experts).
"""

from .checkpoint import checkpoint_input, load_checkpoint, save_checkpoint
from .inputs import InputSpec
from .local import load_local_expert
from .registry import ARCHITECTURES, LIBRARIES, create_model, find_library

__all__ = [
    "ARCHITECTURES",
    "InputSpec",
    "LIBRARIES",
    "checkpoint_input",
    "create_model",
    "find_library",
    "load_checkpoint",
    "load_local_expert",
    "save_checkpoint",
]
