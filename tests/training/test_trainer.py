"""loop.train, trainer.Trainer: checkpoints, exact resume, the NaN guard, samples, summaries (tiny eager)."""

import contextlib
import functools
import os

import keras
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from trivd_gan import compat
from trivd_gan import field_losses
from trivd_gan.models import chain_pooling
from trivd_gan.models import decompositions
from trivd_gan.models import generator
from trivd_gan.models import seeds as seeds_lib
from trivd_gan.training import field_terms
from trivd_gan.training import loop
from trivd_gan.training import trainer

# A step of this configuration runs in seconds on CPU (eager: no tracing).
TINY = dict(
    generator_fn=functools.partial(generator.Generator, channel_multiplier=1, recurrent_unit="convgru",
                                   num_context_frames=2, num_predicted_frames=2, resolution=32),
    discriminator_fn=functools.partial(decompositions.DiscriminatorEnsemble, "dvd_gan_fp_faster", 1,
                                       num_frames_K=2),
    global_batch_size=2, d_steps_per_g_step=1, ema_start_step=1, run_eagerly=True, log_every=1, summary_every=1,
    sample_every=0)


def checkpoint_values(model_dir):
  reader = tf.train.load_checkpoint(model_dir)
  return {name: reader.get_tensor(name) for name, _ in tf.train.list_variables(model_dir)
          if "save_counter" not in name and "iterator" not in name and not name.startswith("_CHECKPOINTABLE")}


def _set_determinism(enabled):
  compat.set_op_determinism(enabled)


def test_resumed_run_equals_uninterrupted_run(tmp_path):
  _set_determinism(True)
  try:
    full = loop.train(str(tmp_path / "full"), num_steps=2, checkpoint_iterator=True, sample_every=2, **{
        k: v for k, v in TINY.items() if k != "sample_every"})
    assert full["step"] == 2
    loop.train(str(tmp_path / "resumed"), num_steps=1, checkpoint_iterator=True, **TINY)
    resumed = loop.train(str(tmp_path / "resumed"), num_steps=2, checkpoint_iterator=True, **TINY)
  finally:
    _set_determinism(False)
  assert resumed["step"] == 2
  a, b = checkpoint_values(str(tmp_path / "full")), checkpoint_values(str(tmp_path / "resumed"))
  assert sorted(a) == sorted(b)
  assert any("ema_generator" in name for name in a) and any("d_optimizer" in name for name in a)
  for name in a:
    # Bitwise equality is not reached on CPU even with op determinism (1-ulp differences in a few weights).
    np.testing.assert_allclose(a[name], b[name], rtol=1e-5, atol=1e-6, err_msg=name)
  # Samples (GIF + TensorBoard), the model config and summaries were written.
  gifs = [f for f in os.listdir(tmp_path / "full" / "samples") if f.endswith(".gif")]
  assert gifs
  with Image.open(tmp_path / "full" / "samples" / gifs[0]) as gif:  # a real frame duration (it was 0 ms)
    durations = []
    for i in range(gif.n_frames):
      gif.seek(i)
      durations.append(gif.info["duration"])
  assert gif.n_frames > 1 and set(durations) == {250}, durations
  assert os.path.exists(tmp_path / "full" / "model_config.json")
  assert os.listdir(tmp_path / "full" / "train")


def test_nan_loss_stops_without_overwriting_the_good_checkpoint(tmp_path, monkeypatch):
  g_replica_step = trainer.Trainer._g_replica_step

  def nan_at_step_2(self, batch, seed):  # TINY runs eagerly: this runs at every step
    total, per_d, ortho = g_replica_step(self, batch, seed)
    return (total + float("nan") if int(self.step.numpy()) + 1 == 2 else total), per_d, ortho

  monkeypatch.setattr(trainer.Trainer, "_g_replica_step", nan_at_step_2)
  model_dir = str(tmp_path / "run")
  with pytest.raises(trainer.TrainingDivergedError, match="NaN/Inf at step 2"):
    loop.train(model_dir, num_steps=3, checkpoint_every=1, **TINY)
  assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-1")
  assert all(np.all(np.isfinite(v)) for v in checkpoint_values(model_dir).values() if v.dtype.kind == "f")


