"""tf.data input pipelines (paper Sec. 4.1, App. C.1, C.2, E.2); see docs/data.md.

Entry point: `make_dataset(name, split, data_dir, batch_size, ...)` -> batches of
{"video": [B, T, 64, 64, 3] float32 in [-1, 1], "label": [B] int32}.
"""

from trivd_gan.data.pipeline import bair_dataset
from trivd_gan.data.pipeline import check_data_dir
from trivd_gan.data.pipeline import kinetics600_dataset
from trivd_gan.data.pipeline import make_dataset
from trivd_gan.data.pipeline import moving_mnist_dataset
from trivd_gan.data.pipeline import natural_dataset
from trivd_gan.data.pipeline import SOURCES
from trivd_gan.data.pipeline import synthetic_dataset
from trivd_gan.data.pipeline import ucf101_dataset
from trivd_gan.data.pipeline import video_folder_dataset
from trivd_gan.data.preprocessing import ClipSpec

__all__ = [
    "make_dataset", "check_data_dir", "SOURCES", "synthetic_dataset", "moving_mnist_dataset", "natural_dataset",
    "video_folder_dataset", "kinetics600_dataset", "ucf101_dataset", "bair_dataset", "ClipSpec"
]
