"""Ranking models: train CTR/CVR models on the feature store, register them in MLflow, serve them."""
