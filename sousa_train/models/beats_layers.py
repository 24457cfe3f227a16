"""The BEATs transformer encoder (Chen et al. 2022, microsoft/unilm ``beats/backbone.py``).

Post-LN layers with deep-norm residual scaling, bucketed relative position bias gated per
query, and a weight-normalised grouped convolution as absolute position embedding. Module
and parameter names follow the official checkpoints (``encoder.pos_conv.0.weight_g``,
``encoder.layers.N.self_attn.grep_linear``, ...), so their state dicts load unchanged.
Attention runs through ``scaled_dot_product_attention``; the reference's max-subtraction and
its factor 32 are softmax-invariant fp16 guards, so the scores are the same.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

# Each head's query is projected to this many gate logits, summed in two groups of four.
_GATE_LOGITS = 8


class WeightNormConv1d(nn.Module):
    """Grouped Conv1d whose weight is ``weight_v`` rescaled to norm ``weight_g`` per tap.

    The reference wraps its conv in ``nn.utils.weight_norm(dim=2)``, which stores exactly
    these two tensors; keeping them as plain parameters keeps the checkpoint keys. The output
    is trimmed to the input length, as the reference's ``SamePad`` does for even kernels.
    """

    def __init__(self, channels: int, kernel: int, groups: int) -> None:
        super().__init__()
        self.kernel = kernel
        self.groups = groups
        std = math.sqrt(4.0 / (kernel * channels))
        v = torch.randn(channels, channels // groups, kernel) * std
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(v.norm(dim=(0, 1), keepdim=True))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor) -> Tensor:
        weight = self.weight_v * (self.weight_g / self.weight_v.norm(dim=(0, 1), keepdim=True))
        y = F.conv1d(x, weight, self.bias, padding=self.kernel // 2, groups=self.groups)
        return y[..., : x.shape[-1]]


def relative_buckets(length: int, num_buckets: int, max_distance: int) -> Tensor:
    """T5-style bidirectional buckets of key-minus-query offsets, ``[length, length]``.

    Half the buckets per direction; the nearer half of those are exact offsets, the rest
    log-spaced up to ``max_distance``.
    """
    pos = torch.arange(length)
    offset = pos[None, :] - pos[:, None]
    half = num_buckets // 2
    buckets = (offset > 0).long() * half
    distance = offset.abs()
    exact = half // 2
    log_ratio = torch.log(distance.float().clamp(min=1) / exact) / math.log(max_distance / exact)
    far = (exact + (log_ratio * (half - exact)).long()).clamp(max=half - 1)
    return buckets + torch.where(distance < exact, distance, far)


class GatedRelativeAttention(nn.Module):
    """Multi-head self-attention plus a relative position bias scaled by a gate per query."""

    def __init__(
        self,
        dim: int,
        heads: int,
        dropout: float,
        relative_attention_bias: nn.Embedding,
        max_distance: int,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        self.dropout = dropout
        self.max_distance = max_distance
        self.relative_attention_bias = relative_attention_bias
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)
        self.grep_linear = nn.Linear(self.head_dim, _GATE_LOGITS)
        self.grep_a = nn.Parameter(torch.ones(1, heads, 1, 1))

    def position_bias(self, length: int) -> Tensor:
        """The ungated bias ``[heads, length, length]``, shared by every layer."""
        table = self.relative_attention_bias
        buckets = relative_buckets(length, table.num_embeddings, self.max_distance)
        return table(buckets.to(table.weight.device)).permute(2, 0, 1)

    def _split(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        return x.view(b, t, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        q, k, v = (self._split(proj(x)) for proj in (self.q_proj, self.k_proj, self.v_proj))
        b, h, t, _ = q.shape
        logits = self.grep_linear(q).view(b, h, t, 2, _GATE_LOGITS // 2).sum(-1)
        gate_a, gate_b = torch.sigmoid(logits).chunk(2, dim=-1)
        gate = gate_a * (gate_b * self.grep_a - 1.0) + 2.0
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=(gate * bias).to(q.dtype),
            dropout_p=self.dropout if self.training else 0.0,
        )
        return self.out_proj(out.transpose(1, 2).reshape(b, t, h * self.head_dim))


class EncoderLayer(nn.Module):
    """Post-LN block with deep-norm: ``LN(alpha * x + sublayer(x))`` for attention and MLP."""

    def __init__(
        self,
        dim: int,
        ffn_dim: int,
        attention: GatedRelativeAttention,
        dropout: float,
        alpha: float,
    ) -> None:
        super().__init__()
        self.self_attn = attention
        self.self_attn_layer_norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.final_layer_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        self.alpha = alpha

    def forward(self, x: Tensor, bias: Tensor) -> Tensor:
        x = self.self_attn_layer_norm(x * self.alpha + self.dropout(self.self_attn(x, bias)))
        ffn = self.fc2(F.gelu(self.fc1(x)))
        return self.final_layer_norm(x * self.alpha + self.dropout(ffn))


class TransformerEncoder(nn.Module):
    """Conv position embedding, LayerNorm, then the layers sharing one relative-bias table."""

    def __init__(
        self,
        *,
        dim: int,
        ffn_dim: int,
        layers: int,
        heads: int,
        conv_pos: int,
        conv_pos_groups: int,
        num_buckets: int,
        max_distance: int,
        dropout: float,
        attention_dropout: float,
    ) -> None:
        super().__init__()
        self.pos_conv = nn.Sequential(WeightNormConv1d(dim, conv_pos, conv_pos_groups), nn.GELU())
        self.layer_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        # One table for all layers, as in the reference: each layer's state dict lists it.
        table = nn.Embedding(num_buckets, heads)
        alpha = math.pow(2 * layers, 0.25)
        self.layers = nn.ModuleList(
            EncoderLayer(
                dim,
                ffn_dim,
                GatedRelativeAttention(dim, heads, attention_dropout, table, max_distance),
                dropout,
                alpha,
            )
            for _ in range(layers)
        )
        self._init_weights(layers)

    def _init_weights(self, layers: int) -> None:
        """BERT init, then deep-norm's scaled Xavier init of the residual-path projections."""
        beta = math.pow(8 * layers, -0.25)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)
        for layer in self.layers:
            attn = layer.self_attn
            for proj, gain in (
                (attn.k_proj, 1.0),
                (attn.q_proj, 1.0),
                (attn.v_proj, beta),
                (attn.out_proj, beta),
                (layer.fc1, beta),
                (layer.fc2, beta),
            ):
                nn.init.xavier_normal_(proj.weight, gain=gain)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, T, dim]`` -> ``[B, T, dim]``."""
        x = x + self.pos_conv(x.transpose(1, 2)).transpose(1, 2)
        x = self.dropout(self.layer_norm(x))
        bias = self.layers[0].self_attn.position_bias(x.shape[1])
        for layer in self.layers:
            x = layer(x, bias)
        return x
