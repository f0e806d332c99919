"""Per-sample gradients for LGC, computed with torch.func and randomly projected.

LGC (Deshpande et al. 2021) correlates the Gram matrix of per-sample
gradients with label similarity. The paper leaves the loss unspecified; our
choice (docs/methods.md): the target-task squared loss ½‖W f(x) + b − y‖² of a
linear head (W, b) fitted in closed form by ridge regression of the one-hot
labels on the expert's penultimate features, differentiated for each sample
with respect to the weights of the expert's last convolutional layer. The
gradients (P numbers each) are projected to Dg dimensions by a seeded
Gaussian matrix with entries N(0, 1/Dg), which preserves inner products in
expectation (Johnson–Lindenstrauss). Everything runs on the model's
device; the projection matrix is drawn on the CPU (the same matrix on any
device) and the projected gradients come back as a CPU array.

The ridge penalty matters more than its name suggests. With a weak penalty
the head fits the sampled images almost perfectly for a good expert, so its
residuals, and with them the per-sample gradients, are small and carry no
class structure: LGC then rewards experts whose head *cannot* fit the
target. On the embedded benchmark, ridge 1e-3 gave Spearman −0.66 and −0.60
with fine-tuned accuracy on two targets where ridge 1e3 gave 0.76 and 0.98.
A strong penalty keeps the head near where fine-tuning starts (residual ≈
label − mean label), which is the linearised framework's view, so the
workflow's default is ``selection.gradient_ridge: 1000``.

Gradients come from ``torch.func.vmap`` over ``torch.func.grad`` — one
batched computation instead of a Python loop over samples — and only the
layers after the last convolution run per sample: the trunk before it runs
once for the batch, and the chain rule through the convolution is one
batched matrix product. ``per_sample_gradients_loop``, one backward pass through
the whole network per image, is kept as the reference for tests and the
benchmark.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.func import functional_call, grad, vmap

GRADIENT_INTERFACE = ("last_conv", "split_at_last_conv", "features_from_last_conv")


def supports_gradients(model: nn.Module) -> bool:
    """LGC needs the model's last convolution and a way to resume from it
    (zooselect's models, torchvision's ResNets and DenseNets)."""
    return all(hasattr(model, a) for a in GRADIENT_INTERFACE)


def fit_ridge_head(features: torch.Tensor, targets: torch.Tensor, ridge: float = 1e3):
    """(W, b) minimising ‖F W + b − Y‖² + ridge·N·‖W‖², in closed form (float64)."""
    f = features.double()
    mean_f, mean_y = f.mean(0), targets.double().mean(0)
    fc, yc = f - mean_f, targets.double() - mean_y
    gram = fc.T @ fc + ridge * len(f) * torch.eye(f.shape[1], dtype=torch.float64, device=f.device)
    weight = torch.linalg.solve(gram, fc.T @ yc)
    bias = mean_y - mean_f @ weight
    return weight.float(), bias.float()


class _Setup:
    """What both gradient computations share: the head, the loss and the parameter."""

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        labels: torch.Tensor,
        num_classes: int,
        ridge: float,
        features: torch.Tensor | None = None,
        head: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        model.eval()
        device = model.last_conv.weight.device
        x, labels = x.to(device), labels.to(device)
        self.model = model
        self.name = next(n for n, p in model.named_parameters() if p is model.last_conv.weight)
        self.weight = model.last_conv.weight.detach()
        self.targets = nn.functional.one_hot(labels.long(), num_classes).float()
        if head is not None:  # fitted on a larger set than this batch (streamed extraction)
            self.head_weight, self.head_bias = (h.to(device) for h in head)
            return
        if features is None:
            with torch.no_grad():
                features = torch.cat([model.features(x[i : i + 256]) for i in range(0, len(x), 256)])
        self.head_weight, self.head_bias = fit_ridge_head(features, self.targets, ridge)

    def loss(self, weight: torch.Tensor, image: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        features = functional_call(self.model, {self.name: weight}, (image[None],), strict=False, tie_weights=False)
        prediction = features @ self.head_weight + self.head_bias
        return 0.5 * ((prediction[0] - target) ** 2).sum()


class _FeatureView(nn.Module):
    """``model.features`` as a module's forward, so functional_call can run it."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.inner = model

    @property
    def last_conv(self) -> nn.Conv2d:
        return self.inner.last_conv

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner.features(x)


