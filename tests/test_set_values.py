"""`--set NODE.PARAM=VALUE`: a value that cannot be taken is said plainly, naming the param, never a traceback."""

import pytest

from nodegraph import preset
from nodegraph.cli import apply_overrides
from nodegraph.errors import InvalidInput
from nodegraph.paths import data_dir


def demo():
    return preset.load(data_dir("presets") / "demo.json")


@pytest.mark.parametrize(("value", "said"), [
    ("1" + "0" * 5000, "holds a number of more than 4300 digits, more than a number may have; give a smaller number"),
    ("[" * 5000, "the value is nested too deeply"),
], ids=["5001 digits", "nested 5000 deep"])
def test_a_value_python_cannot_read_is_refused_naming_the_param(value, said):
    with pytest.raises(InvalidInput) as e:
        apply_overrides(demo(), [f"pattern.frames={value}"])
    assert str(e.value) == f"--set pattern.frames=...: {said}"