def test_bad_batch_size(tmp_path):
  with pytest.raises(ValueError, match="global_batch_size"):
    trainer.Trainer(str(tmp_path), **{**{k: v for k, v in TINY.items() if k not in (
        "log_every", "summary_every", "sample_every")}, "global_batch_size": 0})


def test_reconstruction_weight_adds_the_l1_term_to_g_only(tmp_path):
  kwargs = {k: v for k, v in TINY.items() if k not in ("log_every", "summary_every", "sample_every")}
  paper = trainer.Trainer(str(tmp_path / "paper"), **kwargs)
  assert "g_loss/reconstruction" not in paper.train_step()
  with_l1 = trainer.Trainer(str(tmp_path / "l1"), reconstruction_weight=3.0, **kwargs)
  values = with_l1.train_step()
  # 3 x mean |fake - real| over [-1, 1] pixels: positive and at most 3 x 2.
  assert 0.0 < values["g_loss/reconstruction"] <= 6.0
  assert not any("reconstruction" in name for name in values if name.startswith("d_loss"))
  with pytest.raises(ValueError, match="reconstruction_weight"):
    trainer.Trainer(str(tmp_path / "bad"), reconstruction_weight=-1.0, **kwargs)


def test_motion_field_terms_add_to_g_only(tmp_path):
  kwargs = {k: v for k, v in TINY.items() if k not in ("log_every", "summary_every", "sample_every")}
  tsru = functools.partial(generator.Generator, channel_multiplier=1, recurrent_unit="tsru_p",
                           num_context_frames=2, num_predicted_frames=2, resolution=32)
  t = trainer.Trainer(str(tmp_path / "flow"), flow_mean_weight=2.0, warp_photometric_weight=3.0,
                      flow_smoothness_weight=0.5, flow_smoothness_radius=3, **{**kwargs, "generator_fn": tsru})
  values = t.train_step()
  assert values["g_loss/flow_mean"] > 0.0  # a freshly initialized G has some shared drift
  assert values["g_loss/flow_smoothness"] > 0.0  # ... and fields that vary in space near the clips' content
  assert 0.0 < values["g_loss/warp_photometric"] <= 6.0  # 3 x a mean absolute error of [-1, 1] frames
  assert not any("flow" in name or "photometric" in name for name in values if name.startswith("d_loss"))
  # The terms are in the loss G descends: the same G step (same clip and seed) with the photometric term off
  # gives other gradients.
  # Spectral norm's u and batch norm's statistics move at every training forward: each call starts the same.
  state = t.generator.non_trainable_variables + t.discriminator.non_trainable_variables
  saved = [v.numpy() for v in state]

  def g_grads(photometric_weight):
    for v, value in zip(state, saved):
      v.assign(value)
    t.field_terms.weights = {**t.field_terms.weights, "warp_photometric": photometric_weight}
    return t._g_grads_fn(t.sample_batch["video"], None, None, tf.constant([3, 4], tf.int64))[0]

  with_term, again, without = g_grads(3.0), g_grads(3.0), g_grads(0.0)
  differ = lambda x, y: any(not np.allclose(a, b, atol=1e-6) for a, b in zip(x, y) if a is not None)
  assert not differ(with_term, again) and differ(with_term, without)
  # The penalty's gradient reaches G's hyper-networks (not zero).
  context, z = t.sample_batch["video"][:, :2], tf.zeros([4, t.generator.latent_dim])
  with tf.GradientTape() as tape:
    flows = t.generator.frame_flows(t.generator.generate(context, z, training=True)[1])
    penalty = field_losses.mean_flow_penalty(flows)
  grads = tape.gradient(penalty, t.generator.trainable_variables)
  hyper = [g for g, v in zip(grads, t.generator.trainable_variables) if "hyper" in v.path and g is not None]
  assert hyper and any(float(tf.reduce_max(tf.abs(g))) > 0 for g in hyper)
  for bad in (dict(flow_mean_weight=-1.0), dict(flow_mean_weight=1.0), dict(warp_photometric_weight=1.0),
              dict(flow_smoothness_weight=1.0)):
    with pytest.raises(ValueError, match=list(bad)[0]):  # all but the first: ConvGRU does not warp
      trainer.Trainer(str(tmp_path / "bad"), **bad, **kwargs)
  with pytest.raises(ValueError, match="flow_smoothness_radius"):
    trainer.Trainer(str(tmp_path / "bad"), flow_smoothness_weight=1.0, flow_smoothness_radius=-1,
                    **{**kwargs, "generator_fn": tsru})


