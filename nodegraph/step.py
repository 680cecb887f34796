"""One frame step, the same in both runners: the sources make a frame, each node runs on the
values of one frame id in topological order, and after each node the runner publishes what it
made (to rings and preview taps in a stage process, to the editor's pictures in-process). Also:
live param edits, and the replay of the last frame after an edit (so the preview shows the edit
while no new frame comes)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, MutableSequence
from dataclasses import dataclass
from typing import Any

from .errors import InvalidInput, RunFailed, Stopped
from .execution import call_node, call_source, earliest, frame_failure, named
from .node import Node
from .stats import NodeStats

Values = dict[tuple[str, str], Any]  # (node id, output port) -> value, for one frame id


@dataclass(frozen=True)
class Step:
    """One node, wired: where each of its inputs comes from."""

    id: str
    node: Node
    stats: NodeStats
    inputs: tuple[tuple[str, str, str], ...]  # (input port, producer node, producer port)

    @property
    def is_source(self) -> bool:
        return not self.node.inputs

    def inputs_from(self, values: Values) -> dict[str, Any]:
        return {port: values.get((src, src_port)) for port, src, src_port in self.inputs}


# after each node: the step, what it shows (its outputs; a sink's inputs) and whether process() ran
Publish = Callable[[Step, dict[str, Any], bool], None]


def read_sources(sources: Iterable[Step], frame_id: int) -> tuple[float | None, Values] | None:
    """Frame `frame_id` from every source: (capture time, their outputs), or None once a stream ended.
    A source that raises stops the run (RunFailed naming it; its refusal, InvalidInput, in its own words);
    Stopped, a stop asked while it waited, goes through."""
    values, capture_time = {}, None
    for step in sources:
        try:
            outputs = call_source(step.node, frame_id, step.stats)
        except (RunFailed, Stopped):
            raise
        except InvalidInput as e:  # a refusal, in the node's words: said as the run's failure (exit code 3)
            raise RunFailed(str(named(step.node, e)), step.id) from None
        except Exception as e:
            raise RunFailed(frame_failure(step.id, step.node.type_name(), frame_id, f"{type(e).__name__}: {e}"),
                            step.id) from None
        if outputs is None:
            return None
        capture_time = earliest(capture_time, step.node.capture_time)
        values.update({(step.id, port): value for port, value in outputs.items()})
    return capture_time, values


def run_step(steps: Iterable[Step], frame_id: int, capture_time: float, values: Values, publish: Publish,
             latency: MutableSequence[float]) -> None:
    """Run the steps that are not sources on `values` (which gets their outputs), in order, and publish
    every step (sources included, their outputs being in `values` already). A sink's latency (ms from
    capture) goes to `latency`."""
    for step in steps:
        node, ran = step.node, True
        if step.is_source:
            shown = {port: values.get((step.id, port)) for port in node.outputs}
        else:
            node.frame_id, node.capture_time = frame_id, capture_time
            inputs = step.inputs_from(values)
            done = step.stats.frames
            shown = call_node(node, inputs, step.stats)
            ran = step.stats.frames > done
            values.update({(step.id, port): value for port, value in shown.items()})
            if not node.outputs:
                latency.append((time.monotonic() - capture_time) * 1000.0)
                shown = inputs
        publish(step, shown, ran)


def apply_edit(step: Step, name: str, value: Any) -> bool:
    """Set a param between frames; a value the node refuses is counted as its error. True when it took.
    Any other fault of the node taking it (its `param_changed`) stops the run: RunFailed naming the node
    and param, as a frame's failure names its node."""
    try:
        step.node.set_param(name, value)
    except InvalidInput as e:
        step.stats.record_error(str(e))
        return False
    except Exception as e:
        raise RunFailed(f"node '{step.id}' ({step.node.type_name()}), param '{name}': taking the value {value!r} "
                        f"while running failed: {type(e).__name__}: {e}", step.id) from None
    return True


def replay(steps: Iterable[Step], edited: set[str], frame_id: int, capture_time: float, values: Values,
           publish: Publish) -> None:
    """Run the last frame again through the edited nodes and every node they feed, on a copy of that
    frame's `values`, and publish what they show. Sources and sinks do not run: a source's edit shows
    from its next frame, and a sink or a file writer must not get the frame twice (they show their new
    inputs). The replay counts in no node's frames; an error it meets is counted on its node."""
    steps = list(steps)
    values, affected = dict(values), set(edited) - {step.id for step in steps if step.is_source}
    for step in steps:
        if step.is_source or not (step.id in affected or any(src in affected for _, src, _ in step.inputs)):
            continue
        affected.add(step.id)
        inputs = step.inputs_from(values)
        if not step.node.outputs or not step.node.restartable:  # writes a file: not twice
            publish(step, inputs, False)
            continue
        step.node.frame_id, step.node.capture_time = frame_id, capture_time
        scratch = NodeStats()
        outputs = call_node(step.node, inputs, scratch)
        if scratch.errors:
            step.stats.record_error(scratch.last_error, frame_id)
        values.update({(step.id, port): value for port, value in outputs.items()})
        publish(step, outputs, scratch.frames > 0)
