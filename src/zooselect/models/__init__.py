"""Architectures (by name), and checkpoints that load without running pickled code."""

from .checkpoint import load_checkpoint, save_checkpoint
from .registry import ARCHITECTURES, create_model

__all__ = ["ARCHITECTURES", "create_model", "load_checkpoint", "save_checkpoint"]
