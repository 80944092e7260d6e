"""Training of TrIVD-GAN-FP (paper E.1-E.3): strategy factory, the step and loop, EMA, the run's record.

See docs/training.md. Public entry points: `loop.train` (gin: `train`), `strategy.make_strategy`. Loading a
trained generator and its standing statistics live in `trivd_gan.inference`.
"""
