"""Model-independent evaluation: I3D embedder, FVD, Inception Score, PSNR / SSIM, baselines.

See docs/evaluation.md for where I3D weights come from and measured speed. Evaluating a trained generator (the
library of `python -m trivd_gan.evaluate`) is `runner`, with `eval_data`, `report` and `accumulators`; they are
not imported here, so that this package loads without the data and model packages.
"""

from trivd_gan.evaluation.fvd import FrechetAccumulator
from trivd_gan.evaluation.fvd import accumulate_embeddings
from trivd_gan.evaluation.fvd import frechet_distance
from trivd_gan.evaluation.fvd import frechet_distance_from_activations
from trivd_gan.evaluation.fvd import i3d_preprocess
from trivd_gan.evaluation.fvd import load_real_statistics
from trivd_gan.evaluation.fvd import save_real_statistics
from trivd_gan.evaluation.fvd import stats_cache_filename
from trivd_gan.evaluation.fvd import uint8_to_model_range
from trivd_gan.evaluation.i3d import I3D
from trivd_gan.evaluation.i3d_weights import Embedder
from trivd_gan.evaluation.i3d_weights import is_random_embedder
from trivd_gan.evaluation.i3d_weights import make_embedder
from trivd_gan.evaluation.metrics import InceptionScoreAccumulator
from trivd_gan.evaluation.metrics import best_of_l_ssim
from trivd_gan.evaluation.metrics import copy_last_frame
from trivd_gan.evaluation.metrics import inception_score
from trivd_gan.evaluation.metrics import inception_score_splits
from trivd_gan.evaluation.metrics import psnr_per_frame
from trivd_gan.evaluation.metrics import ssim_per_frame
