"""Architectures (by name), and checkpoints that load without running pickled code.

Besides the registry's architectures, ``zooselect rank`` takes experts from
any torchvision classifier (:mod:`.torchvision_classifiers`), timm
(:mod:`.timm_models`, imported only when used) and local checkpoint files
(:mod:`.local`), each with the input preparation it was trained with
(:mod:`.inputs`).
"""

from .checkpoint import checkpoint_input, load_checkpoint, save_checkpoint
from .inputs import InputSpec
from .local import load_local_expert
from .registry import ARCHITECTURES, create_model

__all__ = ["ARCHITECTURES", "InputSpec", "checkpoint_input", "create_model", "load_checkpoint", "load_local_expert", "save_checkpoint"]