def test_flow_mean_radius_takes_the_mean_field_near_the_real_content(monkeypatch):
  tsru = generator.Generator(channel_multiplier=1, recurrent_unit="tsru_p", num_context_frames=2,
                             num_predicted_frames=2, resolution=32)
  rng = np.random.default_rng(0)
  flows = tf.constant(rng.normal(0.0, 1.0, (2, 2, 32, 32, 2)), tf.float32)
  video = -np.ones((2, 4, 32, 32, 3), np.float32)
  video[:, :, 2:6, 3:7] = 1.0  # one bright square: content near the top left only
  near = field_terms.FieldTerms(tsru, flow_mean_weight=2.0, flow_mean_radius=1)(flows, video, 2)["flow_mean"]
  whole = field_terms.FieldTerms(tsru, flow_mean_weight=2.0)(flows, video, 2)["flow_mean"]
  weights = field_losses.content_weights(video, 2, 1)
  np.testing.assert_allclose(near, 2.0 * field_losses.mean_flow_penalty(flows, weights), rtol=1e-6)
  np.testing.assert_allclose(whole, 2.0 * field_losses.mean_flow_penalty(flows), rtol=1e-6)
  assert abs(float(near) - float(whole)) > 1e-3
  # Both terms at the same radius share one computation of the content weights.
  calls = []
  monkeypatch.setattr(field_losses, "content_weights", lambda *args: calls.append(args) or weights)
  both = field_terms.FieldTerms(tsru, flow_mean_weight=2.0, flow_mean_radius=1, flow_smoothness_weight=1.0,
                                flow_smoothness_radius=1)(flows, video, 2)
  assert set(both) == {"flow_mean", "flow_smoothness"} and len(calls) == 1
  with pytest.raises(ValueError, match="flow_mean_radius"):
    field_terms.FieldTerms(tsru, flow_mean_weight=1.0, flow_mean_radius=1.5)


