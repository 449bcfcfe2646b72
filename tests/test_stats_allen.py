"""The Allen Brain Observatory's natural-scenes metrics, against a worked
example computed by hand.

One neuron, 3 images, 3 trials of 3 windows each:

- image 0: all counts 0 -> mean response 0;
- image 1: all counts 1 -> mean response 1;
- image 2 (preferred): trials [1, 2, 3], [2, 4, 6], [3, 2, 1]
  -> mean response (6 + 12 + 6) / 9 = 8/3.

Lifetime sparseness (Vinje-Gallant, n = 3): Σr = 11/3, (Σr)² = 121/9,
Σr² = 1 + 64/9 = 73/9; (Σr)²/(n Σr²) = 121/219;
S = (1 - 121/219) / (1 - 1/3) = (98/219)(3/2) = 147/219 = 0.671233.

Image selectivity (AllenSDK, 1000 thresholds t_j = j (8/3)/1000): t_j < 1 for
j = 0 ... 374 (375 thresholds, where images 1 and 2 exceed it: 2/3); for
j = 375 ... 999 (625 thresholds, t_375 = 1 exactly and 1 > 1 is false) only
image 2 does: 1/3. A = (375 * 2/3 + 625 * 1/3) / 1000 = 458.333/1000;
selectivity = 1 - 2A = 1/12 = 0.083333.

Reliability at the preferred image: trials 1 and 2 correlate +1 (one is twice
the other), trial 3 is the reverse of both (-1, -1); mean over the 3 pairs
= -1/3.
"""

import numpy as np
import pytest

from ipvae_snn.stats import (allen_lifetime_sparseness, image_selectivity,
                             natural_scenes_metrics, reliability)
from ipvae_snn.validation import InputError


def _worked_example():
    counts = np.zeros((3, 3, 3, 1))
    counts[1] = 1.0
    counts[2, :, :, 0] = [[1, 2, 3], [2, 4, 6], [3, 2, 1]]
    return counts


def test_worked_example_by_hand():
    m = natural_scenes_metrics(_worked_example())
    np.testing.assert_allclose(m.mean_responses[:, 0], [0.0, 1.0, 8.0 / 3.0])
    assert m.preferred_image.tolist() == [2]
    assert m.lifetime_sparseness[0] == pytest.approx(147 / 219)
    assert m.image_selectivity[0] == pytest.approx(1 / 12)
    assert m.reliability[0] == pytest.approx(-1 / 3)
    assert m.summary()["n_responsive"] == 1


def test_image_selectivity_second_hand_example():
    # responses 0, 1, 3: t_j < 1 for j = 0..333 (334 thresholds, fraction 2/3),
    # then 666 thresholds with 1/3: A = (334*2 + 666)/3000, 1 - 2A = 332/3000
    assert image_selectivity([0.0, 1.0, 3.0]) == pytest.approx(332 / 3000)
    # one image of n drives the neuron: A = 1/n at every threshold -> 1 - 2/n
    for n in (2, 4, 10):
        assert image_selectivity(np.eye(n)[0]) == pytest.approx(1 - 2 / n)
    assert np.isnan(image_selectivity([2.0, 2.0, 2.0]))
    # columns are neurons
    np.testing.assert_allclose(image_selectivity(np.array([[0.0, 0.0], [1.0, 1.0],
                                                           [3.0, 0.0]])),
                               [332 / 3000, 1 - 2 / 3])


def test_lifetime_sparseness_limits():
    np.testing.assert_allclose(allen_lifetime_sparseness(np.eye(5)), 1.0)
    np.testing.assert_allclose(allen_lifetime_sparseness(np.ones((5, 2))), 0.0)
    assert allen_lifetime_sparseness([[0.0], [1.0], [3.0]])[0] == pytest.approx(0.7)


def test_reliability_identical_trials_and_constant_trials():
    t = np.array([0.0, 3.0, 1.0, 2.0])
    assert reliability(np.stack([t, t, 2 * t + 1])) == pytest.approx(1.0)
    # a constant trial has no correlation: its pairs are left out
    assert reliability(np.stack([t, t, np.ones(4)])) == pytest.approx(1.0)
    assert np.isnan(reliability(np.ones((3, 4))))


@pytest.mark.parametrize("call", [
    lambda: natural_scenes_metrics(np.ones((1, 3, 3, 2))),
    lambda: reliability(np.ones((1, 4))),
    lambda: image_selectivity([1.0]),
    lambda: allen_lifetime_sparseness([1.0, 2.0]),
])
def test_bad_shapes_are_input_errors(call):
    with pytest.raises(InputError):
        call()
