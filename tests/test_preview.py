"""A live preview is the picture the run will make: the engine's snapshots reach ``progress``
composited into the photo (tst_core.pipeline.Pipeline.composited)."""

from __future__ import annotations

import torch

import tst_core


def test_progress_snapshots_are_composited_as_the_result(files):
    seen = []
    result = tst_core.run(
        files / "photo.png",
        [f"person#0={files / 'style.jpg'}"],
        segmenter="maskfile",
        segmenter_options={"masks": files / "masks"},
        blend="hard",
        size=32,
        output_size=32,  # the working size: one piece (the native path's windows have their own)
        engine_options={"iterations": 2, "scales": [1.0], "snapshot_every": 1},
        progress=seen.append,
    )
    snapshots = [p.snapshot for p in seen if p.snapshot is not None]
    assert len(snapshots) == 2
    inside = result.targets.masks()[0] > 0.5
    for snap in snapshots:
        # the engine paints the target's box and its margin; the preview keeps the photo there
        assert torch.equal(snap[:, ~inside], result.photo[:, ~inside])
        assert not torch.equal(snap[:, inside], result.photo[:, inside])  # painted there
