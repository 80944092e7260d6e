"""Seeds Python, NumPy, TensorFlow and Keras before every test.

Many tests build tiny models (channel multiplier 1-4: blocks of 1-8 channels) whose initial weights come from
Keras' global seed. An unlucky draw can leave a whole channel dead on a few test frames and make a
"gradient reaches every weight" check fail once in many runs; a fixed seed per test makes every run the same.
"""
import keras
import pytest


@pytest.fixture(autouse=True)
def _seed_everything():
  keras.utils.set_random_seed(0)
