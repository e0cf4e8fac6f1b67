"""Every exercise check accepts its reference solution and rejects wrong answers kindly."""

import importlib.util
import inspect
import json
from pathlib import Path

import pandas as pd
import pytest

from recsys_course import exercises

SOLUTIONS = sorted((Path(__file__).parent.parent / "notebooks" / "solutions").glob("*.py"))


def _module(path):
    spec = importlib.util.spec_from_file_location(path.stem.replace("-", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


MODULES = [_module(path) for path in SOLUTIONS]
ALL_SOLUTIONS = {eid: fn for module in MODULES for eid, fn in module.SOLUTIONS.items()}
# A find-the-bug exercise ships the buggy function the notebook shows; its solutions file keeps an
# exact copy in PLANTED_BUGS so that the check is proven to catch the bug, not only to pass the fix.
PLANTED_BUGS = {eid: fn for module in MODULES for eid, fn in getattr(module, "PLANTED_BUGS", {}).items()}


def test_every_exercise_has_a_solution_and_every_solution_a_check():
    assert SOLUTIONS, "no solution files found"
    assert sorted(ALL_SOLUTIONS) == exercises.exercise_ids()


@pytest.mark.parametrize("exercise_id", exercises.exercise_ids())
def test_the_reference_solution_passes(exercise_id):
    verdict = exercises.verify(exercise_id, ALL_SOLUTIONS[exercise_id])
    assert verdict.passed, verdict.message
    assert "correct!" in verdict.message


@pytest.mark.parametrize("exercise_id", sorted(PLANTED_BUGS))
def test_the_check_catches_the_planted_bug(exercise_id):
    assert exercise_id in ALL_SOLUTIONS, f"planted bug {exercise_id} has no fixed solution"
    verdict = exercises.verify(exercise_id, PLANTED_BUGS[exercise_id])
    assert not verdict.passed, f"the check of {exercise_id} passes the planted bug: {verdict.message}"


@pytest.mark.parametrize("exercise_id", sorted(PLANTED_BUGS))
def test_the_planted_bug_is_the_one_the_notebook_shows(exercise_id):
    notebook, = (Path(__file__).parent.parent / "notebooks").glob(f"{exercise_id[:2]}_*.ipynb")
    cells = ["".join(cell["source"]) for cell in json.loads(notebook.read_text())["cells"]
             if cell["cell_type"] == "code"]
    source = inspect.getsource(PLANTED_BUGS[exercise_id]).strip()
    assert any(source in cell for cell in cells), f"{notebook.name} has no cell with this code:\n{source}"


def test_a_wrong_answer_shows_expected_and_got(capsys):
    exercises.check("01.1", lambda ratings: 0.5)
    out = capsys.readouterr().out
    assert "not yet" in out and "expected: 0.4250" in out and "got:      0.5000" in out and "hint:" in out


def test_a_stub_is_reported_as_not_attempted():
    def stub(ratings):
        raise NotImplementedError

    verdict = exercises.verify("01.1", stub)
    assert not verdict.passed and "not attempted yet" in verdict.message


def test_a_crashing_answer_is_reported_not_raised():
    verdict = exercises.verify("01.3", lambda ratings, threshold: ratings["no_such_column"])
    assert not verdict.passed and "raised KeyError" in verdict.message


def test_implicit_answer_must_have_the_right_pairs(toy):
    too_many = lambda ratings, threshold: ratings[ratings["rating"] >= threshold - 1]  # noqa: E731
    assert not exercises.verify("01.3", too_many).passed
    assert not exercises.verify("01.3", lambda ratings, threshold: pd.DataFrame()).passed


def test_passing_a_value_instead_of_a_function_is_explained():
    assert "pass your function itself" in exercises.verify("01.1", 0.425).message


def test_unknown_exercise_id():
    with pytest.raises(KeyError, match="no exercise '99.9'"):
        exercises.verify("99.9", print)


def test_a_verdict_prints_rounded_floats_in_lists():
    shown = exercises._show([0.1 + 0.2, 1 / 3, (2 / 3, 7)])
    assert shown == "[0.3, 0.3333, (0.6667, 7)]", shown
