"""Every gin file under gin/ parses, names the paper's configuration, builds its G at full size and trains.

- parse + full-size build (all files): G is built from shapes with `param_counts.shape_only_initialization`
  (no orthogonal-init QRs), so even the ch = 120 model takes a few seconds; its parameter count must grow with
  the channel multiplier.
- one training step with gin/tiny.gin applied last: a representative subset always (TrIVD-GAN-FP (TSRU_p +
  DVD-GAN-FP_stronger), MoCoGAN-like K = 1 (ConvGRU, F + clV with K = 1) and BAIR (1-frame context, own learning
  rates)); every file only in the `slow` test (one eager tiny step costs 20-60 s on the 2 shared
  CPU cores, so all 25 files would take ~15 min).
"""

import pathlib

import gin
import pytest

from trivd_gan import configurables
from trivd_gan.models import param_counts

ROOT = pathlib.Path(__file__).resolve().parents[1]

# file -> (train.num_steps, G channel multiplier, recurrent unit, decomposition, D channel multiplier); None:
# the file keeps base.gin's value.
_T1 = dict(clip=758, downsampled=1000, cropped=997, cropped_downsampled=792, mocogan_like_k1=651,
           mocogan_like_k8=561, dvd_gan_fp=689, dvd_gan_fp_faster=817, dvd_gan_fp_stronger=675)
EXPECTED = {
    "gin/trivd_gan_fp_kinetics600.gin": (700_000, 120, "tsru_p", "dvd_gan_fp_stronger", 120),
    "gin/dvd_gan_fp_kinetics600.gin": (1_000_000, 48, "convgru", "dvd_gan_fp", 48),
    "gin/bair.gin": (None, 48, "tsru_p", "dvd_gan_fp_stronger", 92),
    "gin/ucf101.gin": (1_000_000, 92, "tsru_p", "dvd_gan_fp_stronger", 92),
    **{f"gin/ablations/discriminators/{name}.gin": (k * 1000, 48, "convgru", name, 48)
       for name, k in _T1.items()},
    **{f"gin/ablations/recurrent/{unit}.gin": (500_000, 48, unit, "dvd_gan_fp_faster", 48)
       for unit in ("convlstm", "convgru", "k_trajgru", "tsru_c", "tsru_p", "tsru_s", "ptsru_s")},
}
# Bindings that keep a file's own structure at tiny size where tiny.gin would erase it.
TINY_EXTRA = {"gin/bair.gin": ["Generator.num_context_frames = 1", "Generator.num_predicted_frames = 3"]}
STEP_SUBSET = ("gin/trivd_gan_fp_kinetics600.gin", "gin/ablations/discriminators/mocogan_like_k1.gin",
               "gin/bair.gin")


def _parse(files, bindings=()):
  gin.clear_config()
  configurables.parse([str(ROOT / f) for f in files], bindings)


@pytest.fixture(autouse=True)
def _clear_gin():
  yield
  gin.clear_config()


def test_every_gin_file_is_covered():
  found = {str(p.relative_to(ROOT)) for p in (ROOT / "gin").rglob("*.gin")}
  others = {"gin/base.gin", "gin/tiny.gin", "gin/demo.gin", "gin/video_folder.gin"} | set(PRETRAINED)
  assert found - others == set(EXPECTED), "add new gin files to EXPECTED (paper runs) or PRETRAINED (recipes)"


# The recipes of the shipped models (docs/results/pretrained.md): not paper runs, departures documented.
PRETRAINED = {"gin/pretrained/moving_mnist.gin": ("tsru_p", 8, 10, 10, 20.0, "pixels"),
              "gin/pretrained/natural.gin": ("tsru_p", 8, 5, 11, 50.0, "composite"),
              "gin/pretrained/natural_motion.gin": ("tsru_p", 8, 5, 11, 50.0, "warp"),
              "gin/pretrained/natural_motion_warmup.gin": ("tsru_p", 8, 5, 11, 50.0, "warp"),
              "gin/pretrained/moving_mnist_motion.gin": ("tsru_p", 8, 10, 10, 20.0, "warp"),
              "gin/pretrained/moving_mnist_photometric.gin": ("tsru_p", 8, 10, 10, 20.0, "warp_chain"),
              # The shipped Moving MNIST model's five stages (one model_dir).
              "gin/pretrained/moving_mnist_pooled_1.gin": ("tsru_p", 8, 10, 10, 5.0, "warp_chain"),
              "gin/pretrained/moving_mnist_pooled_2.gin": ("tsru_p", 8, 10, 10, 5.0, "warp_chain"),
              "gin/pretrained/moving_mnist_pooled_3.gin": ("tsru_p", 8, 10, 10, 0.0, "warp_chain"),
              "gin/pretrained/moving_mnist_pooled_4.gin": ("tsru_p", 8, 10, 10, 0.0, "warp_chain"),
              "gin/pretrained/moving_mnist_pooled_5.gin": ("tsru_p", 8, 10, 10, 0.0, "warp_chain")}
STAGES = ("gin/pretrained/moving_mnist_pooled_1.gin", "gin/pretrained/moving_mnist_pooled_2.gin",
          "gin/pretrained/moving_mnist_pooled_3.gin", "gin/pretrained/moving_mnist_pooled_4.gin",
          "gin/pretrained/moving_mnist_pooled_5.gin")
# Generator options of the recipes that differ from the class defaults (the paper's), beyond the above.
MOTION_RECIPES = ("gin/pretrained/natural_motion.gin", "gin/pretrained/natural_motion_warmup.gin",
                  "gin/pretrained/moving_mnist_motion.gin",
                  "gin/pretrained/moving_mnist_photometric.gin") + STAGES