def test_copy_mask_term_takes_the_mask_of_the_g_step(tmp_path):
  kwargs = {k: v for k, v in TINY.items() if k not in ("log_every", "summary_every", "sample_every")}
  chain = functools.partial(generator.Generator, channel_multiplier=1, recurrent_unit="tsru_p",
                            num_context_frames=2, num_predicted_frames=2, resolution=32,
                            output_mode="warp_chain")
  t = trainer.Trainer(str(tmp_path / "mask"), copy_mask_weight=4.0, **{**kwargs, "generator_fn": chain})
  batch, seed = t.sample_batch["video"], tf.constant([3, 4], tf.int64)
  # The term is the loss of G's training-mode mask and fields for the G step's own z (same seed split).
  state = t.generator.non_trainable_variables
  saved = [v.numpy() for v in state]
  z = generator.sample_latents(4, t.generator.latent_dim, seed=tf.unstack(seeds_lib.split_seed(seed, 2))[0])
  _, weights, mask = t.generator.generate(batch[:, :2], z, training=True, return_mask=True)
  flows = t.generator.frame_flows(weights)
  expected = 4.0 * field_losses.copy_mask_loss(batch, flows, mask, 2, global_batch_size=2)
  for v, value in zip(state, saved):
    v.assign(value)
  grads, _, per_d, _ = t._g_grads_fn(batch, None, None, seed)
  np.testing.assert_allclose(per_d["copy_mask"], expected, rtol=1e-4)
  assert 0.0 < float(per_d["copy_mask"]) <= 4.0 * 2  # a weighted mean of 1 - m, times the weight and 4 / 2
  assert set(per_d) >= {"copy_mask"} and not any("copy" in name for name in t.train_step() if "d_loss" in name)
  for other in (dict(output_mode="composite"), dict(output_mode="warp")):
    with pytest.raises(ValueError, match="copy_mask_weight > 0 needs Generator.output_mode = 'warp_chain'"):
      field_terms.FieldTerms(chain(**other), copy_mask_weight=1.0)


def test_chain_term_moves_g_own_previous_frames_pooled_as_the_chain_pools_them():
  chain = functools.partial(generator.Generator, channel_multiplier=1, recurrent_unit="tsru_p",
                            num_context_frames=2, num_predicted_frames=3, resolution=32,
                            output_mode="warp_chain")
  rng = np.random.default_rng(5)
  video = tf.constant(rng.uniform(-1, 1, (2, 5, 32, 32, 3)), tf.float32)
  prediction = tf.Variable(rng.uniform(-1, 1, (2, 3, 32, 32, 3)), dtype=tf.float32)
  flows = tf.Variable(rng.normal(0, 1.5, (2, 3, 32, 32, 2)), dtype=tf.float32)
  # What the chain moves at step t: the last context frame, then G's own frames t-1.
  previous = tf.concat([video[:, 1:2], prediction[:, :-1]], axis=1)
  fold = lambda x: tf.reshape(x, [6, 32, 32, x.shape[-1]])
  for options, moved in ((dict(), flows), (dict(chain_pooling_radius=2, chain_pooling="object"), tf.reshape(
      chain_pooling.pooled_flow("object", fold(previous), fold(flows), 2), [2, 3, 32, 32, 2]))):
    terms = field_terms.FieldTerms(chain(**options), chain_photometric_weight=2.0)
    with tf.GradientTape(persistent=True) as tape:
      value = terms(flows, video, 2, prediction=prediction, global_batch_size=4)["chain_photometric"]
    expected = 2.0 * field_losses.warp_photometric_loss(video, moved, 2, previous=previous, global_batch_size=4)
    np.testing.assert_allclose(value, expected, rtol=1e-5)
    # A target for the fields, not a path back into G's frames.
    assert tape.gradient(value, prediction) is None
    assert float(tf.reduce_sum(tf.abs(tape.gradient(value, flows)))) > 0.0
  with pytest.raises(ValueError, match="needs G's predicted frames"):
    terms(flows, video, 2)
  with pytest.raises(ValueError, match="chain_photometric_weight > 0 needs Generator.output_mode = 'warp_"):
    field_terms.FieldTerms(chain(output_mode="warp"), chain_photometric_weight=1.0)


