"""The hit rule of ``board listen`` on synthetic score sequences: N of the last M windows,
thresholds, refractory period; the array and window-by-window forms agree; bad options
are refused with messages that name them."""
import numpy as np
import pytest

from edgekws.host.hitrule import HitRule, HitState


def run(rule, label, score=None, margin=None):
    """Hits of both forms, checked equal: ``[(window, class)]``."""
    label = np.asarray(label)
    score = np.ones(len(label)) if score is None else np.asarray(score, float)
    margin = np.ones(len(label)) if margin is None else np.asarray(margin, float)
    idx = rule.hits(label, score, margin)
    state = rule.start()
    live = [(i, c) for i, (l, s, m) in enumerate(zip(label, score, margin))
            if (c := state.push(l, s, m)) >= 0]
    assert live == [(int(i), int(label[i])) for i in idx]
    return live


def test_n_of_m_counts_only_the_same_class_in_the_window():
    r = HitRule(wins=2, of=3)
    assert run(r, [5, -1, 5]) == [(2, 5)]          # 2 of the last 3
    assert run(r, [5, -1, -1, 5]) == []            # 5 is 3 windows back: out of the 3
    assert run(r, [5, 6, 5]) == [(2, 5)]           # another class in between does not count
    assert run(r, [5, 6, 7, 6]) == [(3, 6)]
    assert run(r, [5, 6, 7, 8]) == []              # no class twice
    # The first window of a run cannot fire with 2 of 3; with 1 of 1 every voting window can.
    assert run(HitRule(), [-1, 3, -1, 4]) == [(1, 3), (3, 4)]
    assert run(HitRule(3, 3), [1, 1, 1, 1, 1]) == [(2, 1), (3, 1), (4, 1)]


def test_thresholds_decide_which_windows_vote():
    r = HitRule(2, 2, min_score=0.5, min_margin=0.1)
    label = [2, 2, 2, 2]
    assert run(r, label, [0.6, 0.4, 0.6, 0.6], [0.2] * 4) == [(3, 2)]
    assert run(r, label, [0.6] * 4, [0.2, 0.09, 0.2, 0.09]) == []
    # At the threshold exactly, the window votes (>=, as score_potentials keeps).
    assert run(r, label[:2], [0.5, 0.5], [0.1, 0.1]) == [(1, 2)]


def test_refractory_period_after_a_hit():
    label = [1] * 10
    assert [i for i, _ in run(HitRule(1, 1, refractory=0), label)] == list(range(10))
    assert [i for i, _ in run(HitRule(1, 1, refractory=3), label)] == [0, 4, 8]
    # Votes inside the refractory period still count towards the next hit.
    assert [i for i, _ in run(HitRule(3, 3, refractory=2), label)] == [2, 5, 8]
    # A hit of one class silences the others too.
    assert run(HitRule(1, 1, refractory=2), [1, 2, 3, 4]) == [(0, 1), (3, 4)]


def test_edge_cases():
    assert run(HitRule(2, 5), []) == []
    assert run(HitRule(2, 5), [7]) == []
    assert run(HitRule(1, 5), [-1] * 6) == []
    # A window that holds more than M windows of history still sees only the last M.
    assert run(HitRule(2, 2), [1, -1, 1, -1, 1]) == []


def test_array_and_live_forms_agree_on_random_sequences():
    rng = np.random.default_rng(0)
    for trial in range(200):
        n = int(rng.integers(0, 60))
        label = rng.integers(-1, 4, n)
        score, margin = rng.random(n), rng.random(n) * 0.5
        of = int(rng.integers(1, 6))
        rule = HitRule(int(rng.integers(1, of + 1)), of, float(rng.choice([0, 0.3, 0.6])),
                       float(rng.choice([0, 0.1, 0.2])), int(rng.integers(0, 8)))
        run(rule, label, score, margin)   # asserts the two forms agree


@pytest.mark.parametrize("kwargs, message", [
    (dict(wins=0), r"wins must be a positive integer, not 0"),
    (dict(wins=True), r"wins must be a positive integer, not True"),
    (dict(wins=1.5), r"wins must be a positive integer, not 1.5"),
    (dict(wins=3, of=2), r"of must be an integer >= wins \(3\): a word cannot win 3 of fewer "
                         r"windows, not 2"),
    (dict(of="3"), r"of must be an integer >= wins \(1\).*not '3'"),
    (dict(refractory=-1), r"refractory must be a number of windows >= 0, not -1"),
    (dict(refractory=0.5), r"refractory must be a number of windows >= 0, not 0.5"),
    (dict(min_score=1.5), r"min_score must be a fraction of num_weights in \[0, 1\], not 1.5"),
    (dict(min_margin=float("nan")), r"min_margin must be a fraction .* not nan"),
])
def test_bad_options_name_the_value(kwargs, message):
    with pytest.raises(ValueError, match=message):
        HitRule(**kwargs)


def test_bad_arrays_and_state():
    with pytest.raises(ValueError, match=r"1-D and of one length, not shapes \(3,\), \(2,\), "
                                         r"\(3,\)"):
        HitRule().hits([1, 2, 3], [1, 1], [1, 1, 1])
    with pytest.raises(TypeError, match="rule must be a HitRule, not 3"):
        HitState(3)
