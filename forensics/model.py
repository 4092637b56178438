"""The hybrid CNN-LSTM (and its CNN-only / LSTM-only ablations).

Tensor shapes (N sequences, T steps, C input channels, E embedding, H conv
channels, U LSTM units, S = ceil(T / stride))::

    x        (N, T, C)   float32, standardised with the model's scaler
    embed    (N, T, E)   pointwise Conv1d(C, E, kernel=1) (a per-step Linear) + ReLU
    permute  (N, E, T)
    conv1d   (N, H, S)   Conv1d(E, H, kernel=k, stride=s, padding=k//2) + ReLU: patterns over time
    permute  (N, S, H)
    lstm     (N, S, U)   one-layer LSTM over the time axis; h_S = last hidden state (N, U)
    heads    (N, n_cat)  category logits    = Linear(U, n_cat)(h_S)
             (N, n_sub)  subcategory logits = Linear(U, n_sub)(h_S)

Why the pointwise embedding first: a kernel-3 convolution straight over the
~126 input channels costs 3x the multiply-adds and runs ~7x slower on CPU than
a matrix multiply to E channels followed by a small convolution.  The stride-2
convolution halves the steps the (sequential) LSTM has to walk.

Ablations for the evaluation: ``kind="cnn"`` replaces the LSTM by a max+mean
pool over time (N, 2H); ``kind="lstm"`` feeds the embedding straight into the
LSTM over all T steps (no convolution over time).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class Arch:
    kind: str = "cnn_lstm"  # cnn_lstm | cnn | lstm
    channels: int = 0  # C (input features per step)
    steps: int = 8  # T
    embed: int = 16  # E
    conv: int = 16  # H
    kernel: int = 3
    stride: int = 2
    hidden: int = 16  # U
    dropout: float = 0.0  # on the input channels, training only
    n_cat: int = 5
    n_sub: int = 8

    def to_dict(self) -> dict:
        return asdict(self)


class Detector(nn.Module):
    def __init__(self, arch: Arch):
        super().__init__()
        self.arch = arch
        a = arch
        if a.kind not in ("cnn_lstm", "cnn", "lstm"):
            raise ValueError(f"unknown model kind {a.kind!r}")
        self.drop = nn.Dropout(a.dropout) if a.dropout > 0 else None
        self.embed = nn.Linear(a.channels, a.embed)
        self.conv = (nn.Conv1d(a.embed, a.conv, a.kernel, stride=a.stride, padding=a.kernel // 2)
                     if a.kind != "lstm" else None)
        lstm_in = a.conv if a.kind == "cnn_lstm" else a.embed
        self.lstm = nn.LSTM(lstm_in, a.hidden, batch_first=True) if a.kind != "cnn" else None
        feat = a.hidden if a.kind != "cnn" else 2 * a.conv
        self.head_cat = nn.Linear(feat, a.n_cat)
        self.head_sub = nn.Linear(feat, a.n_sub)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, T, C) -> (category logits (N, n_cat), subcategory logits (N, n_sub))."""
        if self.drop is not None:
            x = self.drop(x)  # identity in eval mode
        return self.forward_embedded(self.embed(x))

    def forward_embedded(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The network after the per-step Linear: ``e = embed(x)`` (N, T, E), before its ReLU.

        ``forward(x) == forward_embedded(embed(x))``.  Inference (``forensics.detect``) builds
        ``e`` without the (N, T, C) input: the Linear is applied once per distinct flow row and
        per context vector, and the parts of each step are added.
        """
        x = torch.relu(e)  # (N, T, E)
        if self.conv is not None:
            h = torch.relu(self.conv(x.transpose(1, 2)))  # (N, H, S)
            if self.lstm is None:
                z = torch.cat([h.amax(dim=2), h.mean(dim=2)], dim=1)  # (N, 2H)
                return self.head_cat(z), self.head_sub(z)
            x = h.transpose(1, 2)  # (N, S, H)
        _, (h_n, _) = self.lstm(x)  # h_n (1, N, U)
        z = h_n[0]
        return self.head_cat(z), self.head_sub(z)
