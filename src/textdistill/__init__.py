"""textdistill: distil fine-tuned BERT-style text models into small, fast students."""

__version__ = "0.1.0"
