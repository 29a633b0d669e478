"""Recipes: what each command runs (teach, distill, multi-task, general), on one skeleton."""
