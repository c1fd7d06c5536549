"""The orders service: a small FastAPI app using the toolkit under its own name, ``orders``."""
