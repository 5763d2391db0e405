"""``yolo`` segmenter: Ultralytics YOLOv8/YOLO11 segmentation models exported to TFLite or ONNX."""

from __future__ import annotations

from pathlib import Path

from tst_core.errors import ConfigError, WeightsError
from tst_core.hub import resolve
from tst_core.records import record
from tst_core.types import Env, Instance, Segmentation, Tensor, make_instances, mask_grid

from .backends import Runner, load_model
from .decode import Letterbox, decode, instance_masks, split_outputs
from .options import YoloOptions

#: the record of the model used without ``--weights``
DEFAULT_MODEL = "yolov8n-seg-int8"
#: masks made at photo resolution per batch of detections
MASK_BATCH = 8


#: The 80 COCO class names, in the order of YOLO models trained on COCO (and of torchvision's
#: COCO categories without the background and the unused ids).
COCO_NAMES = (
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "airplane",
    "bus",
    "train",
    "truck",
    "boat",
    "traffic light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "bench",
    "bird",
    "cat",
    "dog",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "backpack",
    "umbrella",
    "handbag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "sports ball",
    "kite",
    "baseball bat",
    "baseball glove",
    "skateboard",
    "surfboard",
    "tennis racket",
    "bottle",
    "wine glass",
    "cup",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot dog",
    "pizza",
    "donut",
    "cake",
    "chair",
    "couch",
    "potted plant",
    "bed",
    "dining table",
    "toilet",
    "tv",
    "laptop",
    "mouse",
    "remote",
    "keyboard",
    "cell phone",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy bear",
    "hair drier",
    "toothbrush",
)


class YoloSegmenter:
    """Finds instances with an exported YOLO segmentation model; runs on the CPU.

    The photo is letterboxed to the model input (aspect kept, grey padding), the predictions are
    decoded and suppressed per class, and each mask is taken from the prototypes at the photo's
    resolution, cropped to its box.
    """

    def __init__(self, options: YoloOptions, env: Env | None = None) -> None:
        if options.weights is None:  # the examples' model, fetched on first use
            path = resolve(
                record(DEFAULT_MODEL),
                option="--weights MODEL.tflite (or .onnx)",
                alternatives="an Ultralytics YOLOv8/YOLO11 segmentation model exported to "
                "TFLite or ONNX (see tst_yolo.records)",
            )
        else:
            path = Path(options.weights).expanduser()
        if not path.is_file():
            raise WeightsError(f"YOLO model '{path}' does not exist")
        self.options = options
        self.runner: Runner = load_model(path, options.threads)

    def class_names(self, num_classes: int) -> list[str]:
        """Names for the model's classes: the ``labels`` option, the file's own, or COCO's."""
        given = list(self.options.labels)
        if not given and self.runner.names:
            given = [self.runner.names.get(i, f"class {i}") for i in range(num_classes)]
        if not given and num_classes == 80:
            given = list(COCO_NAMES)
        if len(given) != num_classes:
            raise ConfigError(
                f"the YOLO model has {num_classes} classes but {len(given)} names are known; "
                'give them with --set \'segmenter.yolo.labels=["a", "b", ...]\''
            )
        return [name.strip().lower() for name in given]

    def segment(self, photo: Tensor) -> Segmentation:
        """:param photo: ``(3, H, W)`` in [0, 1]. :returns: every instance, boxes in photo
        pixels, masks at the size the photo had inside the model's input (at most ``(H, W)``)."""
        size = (int(photo.shape[-2]), int(photo.shape[-1]))
        letterbox = Letterbox.fit(size, self.runner.input_size)
        grid = mask_grid(size, max(letterbox.resized))
        preds, protos = split_outputs(self.runner(letterbox.apply(photo)))
        names = self.class_names(preds.shape[0] - 4 - protos.shape[0])
        det = decode(
            preds,
            protos.shape[0],
            letterbox,
            score_threshold=self.options.score_threshold,
            iou_threshold=self.options.iou_threshold,
            max_detections=self.options.max_detections,
        )
        instances: list[Instance] = []
        for start in range(0, len(det), MASK_BATCH):  # bounds the soft masks held at once
            part = det[start : start + MASK_BATCH]
            masks = instance_masks(protos, part, letterbox, grid)
            labels = [names[int(c)] for c in part.classes]
            threshold = self.options.mask_threshold
            instances += make_instances(labels, part.scores, part.boxes, masks, threshold)
        return Segmentation(tuple(instances), size)
