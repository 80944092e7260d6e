"""trivd_gan.op_profile: op durations by type from a TF profiler trace."""

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from trivd_gan import op_profile


def test_read_trace_sums_op_events_by_type_and_skips_the_rest(tmp_path):
  space = xplane_pb2.XSpace()
  plane = space.planes.add(name="/host:CPU")
  names = {1: "dense/MatMul:_MklMatMul", 2: "grad/MatMul_1:_MklMatMul", 3: "ExecutorState::Process",
           4: "EagerLocalExecute: __inference_f_12", 5: "$python", 6: "bn/Sum:Sum"}
  for i, name in names.items():
    plane.event_metadata[i].id, plane.event_metadata[i].name = i, name
  line = plane.lines.add()
  for metadata_id, ms in ((1, 2.0), (2, 3.0), (3, 50.0), (4, 60.0), (5, 70.0), (6, 0.5), (1, 1.0)):
    line.events.add(metadata_id=metadata_id, duration_ps=int(ms * 1e9))
  path = tmp_path / "t.xplane.pb"
  path.write_bytes(space.SerializeToString())
  by_type, by_op = op_profile.read_trace(str(path))
  assert by_type == {"_MklMatMul": [6.0, 3], "Sum": [0.5, 1]}
  assert by_op == {("dense/MatMul", "_MklMatMul"): 3.0, ("grad/MatMul_1", "_MklMatMul"): 3.0,
                   ("bn/Sum", "Sum"): 0.5}


def test_profile_of_a_function_names_its_ops():
  a = tf.random.normal([256, 256])
  x, k = tf.random.normal([2, 16, 16, 8]), tf.random.normal([3, 3, 8, 8])

  @tf.function
  def step():
    return tf.reduce_sum(tf.matmul(a, a)) + tf.reduce_sum(tf.nn.conv2d(x, k, 1, "SAME"))

  step()  # traced before profiling, as bench profiles a step after its timed ones
  result = op_profile.profile(step)
  types = [t for t, _, _ in result.by_type]
  assert any("MatMul" in t for t in types) and any("Conv2D" in t for t in types), types
  assert all(ms >= 0 and n >= 1 for _, ms, n in result.by_type) and result.wall_ms > 0
  assert [ms for _, ms, _ in result.by_type] == sorted((ms for _, ms, _ in result.by_type), reverse=True)
  assert any(t == next(t for t in types if "MatMul" in t) for _, t, _ in result.by_op)
  table = op_profile.format_table(result, top=2).splitlines()
  assert table[0].startswith("Op time ") and table[2] == "| op type | ms | share | count |"
  assert len([l for l in table if l.startswith("| ") and "---" not in l]) == 2 + 2 + 2  # 2 headers, 2 + 2 rows
