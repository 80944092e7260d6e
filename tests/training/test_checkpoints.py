"""checkpoints: what the trainer writes (inference.load_generator restores G / the EMA generator from it);
incompatible model_dirs are refused."""

import functools
import json

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan import data as data_lib
from trivd_gan import inference
from trivd_gan.models import decompositions
from trivd_gan.models import generator
from trivd_gan.training import checkpoints
from trivd_gan.training import loop
from tests import data_paths

TINY_G = dict(channel_multiplier=1, recurrent_unit="convgru", num_context_frames=2, num_predicted_frames=2,
              resolution=32)


def test_load_generator_restores_ema_and_raw_weights(tmp_path):
  import functools  # pylint: disable=g-import-not-at-top
  model_dir = str(tmp_path / "run")
  result = loop.train(model_dir, num_steps=1, generator_fn=functools.partial(generator.Generator, **TINY_G),
                      discriminator_fn=functools.partial(decompositions.DiscriminatorEnsemble,
                                                         "dvd_gan_fp_faster", 1, num_frames_K=2),
                      global_batch_size=2, d_steps_per_g_step=1, ema_start_step=0, ema_decay=0.5,
                      run_eagerly=True, sample_every=0)
  trained = result["trainer"]
  for use_ema, source in ((True, trained.ema_generator), (False, trained.generator)):
    g = inference.load_generator(model_dir, use_ema=use_ema)
    assert isinstance(g, generator.Generator) and g.channel_multiplier == 1
    assert len(g.variables) == len(source.variables)
    for loaded, saved in zip(g.variables, source.variables):
      np.testing.assert_array_equal(loaded.numpy(), saved.numpy())
    frames = g(tf.zeros([1, 2, 32, 32, 3]), tf.zeros([1, 128]), training=False)
    assert frames.shape == (1, 2, 32, 32, 3)
  # After the EMA start (step 0, decay 0.5) the EMA differs from G.
  assert any(not np.array_equal(a.numpy(), b.numpy())
             for a, b in zip(trained.ema_generator.trainable_variables, trained.generator.trainable_variables))


def test_incompatible_model_dir_is_refused(tmp_path):
  model_dir = str(tmp_path)
  d = decompositions.DiscriminatorEnsemble("dvd_gan_fp_faster", 1)
  checkpoints.check_or_write_model_config(model_dir, generator.Generator(**TINY_G), d)
  checkpoints.check_or_write_model_config(model_dir, generator.Generator(**TINY_G), d)  # same: fine
  with pytest.raises(ValueError, match="different model.*channel_multiplier: 1 -> 2.*new --model_dir"):
    checkpoints.check_or_write_model_config(
        model_dir, generator.Generator(**{**TINY_G, "channel_multiplier": 2}), d)
  with open(tmp_path / inference.MODEL_CONFIG) as f:
    assert json.load(f)["generator"]["channel_multiplier"] == 1


def test_options_without_variables_may_change_on_resume(tmp_path):
  """A staged recipe changes G's options that hold no variables; they must indeed hold none, and any other
  change stays refused."""
  warp = {**TINY_G, "recurrent_unit": "tsru_p", "output_mode": "warp_chain"}
  staged = {"warp_logit_scale": 2.0, "chain_pooling_radius": 2, "chain_pooling": "object"}
  assert set(staged) == set(checkpoints.OPTIONS_WITHOUT_VARIABLES)
  shapes = lambda g: sorted((v.path.split("/", 1)[1], tuple(v.shape)) for v in g.build_for_shapes(1).variables)
  assert shapes(generator.Generator(**warp)) == shapes(generator.Generator(**warp, **staged))

  d = decompositions.DiscriminatorEnsemble("dvd_gan_fp_faster", 1)
  checkpoints.check_or_write_model_config(str(tmp_path), generator.Generator(**warp), d)
  checkpoints.check_or_write_model_config(str(tmp_path), generator.Generator(**warp, **staged), d)
  with open(tmp_path / inference.MODEL_CONFIG) as f:
    record = json.load(f)
  assert record["generator"]["chain_pooling_radius"] == 2 and record["generator"]["warp_logit_scale"] == 2.0
  assert record["generator"]["chain_pooling"] == "object"
  assert record["previous_generator"][0]["chain_pooling_radius"] == 0
  with pytest.raises(ValueError, match="different model.*channel_multiplier: 1 -> 2"):
    checkpoints.check_or_write_model_config(
        str(tmp_path), generator.Generator(**{**warp, **staged, "channel_multiplier": 2}), d)


