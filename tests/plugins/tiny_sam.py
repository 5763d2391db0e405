"""A SAM of the real architecture but tiny dimensions, randomly initialised, for fast tests.

The encoder works at 256 px instead of 1024 (so the embedding is 16×16 and the low-resolution
masks 64×64), with 2 blocks of width 64 instead of 12 of width 768.
"""

from __future__ import annotations

from functools import partial

import torch

IMG_SIZE = 256


def tiny_sam(seed: int = 0) -> torch.nn.Module:
    """A random ``segment_anything.modeling.Sam`` in eval mode (skips when SAM is missing)."""
    import pytest

    modeling = pytest.importorskip("segment_anything.modeling")
    dim, patch = 32, 16
    grid = IMG_SIZE // patch
    torch.manual_seed(seed)
    model = modeling.Sam(
        image_encoder=modeling.ImageEncoderViT(
            img_size=IMG_SIZE,
            patch_size=patch,
            embed_dim=64,
            depth=2,
            num_heads=2,
            mlp_ratio=2,
            norm_layer=partial(torch.nn.LayerNorm, eps=1e-6),
            qkv_bias=True,
            use_rel_pos=True,
            global_attn_indexes=(1,),
            window_size=4,
            out_chans=dim,
        ),
        prompt_encoder=modeling.PromptEncoder(
            embed_dim=dim,
            image_embedding_size=(grid, grid),
            input_image_size=(IMG_SIZE, IMG_SIZE),
            mask_in_chans=4,
        ),
        mask_decoder=modeling.MaskDecoder(
            num_multimask_outputs=3,
            transformer=modeling.TwoWayTransformer(
                depth=1, embedding_dim=dim, mlp_dim=64, num_heads=2
            ),
            transformer_dim=dim,
            iou_head_depth=2,
            iou_head_hidden_dim=32,
        ),
    )
    return model.eval()
