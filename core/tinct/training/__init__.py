"""Training tinct's colorization networks: data cache, batches, and the training loop."""
