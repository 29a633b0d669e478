"""Teachers and students, all returning :class:`~textdistill.models.outputs.ModelOutput`."""
