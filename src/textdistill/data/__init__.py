"""Tasks, readers, encoders: everything between a file on disk and a padded batch."""
