"""Training: the one loop, and the recipes built on it (teacher fine-tuning, distillation)."""
