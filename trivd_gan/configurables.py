"""The one place that registers trivd_gan objects with gin (docs/CONVENTIONS.md).

Names usable in gin files (gin/base.gin, gin/demo.gin, gin/tiny.gin):
  train                      trainer.train (model_dir, strategy and data_dir come from the CLI)
  Generator                  models.generator.Generator           (train.generator_fn = @Generator)
  DiscriminatorEnsemble      models.decompositions.DiscriminatorEnsemble (train.discriminator_fn = ...)
  synthetic_dataset, moving_mnist_dataset, natural_dataset, video_folder_dataset, kinetics600_dataset,
  ucf101_dataset, bair_dataset, make_dataset (train.dataset_fn = @synthetic_dataset)
  apply_standing_statistics  inference.apply_standing_statistics
"""

import gin

from trivd_gan import data
from trivd_gan import inference
from trivd_gan.models import decompositions
from trivd_gan.models import generator
from trivd_gan.training import trainer

_REGISTERED = False
# The gin-configured `trainer.train` (gin's wrapper; calling trainer.train directly ignores the bindings).
train = None


# Keras layers' __new__ bypasses gin's class wrapping (bindings of a Keras class are not applied), so the
# models are registered through factories with the classes' explicit signatures (unknown bindings then fail).
def _generator(channel_multiplier=48, recurrent_unit="tsru_p", num_context_frames=5, num_predicted_frames=11,
               resolution=64, latent_dim=128, embedding_dim=128, num_classes=1, encoder_channel_multiplier=None,
               bn_momentum=0.99, output_mode="pixels", name=None):
  """`generator.Generator` (gin name `Generator`)."""
  return generator.Generator(channel_multiplier=channel_multiplier, recurrent_unit=recurrent_unit,
                             num_context_frames=num_context_frames, num_predicted_frames=num_predicted_frames,
                             resolution=resolution, latent_dim=latent_dim, embedding_dim=embedding_dim,
                             num_classes=num_classes, encoder_channel_multiplier=encoder_channel_multiplier,
                             bn_momentum=bn_momentum, output_mode=output_mode, name=name)


def _discriminator_ensemble(decomposition="dvd_gan_fp_stronger", channel_multiplier=48, num_frames_K=8,
                            downsample_factor=2, head="mixed_projection", num_classes=0,
                            temporal_downsample=False, name=None):
  """`decompositions.DiscriminatorEnsemble` (gin name `DiscriminatorEnsemble`)."""
  return decompositions.DiscriminatorEnsemble(decomposition, channel_multiplier, num_frames_K=num_frames_K,
                                              downsample_factor=downsample_factor, head=head,
                                              num_classes=num_classes, temporal_downsample=temporal_downsample,
                                              name=name)


def register():
  """Registers every configurable once (idempotent; importing this module calls it)."""
  global _REGISTERED
  if _REGISTERED:
    return
  global train
  train = gin.external_configurable(trainer.train, "train",
                                    denylist=["model_dir", "strategy", "operative_config_fn"])
  gin.external_configurable(_generator, "Generator", denylist=["name"])
  gin.external_configurable(_discriminator_ensemble, "DiscriminatorEnsemble", denylist=["name"])
  for name in ("make_dataset", "synthetic_dataset", "moving_mnist_dataset", "natural_dataset",
               "video_folder_dataset",
               "kinetics600_dataset", "ucf101_dataset", "bair_dataset"):
    gin.external_configurable(getattr(data, name), name)
  gin.external_configurable(inference.apply_standing_statistics, "apply_standing_statistics")
  _REGISTERED = True


register()
