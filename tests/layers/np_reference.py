"""NumPy float64 references shared by the layer tests, written from the paper (E.2 spectral norm,
eq. 11 warping).

Only the building blocks several test files need; each test file keeps the references of its own equations.
"""

import numpy as np


def sn_kernel(layer):
  """W / sigma(W) with one power iteration from the layer's u (E.2), or W when spectral norm is off."""
  kernel = layer.kernel.numpy().astype(np.float64)
  if not layer.spectral_norm:
    return kernel
  w = kernel.reshape(-1, kernel.shape[-1])
  u = layer.sn_u.numpy().astype(np.float64)
  v = u @ w.T
  v /= np.sqrt(max((v ** 2).sum(), 1e-12))
  u_new = v @ w
  u_new /= np.sqrt(max((u_new ** 2).sum(), 1e-12))
  return kernel / float((v @ w * u_new).sum())


def conv(x, layer):
  """'same' stride-1 2D convolution of x [B, H, W, Cin] with the layer's normalized kernel and bias."""
  kernel, bias = sn_kernel(layer), layer.bias.numpy().astype(np.float64)
  kh, kw = kernel.shape[:2]
  ph, pw = (kh - 1) // 2, (kw - 1) // 2
  xp = np.pad(x, [(0, 0), (ph, ph), (pw, pw), (0, 0)])
  height, width = x.shape[1:3]
  out = np.zeros(x.shape[:3] + (kernel.shape[-1],))
  for a in range(kh):
    for b in range(kw):
      out += np.einsum("bhwi,io->bhwo", xp[:, a:a + height, b:b + width], kernel[a, b])
  return out + bias


def dense(x, layer):
  return x @ sn_kernel(layer) + layer.bias.numpy().astype(np.float64)


def relu(x):
  return np.maximum(x, 0.0)


def sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def softmax(x, axis):
  e = np.exp(x - x.max(axis=axis, keepdims=True))
  return e / e.sum(axis=axis, keepdims=True)


def warp(h, weights, k):
  """Eq. 11 with explicit indices: out[i, j] = sum_{m,n} W[i, j, m k + n] h[i + m - p, j + n - p], p = (k-1)/2;
  reads outside h are the zero padding. h [B, H, W, C], weights [B, H, W, k^2]."""
  p = (k - 1) // 2
  out = np.zeros(h.shape)
  for i in range(h.shape[1]):
    for j in range(h.shape[2]):
      for m in range(k):
        for n in range(k):
          y, x = i + m - p, j + n - p
          if 0 <= y < h.shape[1] and 0 <= x < h.shape[2]:
            out[:, i, j] += weights[:, i, j, m * k + n, None] * h[:, y, x]
  return out


def backward_warp(images, flow):
  """out[b, y, x] = images[b, y - dy, x - dx], bilinear, coordinates clamped to the image: a per-pixel loop.

  images [B, H, W, C], flow [B, H, W, 2] (dy, dx), NumPy float arrays.
  """
  b_size, height, width, _ = images.shape
  out = np.zeros_like(images, dtype=np.float64)
  for b in range(b_size):
    for i in range(height):
      for j in range(width):
        y = min(max(i - flow[b, i, j, 0], 0.0), height - 1.0)
        x = min(max(j - flow[b, i, j, 1], 0.0), width - 1.0)
        y0, x0 = int(np.floor(y)), int(np.floor(x))
        y1, x1 = min(y0 + 1, height - 1), min(x0 + 1, width - 1)
        wy, wx = y - y0, x - x0
        out[b, i, j] = ((1 - wy) * ((1 - wx) * images[b, y0, x0] + wx * images[b, y0, x1]) +
                        wy * ((1 - wx) * images[b, y1, x0] + wx * images[b, y1, x1]))
  return out
