"""Training of TrIVD-GAN-FP (paper E.1-E.3): strategy factory, the step and loop, EMA, standing statistics.

See docs/training.md. Public entry points: `trainer.train` (gin: `train`), `checkpoints.load_generator`,
`standing_stats.apply_standing_statistics`, `strategy.make_strategy`.
"""