def test_generator_only_steps_train_g_alone_then_the_gan(tmp_path):
  kwargs = {k: v for k, v in TINY.items() if k not in ("log_every", "summary_every", "sample_every")}
  t = trainer.Trainer(str(tmp_path / "warm"), reconstruction_weight=2.0, generator_only_steps=2, **kwargs)
  snapshot = lambda model: [v.numpy().copy() for v in model.trainable_variables]
  changed = lambda before, model: any(not np.array_equal(b, v.numpy())
                                      for b, v in zip(before, model.trainable_variables))
  g0, d0 = snapshot(t.generator), snapshot(t.discriminator)
  for _ in range(2):
    values = t.train_step()
    assert set(values) == {"g_loss/reconstruction", "g_loss/total", "g_loss/orthogonal_reg"}
    assert 0.0 < values["g_loss/reconstruction"] <= 4.0  # 2 x mean |fake - real| over [-1, 1] pixels
    assert values["g_loss/total"] == values["g_loss/reconstruction"]
  assert changed(g0, t.generator) and not changed(d0, t.discriminator)
  values = t.train_step()  # step 3: a GAN step
  assert "d_loss/total" in values and "g_loss/reconstruction" in values
  assert changed(d0, t.discriminator)
  for bad in (dict(reconstruction_weight=0.0, generator_only_steps=5),
              dict(reconstruction_weight=1.0, generator_only_steps=-1)):
    with pytest.raises(ValueError, match="generator_only_steps"):
      trainer.Trainer(str(tmp_path / "bad"), **bad, **kwargs)


def test_generator_only_steps_train_g_on_its_field_terms(tmp_path):
  kwargs = {k: v for k, v in TINY.items() if k not in ("log_every", "summary_every", "sample_every")}
  chain = functools.partial(generator.Generator, channel_multiplier=1, recurrent_unit="tsru_p",
                            num_context_frames=2, num_predicted_frames=2, resolution=32,
                            output_mode="warp_chain", chain_pooling_radius=2)
  t = trainer.Trainer(str(tmp_path / "fields"), warp_photometric_weight=3.0, copy_mask_weight=4.0,
                      chain_photometric_weight=5.0, generator_only_steps=1, **{**kwargs, "generator_fn": chain})
  batch = t.sample_batch["video"]
  # The terms are those of G's training-mode fields and mask at z = 0, without the L1 term (weight 0).
  state = t.generator.non_trainable_variables
  saved = [v.numpy() for v in state]
  frames, weights, mask = t.generator.generate(batch[:, :2], tf.zeros([4, t.generator.latent_dim]),
                                               training=True, return_mask=True)
  flows = t.generator.frame_flows(weights)
  expected = {"warp_photometric": 3.0 * field_losses.warp_photometric_loss(batch, flows, 2,
                                                                           global_batch_size=2),
              "copy_mask": 4.0 * field_losses.copy_mask_loss(batch, flows, mask, 2, global_batch_size=2),
              # on G's own frames: the wiring of the prediction into the term (its pooling: the test above)
              "chain_photometric": 5.0 * field_terms.FieldTerms(t.generator, chain_photometric_weight=1.0)(
                  flows, batch, 2, prediction=frames, global_batch_size=2)["chain_photometric"]}
  for v, value in zip(state, saved):
    v.assign(value)
  grads, terms, _ = t._generator_only_grads_fn(batch, None)
  assert set(terms) == set(expected)
  for name, value in expected.items():
    np.testing.assert_allclose(terms[name], value, rtol=1e-4, err_msg=name)
    assert float(value) > 0.0
  assert sum(float(tf.reduce_sum(tf.abs(g))) for g in grads if g is not None) > 0.0
  d0 = [v.numpy().copy() for v in t.discriminator.trainable_variables]
  values = t.train_step()
  terms = ("g_loss/warp_photometric", "g_loss/copy_mask", "g_loss/chain_photometric")
  assert set(values) == {*terms, "g_loss/total", "g_loss/orthogonal_reg"}
  np.testing.assert_allclose(values["g_loss/total"], sum(values[name] for name in terms), rtol=1e-6)
  assert all(np.array_equal(b, v.numpy()) for b, v in zip(d0, t.discriminator.trainable_variables))
  assert "d_loss/total" in t.train_step()  # step 2: a GAN step
  t.close()


