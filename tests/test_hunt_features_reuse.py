"""--split test draws the reference as the test subset: its features were extracted twice (for
FD/KID/PRDC and again for the copy audit's threshold), minutes of Inception on a CPU."""

import numpy as np

from gaunet.data import load_source
from gaunet.data.splits import assign_split
from gaunet.metrics.evaluate import draw_sets
from gaunet.metrics.features import ExtractorSettings
from gaunet.metrics.inputs import MetricInputs


class Counting:
    name = metric_name = "counting"
    dim = 2

    def __init__(self):
        self.images = 0

    def __call__(self, images):
        self.images += len(images)
        return images.reshape(len(images), -1)[:, :2].astype(np.float32)

    def describe(self):
        return {}


def _inputs(split):
    real = load_source("phantom:n=40,classes=2,seed=0", size=16, channels=1)
    synthetic = load_source("phantom:n=10,classes=2,seed=9", size=16, channels=1)
    sets = draw_sets(assign_split(real, seed=0), synthetic, split, max_images=8, seed=0)
    counting = Counting()
    inputs = MetricInputs(
        **sets, synthetic_labels=sets["synthetic"].labels, class_names=real.class_names,
        settings=ExtractorSettings(), features=("counting",), _extractors={"counting": counting},
    )  # fmt: skip
    return inputs, counting


def test_the_test_subset_is_extracted_once_when_it_is_the_reference():
    inputs, counting = _inputs("test")
    reference = inputs.features_of("counting", "reference")
    test = inputs.features_of("counting", "test")
    assert counting.images == len(inputs.reference) == 8
    np.testing.assert_array_equal(test, reference)
    # another reference split (val): the test subset is its own, and extracted
    inputs, counting = _inputs("val")
    inputs.features_of("counting", "reference")
    test = inputs.features_of("counting", "test")
    assert counting.images == len(inputs.reference) + len(inputs.test)
    np.testing.assert_array_equal(test, Counting()(inputs.test.images))
