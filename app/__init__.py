"""Spark Control: the control plane and GPU arbiter for a cluster of NVIDIA DGX Sparks."""

__version__ = "0.25.0"
