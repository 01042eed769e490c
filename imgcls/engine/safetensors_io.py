"""Kept for imports written before ``.safetensors`` I/O moved to :mod:`imgcls.safetensors_io`."""

from ..safetensors_io import load_safetensors, looks_like_safetensors, save_safetensors

__all__ = ['save_safetensors', 'load_safetensors', 'looks_like_safetensors']
