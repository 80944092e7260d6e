"""Standing statistics (paper E.2): BatchNorm statistics averaged over many forward passes.

The procedure lives in `trivd_gan.inference` (evaluation and export run it, and inference must not import
training); these names point there, so gin's `apply_standing_statistics` and existing callers keep working.
"""

from trivd_gan import inference

batch_norms = inference.batch_norms
spectral_norm_vectors = inference.spectral_norm_vectors
apply_standing_statistics = inference.apply_standing_statistics
dataset_batches = inference.dataset_batches
