"""A torchvision or timm model as an expert: ``body`` (the model, its classifier taken out) and ``head``.

Every expert has the layout of our own networks: ``features(x)``, the
penultimate features, and a linear ``head``, so code that swaps the head
(fine-tuning) or copies everything but ``head.*`` works on any of them.
:class:`LibraryModel` gives a library's model that layout: the library
module takes the classifier out (torchvision's ``fc``/``classifier``,
timm's ``reset_classifier``) and hands over both parts. The library's own
state-dict keys are the body's, with the classifier under its own name;
``to_library_keys`` and ``from_library_keys`` map one layout to the other.
"""

from __future__ import annotations

import torch
from torch import nn


def to_library_keys(state: dict[str, torch.Tensor], classifier: str) -> dict[str, torch.Tensor]:
    """Our ``body.``/``head.`` keys renamed to the library's (``head.`` becomes ``{classifier}.``)."""
    out = {}
    for key, value in state.items():
        group, rest = key.split(".", 1)
        out[rest if group == "body" else f"{classifier}.{rest}"] = value
    return out


def from_library_keys(state: dict[str, torch.Tensor], classifier: str) -> dict[str, torch.Tensor]:
    """The library's keys renamed to ours: ``{classifier}.`` becomes ``head.``, the rest ``body.``."""
    prefix = classifier + "."
    return {
        ("head." + key[len(prefix) :] if key.startswith(prefix) else "body." + key): value
        for key, value in state.items()
    }


class LibraryModel(nn.Module):
    """``body`` (a library's model without its classifier) and ``head`` (that classifier, or a
    fresh ``num_classes``-way one); ``head(features(x))`` is the library model's own forward."""

    def __init__(
        self, arch: str, body: nn.Module, head: nn.Linear, classifier_name: str, num_classes: int | None = None
    ) -> None:
        super().__init__()
        if num_classes is not None and num_classes != head.out_features:
            head = nn.Linear(head.in_features, num_classes)  # a fresh head for other classes
        self.arch = arch
        self.body = body
        self.head = head
        self.classifier_name = classifier_name  # the classifier's name in the library's own keys
        self.feature_dim = head.in_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, feature_dim): the classifier's input."""
        return self.body(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    def library_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict under the library's own keys (loads into the library's model)."""
        return to_library_keys(self.state_dict(), self.classifier_name)

    def load_library_state_dict(self, state: dict[str, torch.Tensor], strict: bool = True):
        """Load a state dict saved from the library's model itself (its own keys)."""
        return self.load_state_dict(from_library_keys(state, self.classifier_name), strict=strict)
