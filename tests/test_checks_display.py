"""How a failing check looks in a notebook (one short error line, still an error for nbval and nbgrader), and the
fallback that keeps later cells running while an exercise is unsolved."""
import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from course_lib.checks import CheckFailed, solved_or_reference


def _run(cells):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    client = NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True)
    client.execute()
    return nb


def test_check_failure_is_one_short_error_output():
    nb = _run(["import course_lib.checks as C\ndef helper():\n    secret_answer = 42\n    raise C.CheckFailed('f: wrong sign')\nhelper()",
               "from course_lib.claims import ClaimFailed\nraise ClaimFailed('FD 3 < 2')"])
    for cell, text in zip(nb.cells, ["f: wrong sign", "FD 3 < 2"]):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert len(errors) == 1, cell.outputs                     # nbval and nbgrader see the failure
        assert len(errors[0].traceback) == 1 and text in errors[0].traceback[0]
        assert "secret_answer" not in "".join(errors[0].traceback)  # no frames of the check's source


def test_solved_or_reference(capsys):
    def stub(x):
        raise NotImplementedError()

    f = solved_or_reference(stub, abs, "my_abs")
    assert f(-2) == 2 and f(-3) == 3
    assert capsys.readouterr().out.count("not solved yet") == 1      # said once, not on every call
    g = solved_or_reference(lambda x: x + 1, abs, "inc")
    assert g(1) == 2 and "not solved" not in capsys.readouterr().out
    with pytest.raises(ZeroDivisionError):                           # other errors are the student's to see
        solved_or_reference(lambda x: 1 / x, abs, "inv")(0)
    assert issubclass(CheckFailed, AssertionError)


def test_a_second_pass_in_the_same_cell_prints_a_short_line(monkeypatch, capsys):
    """An instructor's solved notebook runs the visible check and the hidden tests in one cell: the second pass
    says so in a short line instead of repeating the first; a new cell (or another check) prints in full again."""
    import course_lib.checks as checks

    cell = [7]
    monkeypatch.setattr(checks, "_cell_id", lambda: cell[0])
    checks.passed("quantize: nearest code on random inputs")
    checks.passed("quantize: nearest code on random inputs")
    checks.passed("vq_loss: both terms")                      # another check in the same cell: in full
    cell[0] = 8
    checks.passed("vq_loss: both terms")                      # the next cell: in full again
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("Check passed: quantize: nearest code on random inputs")
    assert "hidden test cases too" in out[1] and "Check passed" not in out[1]
    assert out[2].endswith("Check passed: vq_loss: both terms") and out[3].endswith("Check passed: vq_loss: both terms")


def test_outside_ipython_every_pass_prints_in_full(capsys):
    import course_lib.checks as checks

    checks.passed("f: ok")
    checks.passed("f: ok")
    assert capsys.readouterr().out.count("Check passed: f: ok") == 2


def test_in_a_real_kernel_the_hidden_pass_is_one_short_line():
    nb = _run(["import course_lib.checks as C\nC.passed('f: visible case')\nC.passed('f: hidden case')",
               "C.passed('f: visible case')"])
    first = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    second = "".join(o.get("text", "") for o in nb.cells[1].outputs)
    assert first.count("Check passed") == 1 and "hidden test cases too" in first, first
    assert second.count("Check passed") == 1, second


def test_solved_or_reference_falls_back_after_a_wrong_answer(capsys):
    """ecosystem review (b): a wrong (not only a missing) answer used to reach later cells, which then failed with a
    bare AssertionError. The last check's outcome is remembered; a wrong answer falls back with one line."""
    from course_lib.checks.basics import check_to_signed, reference_to_signed

    def wrong(x):
        return 2 * x

    with pytest.raises(CheckFailed):
        check_to_signed(wrong)
    f = solved_or_reference(wrong, reference_to_signed, "to_signed")
    import torch
    x = torch.tensor([0.0, 1.0])
    assert torch.equal(f(x), torch.tensor([-1.0, 1.0])) and torch.equal(f(x), torch.tensor([-1.0, 1.0]))
    out = capsys.readouterr().out
    assert out.count("does not pass its check yet") == 1 and "reference" in out

    def right(x):
        return x * 2 - 1

    check_to_signed(right)
    capsys.readouterr()
    g = solved_or_reference(right, lambda x: 1 / 0, "to_signed")      # passed: the student's own function runs
    assert torch.equal(g(x), torch.tensor([-1.0, 1.0])) and "Note" not in capsys.readouterr().out


def test_solved_or_reference_runs_the_given_check_quietly(capsys):
    import torch
    from course_lib.checks.basics import check_to_signed, reference_to_signed

    def never_checked(x):
        return x - 0.5

    f = solved_or_reference(never_checked, reference_to_signed, "to_signed", check=check_to_signed)
    assert torch.equal(f(torch.tensor([1.0])), torch.tensor([1.0]))
    out = capsys.readouterr().out
    assert "Check passed" not in out and "CheckFailed" not in out and out.count("does not pass its check") == 1

    def fine(x):
        return 2 * x - 1

    g = solved_or_reference(fine, lambda x: 1 / 0, "to_signed", check=check_to_signed)
    assert torch.equal(g(torch.tensor([0.0])), torch.tensor([-1.0]))
    assert capsys.readouterr().out == ""                 # passed quietly: no pass line, no note

    def stub(x):
        raise NotImplementedError()

    with pytest.raises(CheckFailed):
        check_to_signed(stub)
    h = solved_or_reference(stub, reference_to_signed, "to_signed")
    h(torch.tensor([0.0]))
    assert "not solved yet" in capsys.readouterr().out   # a stub still says "not solved", not "wrong"


def test_mismatch_messages_name_infinities_and_outputs():
    """exercise-checks review: -1e9 for -inf used to read "differs by up to inf"; tuple outputs "output[2]"."""
    import collections

    import torch
    from course_lib.checks import describe_mismatch

    ref = torch.tensor([[0.5, float("-inf"), 1.0]])
    msg = describe_mismatch(torch.tensor([[0.5, -1e9, 1.0]]), ref)
    assert "inf" in msg and "1e9" in msg and "up to inf" not in msg
    assert describe_mismatch(ref.clone(), ref) is None
    assert "differs from the reference by up to 0.5" in describe_mismatch(torch.tensor([[1.0, float("-inf"), 1.0]]), ref)
    assert "wrong sign" in describe_mismatch(torch.tensor([[0.5, float("inf"), 1.0]]), ref)
    assert "inf where the reference is finite" in describe_mismatch(torch.tensor([[float("-inf")] * 3]), torch.zeros(1, 3))
    Pair = collections.namedtuple("Pair", "codebook commitment")
    expected = Pair(torch.tensor(1.0), torch.tensor(2.0))
    msg = describe_mismatch((torch.tensor(1.0), torch.tensor(3.0)), expected)
    assert msg.startswith("the commitment differs"), msg
    assert describe_mismatch((torch.tensor(1.0), torch.tensor(3.0)), (torch.tensor(1.0), torch.tensor(2.0)),
                             names=("codebook loss", "commitment loss")).startswith("the commitment loss")
    assert describe_mismatch({"gradient to z": torch.ones(2)}, {"gradient to z": torch.zeros(2)}).startswith(
        "the gradient to z differs")


def test_check_function_notes_an_input_changed_in_place(capsys):
    from course_lib.checks.basics import check_to_signed

    check_to_signed(lambda x: x.mul_(2).sub_(1))
    assert "changed its input in place" in capsys.readouterr().out
