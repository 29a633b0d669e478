"""Teachers as sources of soft targets: the cache of their outputs and ensembles."""
