"""``python -m textdistill`` = the ``textdistill`` command (``torchrun -m textdistill`` uses it)."""

from textdistill.cli import app

if __name__ == "__main__":
    app()
