"""OWLv2 (Minderer, Gritsenko & Houlsby 2023) for the ``text`` segmenter, in Hugging Face's
layout. Its digests could not be read where this record was written (no network): it is
listed, never fetched (:attr:`~tst_core.records.WeightsRecord.pending`), until a maintainer
pins the revision and its SHA-256."""

from __future__ import annotations

from tst_core.records import WeightsRecord

OWLV2_PENDING = (
    "its revision and SHA-256 are not recorded yet: download the folder "
    "google/owlv2-base-patch16-ensemble (config.json, model.safetensors, vocab.json, "
    "merges.txt) and pass it with --weights FOLDER"
)
OWLV2 = WeightsRecord(
    name="owlv2-base-patch16-ensemble",
    url="https://huggingface.co/google/owlv2-base-patch16-ensemble/resolve/main/model.safetensors",
    plugin="text",
    architecture="owlv2-base-patch16",
    licence="Apache-2.0 (Google, OWLv2)",
    size_mib=591.0,
    file_name="owlv2-base-patch16-ensemble.safetensors",
    description="OWLv2 ViT-B/16 open-vocabulary detector (segmenter text)",
    pending=OWLV2_PENDING,
)
