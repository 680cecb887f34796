"""`--set NODE.PARAM=VALUE`: a value that cannot be taken is said plainly, naming the param, never a traceback."""

import pytest

from nodegraph import preset
from nodegraph.arguments import apply_overrides
from nodegraph.errors import InvalidInput
from nodegraph.params import Choice, ParamError
from nodegraph.paths import data_dir
from nodegraph.registry import default_registry


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


def test_a_number_given_where_text_goes_says_to_quote_it():
    graph = demo()
    apply_overrides(graph, ["out.path=2024"])  # JSON: the number 2024
    problems = [str(p) for p in graph.validate(default_registry())]
    assert ("node 'out' (VideoFileOutput), param 'path': expected a path string, got 2024; 2024 is a number: to give "
            "the text \"2024\", quote it as JSON (--set NODE.PARAM='\"2024\"')") in problems, problems
    with pytest.raises(ParamError, match="512 is not one of 'native', '256', '512'; 512 is a number: to give the text "
                                         "\"512\", quote it as JSON"):
        Choice(["native", "256", "512"]).validate(512)
