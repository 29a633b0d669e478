"""Evaluation: quality metrics, speed and size, reports."""