PRETRAINED_OPTIONS = {path: {"encoder_correlation": True, "warp_spectral_norm": False}
                      for path in MOTION_RECIPES}
for path, scale, pooling in zip(("gin/pretrained/moving_mnist_photometric.gin",) + STAGES,
                                (1.0, 1.0, 2.0, 2.0, 2.0, 2.0), (0, 0, 4, 4, 4, 4)):
  PRETRAINED_OPTIONS[path]["warp_logit_scale"] = scale
  if pooling:  # unbound (the default, 0) elsewhere
    PRETRAINED_OPTIONS[path]["chain_pooling_radius"] = pooling
# Terms on G's motion fields (train.warp_photometric_weight; 0, the paper's objective, where unbound).
PRETRAINED_PHOTOMETRIC = {"gin/pretrained/moving_mnist_photometric.gin": 20.0,
                          **{path: 100.0 for path in STAGES}}
# Staged recipes: each stage ends at its train.num_steps, after the previous stage's.
STAGE_ENDS = (700, 900, 1100, 1300, 4800)
# The copy-mask term (train.copy_mask_weight; 0, the paper's objective, where unbound): stages 4 and 5.
PRETRAINED_COPY_MASK = {path: 10.0 for path in STAGES[3:]}
# G-alone steps (train.generator_only_steps; 0, the paper's schedule, where unbound).
# Stage 5 trains G alone for all its steps (those up to its num_steps).
PRETRAINED_WARMUP = {"gin/pretrained/natural_motion_warmup.gin": 1000, STAGES[4]: STAGE_ENDS[4]}


@pytest.mark.parametrize("path", sorted(PRETRAINED))
def test_pretrained_recipes_parse(path):
  _parse([path])
  unit, ch, tc, tp, l1, output_mode = PRETRAINED[path]
  assert gin.query_parameter("Generator.recurrent_unit") == unit
  assert gin.query_parameter("Generator.channel_multiplier") == ch
  assert gin.query_parameter("Generator.num_context_frames") == tc
  assert gin.query_parameter("Generator.num_predicted_frames") == tp
  assert gin.query_parameter("train.reconstruction_weight") == l1
  try:
    assert gin.query_parameter("Generator.output_mode") == output_mode
  except ValueError:  # not bound: the paper's default
    assert output_mode == "pixels"
  for name, value in PRETRAINED_OPTIONS.get(path, {}).items():
    assert gin.query_parameter(f"Generator.{name}") == value
  try:
    warmup = gin.query_parameter("train.generator_only_steps")
  except ValueError:
    warmup = 0
  assert warmup == PRETRAINED_WARMUP.get(path, 0)
  try:
    photometric = gin.query_parameter("train.warp_photometric_weight")
  except ValueError:
    photometric = 0.0
  assert photometric == PRETRAINED_PHOTOMETRIC.get(path, 0.0)
  try:
    copy_mask = gin.query_parameter("train.copy_mask_weight")
  except ValueError:
    copy_mask = 0.0
  assert copy_mask == PRETRAINED_COPY_MASK.get(path, 0.0)
  g = gin.get_configurable("Generator")(name="g")
  assert (g.encoder_correlation, g.warp_spectral_norm, g.warp_logit_scale, g.chain_pooling_radius) == tuple(
      PRETRAINED_OPTIONS.get(path, {}).get(name, default)
      for name, default in (("encoder_correlation", False), ("warp_spectral_norm", True),
                            ("warp_logit_scale", None), ("chain_pooling_radius", 0)))
  if path in STAGES:
    assert gin.query_parameter("train.num_steps") == STAGE_ENDS[STAGES.index(path)]
    assert gin.query_parameter("train.flow_smoothness_weight") == (2.0 if path == STAGES[0] else 0.0)
    # Every stage pools each field over a window of content, as the shipped export does (experiment 21).
    assert g.chain_pooling == "window"


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_parse_names_the_paper_configuration_and_builds_full_size(path, monkeypatch, tmp_path):
  text = (ROOT / path).read_text()
  assert text.startswith("#") and "include 'gin/base.gin'" in text
  assert "IS" in text or "FVD" in text  # the header cites the paper's numbers
  # Includes resolve through the search path, not the working directory.
  monkeypatch.chdir(tmp_path)
  _parse([path])
  steps, g_ch, unit, decomposition, d_ch = EXPECTED[path]
  if steps is not None:
    assert gin.query_parameter("train.num_steps") == steps
  assert gin.query_parameter("Generator.channel_multiplier") == g_ch
  assert gin.query_parameter("Generator.recurrent_unit") == unit
  assert gin.query_parameter("DiscriminatorEnsemble.decomposition") == decomposition
  assert gin.query_parameter("DiscriminatorEnsemble.channel_multiplier") == d_ch
  with param_counts.shape_only_initialization():
    g = gin.get_configurable("Generator")()
    g.build_for_shapes()
  count = param_counts.count_trainable(g)
  # ch = 48 generators have tens of millions of parameters, ch = 120 over a hundred million.
  assert count > 1e7 * (g_ch / 48) ** 2 * 0.5, count


def _train_one_step(path, tmp_path):
  _parse([path, "gin/tiny.gin"], TINY_EXTRA.get(path, ()))
  result = configurables.train(model_dir=str(tmp_path / "model"), num_steps=1, run_eagerly=True)
  assert result["step"] == 1
  assert all(v == v for v in result["losses"].values())  # no NaN
  assert result["trainer"].discriminator.decomposition == EXPECTED[path][3]


@pytest.mark.parametrize("path", STEP_SUBSET)
def test_one_tiny_training_step(path, tmp_path):
  _train_one_step(path, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(set(EXPECTED) - set(STEP_SUBSET)))
def test_one_tiny_training_step_every_file(path, tmp_path):
  _train_one_step(path, tmp_path)
