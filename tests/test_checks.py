"""The shared argument checks: what they accept, and the messages they give."""
import math

import numpy as np
import pytest

from edgekws.checks import check_int, check_number, is_int


@pytest.mark.parametrize("value, ok", [(3, True), (np.int16(3), True), (True, False),
                                       (np.bool_(True), False), (3.0, False), ("3", False)])
def test_is_int(value, ok):
    assert is_int(value) is ok


def test_check_int_returns_a_python_int():
    out = check_int("n", np.int64(7))
    assert out == 7 and type(out) is int


@pytest.mark.parametrize("args, kwargs, message", [
    (("n", 0), {}, "n must be a positive integer, not 0"),
    (("n", True), {}, "n must be a positive integer, not True"),
    (("n", 2.0), {}, "n must be a positive integer, not 2.0"),
    (("n", -1, 0), {}, "n must be an integer >= 0, not -1"),
    (("n", 256, 0, 255), {}, r"n must be an integer in \[0, 255\], not 256"),
    (("port", 70000, 0, 65535), {"expected": "in 0..65535"},
     r"port must be in 0..65535, not 70000"),
])
def test_check_int_messages(args, kwargs, message):
    with pytest.raises(ValueError, match=f"^{message}$"):
        check_int(*args, **kwargs)


@pytest.mark.parametrize("value", [0.5, 1, np.float32(0.25)])
def test_check_number_accepts(value):
    assert check_number("x", value, "in (0, 1]", above=0, maximum=1) == float(value)


@pytest.mark.parametrize("value", [0, 1.5, math.inf, math.nan, True, "0.5", None])
def test_check_number_refuses(value):
    with pytest.raises(ValueError, match=r"^x must be in \(0, 1\], not "):
        check_number("x", value, "in (0, 1]", above=0, maximum=1)


def test_check_number_bounds():
    assert check_number("x", 0, ">= 0", minimum=0) == 0.0
    with pytest.raises(ValueError, match="x must be < 0, not 0"):
        check_number("x", 0, "< 0", below=0)
