"""train.warm_start_generator and warm_start_discriminator (training/warm_start.py): fine-tuning."""

import functools

import numpy as np
import pytest
import tensorflow as tf

from trivd_gan import export as export_lib
from trivd_gan import inference
from trivd_gan.models import decompositions
from trivd_gan.models import generator
from trivd_gan.training import loop

G = functools.partial(generator.Generator, channel_multiplier=1, recurrent_unit="tsru_p", num_context_frames=2,
                      num_predicted_frames=2, resolution=32)
D = functools.partial(decompositions.DiscriminatorEnsemble, "dvd_gan_fp_faster", 1, num_frames_K=2)
TINY = dict(generator_fn=G, discriminator_fn=D, global_batch_size=2, d_steps_per_g_step=1, ema_start_step=1,
            run_eagerly=True, log_every=1, sample_every=0, g_learning_rate=0.05, d_learning_rate=0.05)


def saved(prefix, model):
  reader = tf.train.load_checkpoint(prefix)
  names = [name for name, _ in tf.train.list_variables(prefix) if name.startswith(model)]
  return {name: reader.get_tensor(name) for name in names}


def test_a_new_run_starts_from_an_export_and_another_runs_discriminator(tmp_path):
  source, export_dir, new = (str(tmp_path / name) for name in ("source", "export", "new"))
  trained = loop.train(source, num_steps=2, **TINY)["trainer"]
  export_lib.export_generator(trained.ema_generator, export_dir)
  exported = [v.numpy() for v in trained.ema_generator.variables]
  trained.close()

  loop.train(new, num_steps=1, warm_start_generator=export_dir, warm_start_discriminator=source,
             **{**TINY, "seed": 7})["trainer"].close()
  step0 = f"{new}/ckpt-0"  # written before the first step: the warm-started weights
  for use_ema in (True, False):  # G and the EMA generator both start as the export
    g = inference.load_generator(new, use_ema=use_ema, checkpoint=step0)
    assert all(np.array_equal(v.numpy(), x) for v, x in zip(g.variables, exported))
  # D and D's Adam state are the source run's (its newest checkpoint); G's Adam starts fresh.
  for model in ("discriminator", "d_optimizer"):
    theirs, ours = saved(inference.latest_checkpoint(source), model), saved(step0, model)
    assert theirs and theirs.keys() == ours.keys()
    assert all(np.array_equal(theirs[k], ours[k]) for k in theirs)
  assert all(not np.any(v) for k, v in saved(step0, "g_optimizer").items() if "learning_rate" not in k)
  # A fresh run of the same seed starts elsewhere; a resume ignores the warm start.
  scratch = str(tmp_path / "scratch")
  loop.train(scratch, num_steps=1, checkpoint_every=1, **{**TINY, "seed": 7})["trainer"].close()
  g = inference.load_generator(scratch, checkpoint=f"{scratch}/ckpt-1")
  assert not all(np.array_equal(v.numpy(), x) for v, x in zip(g.variables, exported))
  result = loop.train(new, num_steps=2, warm_start_generator=str(tmp_path / "nowhere"), **TINY)
  result["trainer"].close()
  assert result["step"] == 2

  with pytest.raises(ValueError, match="is not an export of this gin's Generator"):
    loop.train(str(tmp_path / "bad_g"), num_steps=1, warm_start_generator=export_dir,
               **{**TINY, "generator_fn": functools.partial(G, recurrent_unit="convgru")})
  with pytest.raises(ValueError, match="trained another discriminator"):
    loop.train(str(tmp_path / "bad_d"), num_steps=1, warm_start_discriminator=source,
               **{**TINY, "discriminator_fn": functools.partial(D, num_frames_K=1)})
  with pytest.raises(ValueError, match="is not a training run with a checkpoint"):
    loop.train(str(tmp_path / "bad_run"), num_steps=1, warm_start_discriminator=str(tmp_path), **TINY)
