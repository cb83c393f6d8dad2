"""keras.models: Model (functional), Sequential, load_model."""
from .functional import Model, load_model
from .model import Sequential

__all__ = ["Model", "Sequential", "load_model"]
