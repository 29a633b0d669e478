"""Offline assets: registry packages -> verified downloads -> converted folders in the cache."""
