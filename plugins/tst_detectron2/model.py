"""Building a Detectron2 model from a model-zoo name or a config file (yaml or LazyConfig)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tst_core.errors import ConfigError, WeightsError, missing_dependency
from tst_core.weights import locate

from .checkpoint import load_into
from .options import DEFAULT_CONFIG, Detectron2Options

INSTALL = (
    "pip install --no-build-isolation 'git+https://github.com/facebookresearch/detectron2.git' "
    "(it is not on PyPI; needs torch and a C++ compiler, see detectron2's INSTALL.md)"
)


def import_detectron2() -> Any:
    """The ``detectron2`` package, or the missing-dependency error with its install command."""
    try:
        with warnings.catch_warnings():
            # detectron2's own imports warn about deprecated torch.jit and pkg_resources APIs
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", UserWarning)
            import detectron2
            import detectron2.checkpoint
            import detectron2.config
            import detectron2.data  # registers the builtin datasets' class names
            import detectron2.model_zoo
            import detectron2.modeling
    except ImportError:
        raise missing_dependency("detectron2", "detectron2", install=INSTALL) from None
    return detectron2


@dataclass
class Model:
    """A ready Detectron2 model and what is needed to feed it.

    :param net: the model in eval mode; ``net([{"image", "height", "width"}])``.
    :param augmentations: test-time resizing (``detectron2.data.transforms`` augmentations).
    :param input_format: ``"BGR"`` or ``"RGB"``, the channel order the model was trained on.
    :param class_names: class names by class index.
    """

    net: torch.nn.Module
    augmentations: list[Any]
    input_format: str
    class_names: list[str]


def build(
    options: Detectron2Options, device: torch.device, seed: int = 0, *, pretrained: bool = True
) -> Model:
    """Build the model of ``options.config`` on ``device`` and load its checkpoint.

    :param pretrained: load the checkpoint (``False``: keep the random initialisation of
        ``seed``, the same architecture, for tests and timing only; the detections are
        meaningless). Pass such a model to the segmenter as ``model=``.
    """
    import_detectron2()
    config_file, zoo_name = _config_file(options.config)
    weights = _weights(options, config_file, zoo_name) if pretrained else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if config_file.suffix == ".py":
            model = _build_lazy(config_file, options, device)
        else:
            model = _build_yaml(config_file, options, device)
    if weights is not None:
        load_into(model.net, weights)
    if options.labels:
        model.class_names = list(options.labels)
    model.net.eval()
    return model


def _config_file(config: str) -> tuple[Path, str | None]:
    """``(path of the config file, model-zoo name or None)``."""
    path = Path(config).expanduser()
    if path.is_file():
        return path, None
    from detectron2 import model_zoo

    try:
        return Path(model_zoo.get_config_file(config)), config
    except RuntimeError:
        raise ConfigError(
            f"detectron2 config '{config}' is neither a file nor a model-zoo config name "
            f"(e.g. {DEFAULT_CONFIG}; see detectron2's MODEL_ZOO.md)"
        ) from None


def _weights(options: Detectron2Options, config_file: Path, zoo_name: str | None) -> Path:
    """The checkpoint to load: ``--weights``, a zoo model's file in the cache, or the config's."""
    if zoo_name is None and options.weights is None:
        named = _configured_weights(config_file)
        if named is None or not Path(named).is_file():
            raise WeightsError(
                f"detectron2 config '{config_file}' names no checkpoint file on this machine "
                f"({named or 'none'}) and tst never downloads at run time; pass --weights FILE"
            )
        return Path(named)
    url = _zoo_url(zoo_name) if zoo_name else None
    if url is None and options.weights is None:
        raise WeightsError(
            f"the detectron2 model zoo has no trained checkpoint for '{zoo_name}'; "
            "pass --weights FILE"
        )
    return locate(
        url.rsplit("/", 1)[-1] if url else "",
        path=options.weights,
        what=f"Detectron2 {zoo_name or config_file.name}",
        url=url,
        option="--weights FILE",
        alternatives="or use --segmenter yolo (no Detectron2 checkpoint needed)",
    )


def _zoo_url(name: str) -> str | None:
    from detectron2 import model_zoo

    try:
        return str(model_zoo.get_checkpoint_url(name))
    except RuntimeError:
        return None


def _configured_weights(config_file: Path) -> str | None:
    if config_file.suffix == ".py":
        from detectron2.config import LazyConfig

        cfg = LazyConfig.load(str(config_file))
        return cfg.get("train", {}).get("init_checkpoint") or None
    from detectron2.config import get_cfg

    cfg = get_cfg()
    cfg.merge_from_file(str(config_file))
    return str(cfg.MODEL.WEIGHTS) or None


def _build_yaml(config_file: Path, options: Detectron2Options, device: torch.device) -> Model:
    from detectron2.config import get_cfg
    from detectron2.data import MetadataCatalog
    from detectron2.data import transforms as T
    from detectron2.modeling import build_model

    cfg = get_cfg()
    cfg.merge_from_file(str(config_file))
    if not cfg.MODEL.MASK_ON:
        raise ConfigError(
            f"detectron2 config '{options.config}' predicts no masks (MODEL.MASK_ON is false); "
            f"choose an instance-segmentation config such as {DEFAULT_CONFIG}"
        )
    cfg.MODEL.WEIGHTS = ""
    cfg.MODEL.DEVICE = str(device)
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = options.score_threshold
    min_size = options.min_size or cfg.INPUT.MIN_SIZE_TEST
    resize = T.ResizeShortestEdge([min_size, min_size], cfg.INPUT.MAX_SIZE_TEST)
    names = _class_names(MetadataCatalog, cfg.DATASETS.TEST)
    return Model(build_model(cfg), [resize], cfg.INPUT.FORMAT, names)


def _build_lazy(config_file: Path, options: Detectron2Options, device: torch.device) -> Model:
    from detectron2.config import LazyConfig, instantiate
    from detectron2.data import MetadataCatalog
    from detectron2.data import transforms as T

    cfg = LazyConfig.load(str(config_file))
    heads = cfg.model.get("roi_heads", {})
    if "mask_head" not in heads:
        raise ConfigError(
            f"detectron2 config '{options.config}' predicts no masks (it has no mask head); "
            f"choose an instance-segmentation config such as {DEFAULT_CONFIG}"
        )
    if "box_predictor" in heads:
        heads.box_predictor.test_score_thresh = options.score_threshold
    mapper = cfg.dataloader.test.mapper
    augmentations = [instantiate(a) for a in mapper.augmentations]
    if options.min_size:
        augmentations = [
            T.ResizeShortestEdge(options.min_size, a.max_size)
            if isinstance(a, T.ResizeShortestEdge)
            else a
            for a in augmentations
        ]
    names = _class_names(MetadataCatalog, cfg.dataloader.test.dataset.names)
    net = instantiate(cfg.model).to(device)
    return Model(net, augmentations, str(mapper.image_format), names)


def _class_names(catalog: Any, datasets: Any) -> list[str]:
    """The ``thing_classes`` of the config's first test dataset (empty when unknown)."""
    name = datasets if isinstance(datasets, str) else (list(datasets) or [None])[0]
    if name is None:
        return []
    return list(catalog.get(name).get("thing_classes", None) or [])
