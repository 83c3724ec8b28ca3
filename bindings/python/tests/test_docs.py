"""The package docstring opens with a runnable example: run it."""

import doctest

import amiwire


def test_module_docstring_example_runs() -> None:
    failed, attempted = doctest.testmod(amiwire, verbose=False)
    assert attempted >= 3
    assert failed == 0


def test_everything_public_has_a_docstring() -> None:
    for name in amiwire.__all__:
        obj = getattr(amiwire, name)
        if name.startswith("__"):
            continue
        assert getattr(obj, "__doc__", None), name