def test_train_loop_runs_through_the_generator_only_steps_into_the_gan(tmp_path):
  model_dir = str(tmp_path / "loop")
  result = loop.train(model_dir, num_steps=3, checkpoint_every=1, reconstruction_weight=1.0,
                      generator_only_steps=2, **TINY)
  assert result["step"] == 3 and "d_loss/total" in result["losses"]
  assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-3")
  result["trainer"].close()


def test_resume_uses_the_configured_learning_rates_not_the_checkpointed_ones(tmp_path):
  model_dir = str(tmp_path / "lr")
  loop.train(model_dir, num_steps=1, g_learning_rate=1e-3, d_learning_rate=5e-4, **TINY)["trainer"].close()
  result = loop.train(model_dir, num_steps=2, g_learning_rate=1e-4, d_learning_rate=2e-4, **TINY)
  t = result["trainer"]
  assert result["step"] == 2
  np.testing.assert_allclose(float(t.g_optimizer.learning_rate.numpy()), 1e-4, rtol=1e-6)
  np.testing.assert_allclose(float(t.d_optimizer.learning_rate.numpy()), 2e-4, rtol=1e-6)
  t.close()


def test_wall_clock_budget_stops_with_a_checkpoint(tmp_path):
  model_dir = str(tmp_path / "budget")
  # A budget of 0 s is spent as soon as the first (graph-building) step ends.
  result = loop.train(model_dir, num_steps=5, max_train_seconds=0.0, **TINY)
  assert result["step"] == 1
  assert tf.train.latest_checkpoint(model_dir).endswith("ckpt-1")


@pytest.mark.parametrize("setting,policy,expect_off", [("auto", "float32", True),
                                                       ("auto", "mixed_bfloat16", False),
                                                       (True, "float32", False)])
def test_the_trainer_steps_with_the_chosen_graph_optimizer(tmp_path, monkeypatch, setting, policy,
                                                           expect_off):
  if tf.config.list_physical_devices("GPU"):
    pytest.skip("a GPU turns 'auto' on")
  entered = []

  @contextlib.contextmanager
  def recording_grappler_off():
    entered.append(True)
    yield

  monkeypatch.setattr(compat, "grappler_off", recording_grappler_off)
  kwargs = {k: v for k, v in TINY.items() if k not in ("log_every", "summary_every", "sample_every")}
  keras.mixed_precision.set_global_policy(policy)  # as loop.train sets it while the Trainer is built
  try:
    t = trainer.Trainer(str(tmp_path), grappler=setting, **kwargs)
  finally:
    keras.mixed_precision.set_global_policy("float32")
  assert t.grappler is not expect_off
  t.train_step()
  t.train_step()
  assert entered == ([True, True] if expect_off else [])
  t.close()


def _calls(ops, function):
  """The ops of `ops` that call the trace of Python function `function` (not its gradient), in program order."""
  names = [(op, op.node_def.attr["f"].func.name) for op in ops
           if op.type in ("PartitionedCall", "StatefulPartitionedCall")]
  return [op for op, name in names if f"_{function}_" in name and "backward" not in name]


def _ancestors(op):
  """Every op `op` waits for: its inputs' ops and control inputs, transitively."""
  seen, todo = set(), [op]
  while todo:
    current = todo.pop()
    for parent in [t.op for t in current.inputs] + list(current.control_inputs):
      if parent not in seen:
        seen.add(parent)
        todo.append(parent)
  return seen


