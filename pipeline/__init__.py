"""Data in motion: readers, writers, training-data preparation, batch prediction."""
