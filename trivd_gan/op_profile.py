"""Where a step's time goes: TensorFlow op durations by op type, from a TF profiler trace (issue: speed).

  profile = op_profile.profile(trainer.train_step)   # runs it once under tf.profiler.experimental
  print(op_profile.format_table(profile, top=20))

The trace's events named "<op name>:<op type>" are the TensorFlow ops that ran (oneDNN kernels show as their
_Mkl* types, e.g. _MklNativeConv2DBackpropFilter). Durations are wall times of each op summed over the step, on
all threads: ops that run side by side (inter-op parallelism) stretch each other, so the totals can exceed the
step's wall time and their ratios are indicative. What the executor spends around ops (function calls, the
executor's bookkeeping) is left out.
"""

import collections
import glob
import os
import tempfile
import time

import tensorflow as tf

from trivd_gan import compat

OpProfile = collections.namedtuple("OpProfile", ["wall_ms", "by_type", "by_op"])
OpProfile.__doc__ = """wall_ms: the profiled call's wall time. by_type: [(op type, total ms, count)], longest
first. by_op: [(op name, op type, total ms)] (one op of a loop body counts every iteration), longest first."""


def _is_op_event(name):
  """TensorFlow op events are "<name>:<type>"; executor, function-call and Python events are not."""
  return ":" in name and "::" not in name and not name.startswith(("$", "EagerLocalExecute"))


def read_trace(path):
  """Op durations of one `*.xplane.pb` trace: ({op type: [ms, count]}, {(name, type): ms})."""
  with open(path, "rb") as f:
    space = compat.parse_profiler_trace(f.read())
  by_type = collections.defaultdict(lambda: [0.0, 0])
  by_op = collections.defaultdict(float)
  for plane in space.planes:
    for line in plane.lines:
      for event in line.events:
        name = plane.event_metadata[event.metadata_id].name
        if not _is_op_event(name):
          continue
        op_name, op_type = name.rsplit(":", 1)
        by_type[op_type][0] += event.duration_ps / 1e9
        by_type[op_type][1] += 1
        by_op[op_name, op_type] += event.duration_ps / 1e9
  return dict(by_type), dict(by_op)


def profile(fn, logdir=None):
  """Calls `fn()` once under the TF profiler; returns its `OpProfile`. Call `fn` once before (tracing)."""
  logdir = logdir or tempfile.mkdtemp(prefix="op_profile_")
  tf.profiler.experimental.start(logdir)
  start = time.perf_counter()
  try:
    fn()
  finally:
    wall_ms = 1e3 * (time.perf_counter() - start)
    tf.profiler.experimental.stop()
  paths = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True), key=os.path.getmtime)
  if not paths:
    raise RuntimeError(f"the TF profiler wrote no trace under {logdir!r}.")
  by_type, by_op = read_trace(paths[-1])
  return OpProfile(wall_ms, sorted(((t, ms, n) for t, (ms, n) in by_type.items()), key=lambda r: -r[1]),
                   sorted(((name, t, ms) for (name, t), ms in by_op.items()), key=lambda r: -r[2]))


def format_table(result, top=20):
  """Markdown: the `top` op types (ms, share of all op time, count), then the `top` single ops."""
  total = sum(ms for _, ms, _ in result.by_type) or 1.0
  lines = [f"Op time {total:.0f} ms summed over threads, in a call of {result.wall_ms:.0f} ms wall.", "",
           "| op type | ms | share | count |", "|---|---|---|---|"]
  lines += [f"| {t} | {ms:.1f} | {100 * ms / total:.1f}% | {n} |" for t, ms, n in result.by_type[:top]]
  lines += ["", "| op | type | ms |", "|---|---|---|"]
  lines += [f"| {name} | {t} | {ms:.1f} |" for name, t, ms in result.by_op[:top]]
  return "\n".join(lines)