def test_one_graph_step_shares_g_forward_and_d_gradients_and_overlaps_updates(tmp_path):
  # One graph-mode Trainer for both checks: tracing its step is most of this test's time.
  kwargs = {k: v for k, v in TINY.items() if k not in ("log_every", "summary_every", "sample_every")}
  with pytest.raises(ValueError, match="run_eagerly"):
    trainer.Trainer(str(tmp_path / "eager"), **kwargs).step_graphs()
  t = trainer.Trainer(str(tmp_path / "graph"), **{**kwargs, "run_eagerly": False, "grappler": False,
                                                   "d_steps_per_g_step": 2})
  [step] = t.step_graphs()  # the whole GAN step is one graph
  ops = step.graph.get_operations()
  g_calls, d_calls = (_calls(ops, name) for name in ("_g_forward_fn", "_d_loss_grads_fn"))
  assert len(g_calls) == 3 and len(d_calls) == 2, [op.node_def.attr["f"].func.name for op in ops]
  g_adam, d_adam = ([op for op in ops if op.type == "ResourceApplyAdam" and name in op.name]
                    for name in ("g_adam", "d_adam"))
  assert g_adam and d_adam
  after = {op: _ancestors(op) for op in g_calls + d_calls + g_adam[:1]}
  # G's forward passes keep their order (spectral norm's u, batch norm's moving statistics); each D update
  # follows the last one's Adam, G's update follows the last D update's.
  assert g_calls[0] in after[g_calls[1]] and g_calls[1] in after[g_calls[2]]
  assert d_calls[0] in after[d_calls[1]] and set(d_adam) & after[d_calls[1]]
  assert d_calls[1] in after[g_adam[0]]
  # ... but the G forward pass of a later update waits for no earlier D update: TF runs them side by side.
  assert d_calls[0] not in after[g_calls[1]] and not set(d_adam) & after[g_calls[1]]
  assert not set(d_calls) & after[g_calls[2]] and not set(d_adam) & after[g_calls[2]]
  t.train_step()
  # D's updates (no tape) and G's (under one) call the same trace of G's forward pass; D's two updates call one
  # trace of D's loss and gradients.
  assert t._g_forward.experimental_get_tracing_count() == 1
  assert t._d_loss_grads.experimental_get_tracing_count() == 1
  variables = t.generator.variables
  before = [v.numpy() for v in variables]
  video, seed = t.sample_batch["video"][:2], tf.constant([5, 6], tf.int64)

  def g_grads():  # eagerly (cheaper than tracing twice more): the traced function's gradient vs plain autodiff
    for v, value in zip(variables, before):  # the same u and moving statistics for both
      v.assign(value)
    with compat.grappler_off():
      return [g.numpy() for g in t._g_grads_fn(video, None, None, seed)[0]]

  shared = g_grads()
  t._g_forward = t._g_forward_fn  # inline, as with Grappler on
  inline = g_grads()
  # Float32 round-off apart (other summation orders); the biases before a batch norm have ~1e-8 noise gradients.
  for a, b, v in zip(shared, inline, t.generator.trainable_variables):
    assert np.linalg.norm(a - b) <= 1e-3 * np.linalg.norm(b) + 1e-6, v.path
  t.close()
  with_grappler = trainer.Trainer(str(tmp_path / "on"), **{**kwargs, "run_eagerly": False, "grappler": True})
  assert with_grappler._g_forward == with_grappler._g_forward_fn  # inline: Grappler fuses across the call
  with_grappler.close()


def test_intra_op_threads_are_checked_and_fixed_once_tensorflow_runs(caplog):
  for bad in (0, -1, True, 1.5, "1"):
    with pytest.raises(ValueError, match="train.intra_op_threads must be None"):
      loop.apply_intra_op_threads(bad)
  # Applied before TensorFlow's runtime starts: the CLI's run in test_train.py logs "Intra-op threads: 1".
  # Here the runtime has started: the count stays, and a warning says how to set it.
  float(tf.reduce_sum(tf.ones([2])))
  before = tf.config.threading.get_intra_op_parallelism_threads()
  loop.apply_intra_op_threads(None)  # TensorFlow's default: nothing to do
  with caplog.at_level("WARNING", logger="absl"):
    loop.apply_intra_op_threads(before + 3)
  assert tf.config.threading.get_intra_op_parallelism_threads() == before
  assert any(f"TF_NUM_INTRAOP_THREADS={before + 3}" in r.getMessage() for r in caplog.records), caplog.records
