"""Cloud TPU VM launch: gcloud commands built by pure functions, and their CLI."""
