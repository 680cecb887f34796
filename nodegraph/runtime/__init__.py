"""The multiprocess runtime: a supervisor (`Runtime`) and the stage processes it starts.

`Runtime` is imported lazily, so a stage process importing the worker does not pay for the
supervisor's imports (networkx, the scheduler).
"""


def __getattr__(name: str):
    if name == "Runtime":
        from .supervisor import Runtime

        return Runtime
    raise AttributeError(f"module 'nodegraph.runtime' has no attribute {name!r}")


__all__ = ["Runtime"]
