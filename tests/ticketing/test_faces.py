"""Face templates and gallery matching (pure)."""

from __future__ import annotations

import numpy as np
import pytest

from ticketing.checkin_errors import FaceAmbiguous, InvalidTemplate, NoFaceMatch
from ticketing.faces import Gallery, from_bytes, match, normalise, to_bytes

DIM = 128


def rand_unit(rng, n=1):
    v = rng.standard_normal((n, DIM))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_normalise_validates_dimension_and_values():
    assert np.isclose(np.linalg.norm(normalise([1.0] * DIM, DIM)), 1.0)
    for bad in ([1.0] * (DIM - 1), [[1.0] * DIM], [float("nan")] + [1.0] * (DIM - 1),
                [0.0] * DIM, ["x"] * DIM):
        with pytest.raises(InvalidTemplate):
            normalise(bad, DIM)


def test_bytes_round_trip():
    v = normalise(np.arange(1, DIM + 1, dtype=float), DIM)
    assert np.array_equal(from_bytes(to_bytes(v)), v)
    assert len(to_bytes(v)) == DIM * 4


def test_genuine_matches_impostor_does_not():
    rng = np.random.default_rng(1)
    enrolled = rand_unit(rng, 50)
    g = Gallery.of([(f"acc{i}", normalise(t, DIM)) for i, t in enumerate(enrolled)], DIM)
    probe = normalise(enrolled[17] + rng.normal(0, 0.04, DIM), DIM)
    who, score = match(g, probe, 0.6)
    assert who == "acc17" and score > 0.6
    with pytest.raises(NoFaceMatch):
        match(g, normalise(rand_unit(rng)[0], DIM), 0.6)


def test_two_entries_above_threshold_is_ambiguous():
    rng = np.random.default_rng(2)
    twin = rand_unit(rng)[0]
    g = Gallery.of([("a", normalise(twin, DIM)),
                    ("b", normalise(twin + rng.normal(0, 0.01, DIM), DIM)),
                    ("c", normalise(rand_unit(rng)[0], DIM))], DIM)
    with pytest.raises(FaceAmbiguous):
        match(g, normalise(twin, DIM), 0.6)


def test_empty_gallery_is_no_match():
    with pytest.raises(NoFaceMatch):
        match(Gallery.of([], DIM), normalise([1.0] * DIM, DIM), 0.6)


def test_repr_hides_templates():
    g = Gallery.of([("a", normalise([0.123456] * DIM, DIM))], DIM)
    assert "0.08" not in repr(g) and repr(g) == "Gallery(n=1)"