def test_load_generator_bad_input(tmp_path):
  with pytest.raises(ValueError, match="model_config.json"):
    inference.load_generator(str(tmp_path))
  d = decompositions.DiscriminatorEnsemble("dvd_gan_fp_faster", 1)
  checkpoints.check_or_write_model_config(str(tmp_path), generator.Generator(**TINY_G), d)
  with pytest.raises(ValueError, match="no checkpoint"):
    inference.load_generator(str(tmp_path))


def test_resume_on_other_data_is_refused_unless_allowed(tmp_path):
  model_dir = str(tmp_path / "run")
  tiny = dict(generator_fn=functools.partial(generator.Generator, **TINY_G),
              discriminator_fn=functools.partial(decompositions.DiscriminatorEnsemble, "dvd_gan_fp_faster", 1,
                                                 num_frames_K=2),
              global_batch_size=2, run_eagerly=True, sample_every=0, num_steps=0)
  loop.train(model_dir, dataset_fn=data_lib.synthetic_dataset, **tiny)
  with open(tmp_path / "run" / inference.MODEL_CONFIG) as f:
    assert json.load(f)["data"] == {"dataset_fn": "synthetic_dataset", "data_dir": None, "global_batch_size": 2,
                                    "num_frames": 4, "resolution": 32}
  loop.train(model_dir, dataset_fn=data_lib.synthetic_dataset, **tiny)  # the same data: resumes
  other = dict(tiny, dataset_fn=data_lib.video_folder_dataset, data_dir=data_paths.TESTDATA)
  refusal = (r"other data \(data_dir: None -> '.*testdata'; dataset_fn: 'synthetic_dataset' -> "
             r"'video_folder_dataset'\).*allow_data_change = True")
  with pytest.raises(ValueError, match=refusal):
    loop.train(model_dir, **other)
  with pytest.raises(ValueError, match=r"global_batch_size: 2 -> 4"):
    loop.train(model_dir, **dict(tiny, global_batch_size=4))
  loop.train(model_dir, allow_data_change=True, **other)["trainer"].close()
  with open(tmp_path / "run" / inference.MODEL_CONFIG) as f:
    saved = json.load(f)
  assert saved["data"]["dataset_fn"] == "video_folder_dataset"
  assert [d["dataset_fn"] for d in saved["previous_data"]] == ["synthetic_dataset"]


def test_a_staged_recipe_resumes_with_changed_options(tmp_path):
  # As gin/pretrained/moving_mnist_pooled_{1,2}.gin: stage 2 resumes stage 1's checkpoint with the options
  # that hold no variables changed, and trains on.
  warp = {**TINY_G, "recurrent_unit": "tsru_p", "output_mode": "warp_chain", "warp_logit_scale": 1.0}
  stage = lambda steps, **options: loop.train(
      str(tmp_path), num_steps=steps,
      generator_fn=functools.partial(generator.Generator, **{**warp, **options}),
      discriminator_fn=functools.partial(decompositions.DiscriminatorEnsemble, "dvd_gan_fp_faster", 1,
                                         num_frames_K=2),
      dataset_fn=data_lib.synthetic_dataset, global_batch_size=2, run_eagerly=True, sample_every=0)
  first = stage(1)
  first["trainer"].close()
  second = stage(2, warp_logit_scale=2.0, chain_pooling_radius=1)
  second["trainer"].close()
  assert (first["step"], second["step"]) == (1, 2)
  assert second["trainer"].generator.chain_pooling_radius == 1
  with open(tmp_path / inference.MODEL_CONFIG) as f:
    assert json.load(f)["previous_generator"][0]["warp_logit_scale"] == 1.0


def test_model_config_without_data_section_still_loads(tmp_path):
  # model_config.json files written before the data were recorded: accepted, and given a data section.
  g, d = generator.Generator(**TINY_G), decompositions.DiscriminatorEnsemble("dvd_gan_fp_faster", 1)
  with open(tmp_path / inference.MODEL_CONFIG, "w") as f:
    json.dump(checkpoints.model_config(g, d), f)
  data = checkpoints.data_config(data_lib.synthetic_dataset, None, 2, 4, 32)
  checkpoints.check_or_write_model_config(str(tmp_path), g, d, data=data)
  with open(tmp_path / inference.MODEL_CONFIG) as f:
    assert json.load(f)["data"] == data
