"""Analysis tools: model complexity, training curves, lr schedules, Grad-CAM."""
