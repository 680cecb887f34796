"""nodegraph: a node-graph editor and runtime for real-time video pipelines."""

__version__ = "0.1.0"