def projection_matrix(num_params: int, dim: int, seed: int) -> torch.Tensor:
    """A seeded (num_params, dim) Gaussian matrix with entries N(0, 1/dim)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(num_params, dim, generator=generator) / dim**0.5


def per_sample_gradients(
    model: nn.Module,
    x: torch.Tensor,
    labels: torch.Tensor,
    num_classes: int,
    ridge: float = 1e3,
    batch_size: int = 256,
    head: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """(N, P) gradients of each sample's squared loss w.r.t. the last conv layer's weights.

    The ridge head is fitted on ``x`` itself unless ``head`` (weight, bias)
    is given, as streamed extraction does: it fits the head on every sampled
    image's features first and then computes gradients batch by batch.

    Everything before the last convolution does not depend on its weights,
    so it runs once for the whole batch (``model.split_at_last_conv``), and
    so do the convolution and the unfolding of its input into patches.
    ``vmap(grad(...))`` then differentiates each sample's loss with respect
    to that sample's convolution *output*, running only the layers after the
    convolution per sample (``model.features_from_last_conv``). The
    convolution is ``out = W (O, C·k·k) @ patches (C·k·k, L)`` per sample,
    so the chain rule gives the weight gradient as
    ``d loss / d out (O, L) @ patches^T (L, C·k·k)``: one batched matrix
    product, written straight into the result. (Letting torch.func batch the
    weight gradient itself gives the same numbers about 1.5x slower.)
    """
    conv = model.last_conv
    if conv.groups != 1:
        raise ValueError("per-sample gradients support ungrouped last convolutions only")
    device = conv.weight.device
    x, labels = x.to(device), labels.to(device)
    model.eval()
    with torch.no_grad():
        conv_input, context = model.split_at_last_conv(x)
        conv_output = conv(conv_input)
        features = model.features_from_last_conv(conv_output, context)
    setup = _Setup(_FeatureView(model), x, labels, num_classes, ridge, features=features, head=head)

    def loss(out: torch.Tensor, ctx: tuple, target: torch.Tensor) -> torch.Tensor:
        features = model.features_from_last_conv(out[None], tuple(c[None] for c in ctx))
        prediction = features @ setup.head_weight + setup.head_bias
        return 0.5 * ((prediction[0] - target) ** 2).sum()

    output_gradients = vmap(grad(loss))
    n_out = conv.out_channels
    result = torch.empty(len(x), n_out, setup.weight[0].numel(), device=device)
    # torch.func.grad ignores an enclosing no_grad for its own derivative;
    # the no_grad only keeps autograd from recording the batched products.
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            part = slice(i, i + batch_size)
            grad_out = output_gradients(conv_output[part], tuple(c[part] for c in context), setup.targets[part])
            patches = nn.functional.unfold(
                conv_input[part], conv.kernel_size, conv.dilation, conv.padding, conv.stride
            )
            torch.bmm(grad_out.reshape(len(grad_out), n_out, -1), patches.transpose(1, 2), out=result[part])
    return result.flatten(1)


def per_sample_gradients_loop(
    model: nn.Module, x: torch.Tensor, labels: torch.Tensor, num_classes: int, ridge: float = 1e3
) -> torch.Tensor:
    """The same gradients with a Python loop of backward passes (reference, slow)."""
    setup = _Setup(_FeatureView(model), x, labels, num_classes, ridge)
    rows = []
    for image, target in zip(x.to(setup.weight.device), setup.targets):
        weight = setup.weight.clone().requires_grad_(True)
        (gradient,) = torch.autograd.grad(setup.loss(weight, image, target), weight)
        rows.append(gradient.flatten())
    return torch.stack(rows)


def projected_gradients(
    model: nn.Module,
    x: torch.Tensor,
    labels: np.ndarray,
    num_classes: int,
    dim: int,
    seed: int,
    ridge: float = 1e3,
) -> np.ndarray:
    """(N, dim) randomly projected per-sample gradients, as float32."""
    gradients = per_sample_gradients(model, x, torch.as_tensor(labels), num_classes, ridge)
    projection = projection_matrix(gradients.shape[1], dim, seed).to(gradients.device)
    return (gradients @ projection).cpu().numpy().astype(np.float32)
