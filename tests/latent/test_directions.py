"""Named latent directions (gan/find_directions.py, gan/direction_search.py)."""
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from gan.inputs import MAX_DIRECTION_STRENGTH, as_strengths, format_edit_spec, parse_edit_spec
from gan.latent.direction_search import (
    SearchSettings,
    complement_directions,
    factorize_first_layer,
    find_directions,
    load_directions,
    markdown_table,
    name_for,
    rotate_toward,
)
from gan.latent.directions import (
    DirectionSet,
    LatentDirection,
    apply_directions,
    generate_edited,
    read_directions,
    save_directions,
)
from gan.measure.morphology import PROPERTIES, measure_digits
from gan.model.sampling import generate_from_latents
from gan.model.weights import DIRECTIONS_FILE

SLANT_AXIS, THICKNESS_AXIS = 2, 4


class StrokeGenerator(nn.Module):
    """A hand-made stand-in for Generator: it draws one stroke whose lean is set by z[2] alone
    (leaning LEFT as z[2] grows, so naming must flip the sign) and whose thickness by z[4]
    alone. Its first layer makes axis 2 SeFa's top direction and axis 4 its second."""

    z_dim, num_classes = 8, 10

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(self.z_dim + 4, 16, bias=False)
        weight = torch.zeros(16, self.z_dim + 4)
        for axis, gain in enumerate([1.0, 1.5, 6.0, 0.5, 4.0, 0.8, 0.3, 0.2]):
            weight[axis, axis] = gain
        self.fc.weight.data = weight

    @property
    def device(self) -> torch.device:
        return self.fc.weight.device

    def synthesize(self, z: torch.Tensor, class_weights: torch.Tensor) -> torch.Tensor:
        """[-1, 1] images, as Generator.synthesize gives them."""
        return self.strokes(z).float() / 127.5 - 1.0

    def strokes(self, z: torch.Tensor) -> torch.Tensor:
        lean = -0.12 * z[:, SLANT_AXIS]                       # pixels per row, + = top right
        half_width = (1.6 + 0.35 * z[:, THICKNESS_AXIS]).clamp(0.5, 4.0)
        rows = torch.arange(28.0).view(1, 28, 1)
        cols = torch.arange(28.0).view(1, 1, 28)
        centre = 13.5 + lean.view(-1, 1, 1) * (13.5 - rows)
        distance = (cols - centre).abs() * torch.sqrt(1 + lean.view(-1, 1, 1) ** 2).reciprocal()
        ink = (half_width.view(-1, 1, 1) + 0.5 - distance).clamp(0, 1)
        ink = ink * ((rows >= 4) & (rows <= 23))
        return (ink * 255).round().to(torch.uint8).unsqueeze(1)


TINY_SEARCH = SearchSettings(count=4, candidates=8, samples_per_digit=2)


@pytest.fixture(scope="module")
def stroke_directions():
    return find_directions(StrokeGenerator(), settings=TINY_SEARCH)


def test_factorization_is_orthonormal_ordered_deterministic_and_signed(core_generator):
    eigenvalues, vectors = factorize_first_layer(core_generator)
    z_dim = core_generator.z_dim
    assert vectors.shape == (z_dim, z_dim) and eigenvalues.shape == (z_dim,)
    assert torch.allclose(vectors @ vectors.T, torch.eye(z_dim, dtype=vectors.dtype), atol=1e-10)
    assert (eigenvalues[:-1] >= eigenvalues[1:]).all()
    a = core_generator.fc.weight.double()[:, :z_dim]
    assert torch.allclose(((a @ vectors.T) ** 2).sum(0), eigenvalues, rtol=1e-8)  # vᵀAᵀAv = λ
    largest = vectors.gather(1, vectors.abs().argmax(1, keepdim=True))
    assert (largest > 0).all()                               # the sign convention
    again_values, again = factorize_first_layer(core_generator)
    assert torch.equal(again, vectors) and torch.equal(again_values, eigenvalues)


def test_factorization_finds_the_hand_made_axes():
    eigenvalues, vectors = factorize_first_layer(StrokeGenerator())
    assert vectors[0].abs().argmax() == SLANT_AXIS and vectors[1].abs().argmax() == THICKNESS_AXIS
    assert eigenvalues[:2].tolist() == pytest.approx([36.0, 16.0])


def test_known_directions_get_their_names_and_signs(stroke_directions):
    slant, thickness = stroke_directions["slant"], stroke_directions["thickness"]
    assert slant.label == "slant →" and thickness.label == "thicker"
    assert abs(slant.vector[SLANT_AXIS]) > 0.99 and abs(thickness.vector[THICKNESS_AXIS]) > 0.99
    assert slant.vector[SLANT_AXIS] < 0                      # z[2] leans left, so + is -z[2]
    assert thickness.vector[THICKNESS_AXIS] > 0
    assert slant.effects["slant"] > 1 and thickness.effects["thickness"] > 1
    # + increases the named property, measured afresh
    generator, z = StrokeGenerator(), torch.zeros(1, 8)
    for name in ("slant", "thickness"):
        more = generate_from_latents(generator, apply_directions(z, stroke_directions, {name: 2.0}), [3])
        less = generate_from_latents(generator, apply_directions(z, stroke_directions, {name: -2.0}), [3])
        assert measure_digits(more)[name][0] > measure_digits(less)[name][0]


def test_directions_without_a_dominant_effect_keep_plain_names(stroke_directions):
    assert stroke_directions.names[:2] == ["slant", "thickness"]
    rest = stroke_directions.directions[2:]
    assert [d.name for d in rest] == ["direction_3", "direction_4"]
    assert all(d.property is None and d.label.startswith("direction ") for d in rest)
    assert all(abs(d.effects["slant"]) < 0.5 and abs(d.effects["thickness"]) < 0.5 for d in rest)
    assert all(0 <= d.class_change_rate <= 1 for d in stroke_directions)
    table = markdown_table(stroke_directions)
    assert table.count("\n") == 1 + len(stroke_directions) and "| slant → | `slant` |" in table


def test_naming_rule():
    assert name_for({"slant": 1.5, "thickness": 0.3, "width": -0.2, "height": 0.1}) == "slant"
    assert name_for({"slant": 0.1, "thickness": -0.9, "width": 0.2, "height": 0.0}) == "thickness"
    assert name_for({"slant": 0.1, "thickness": 0.9, "width": 0.6, "height": 0.0}) is None  # no dominance
    assert name_for({"slant": 0.3, "thickness": 0.1, "width": 0.0, "height": 0.0}) is None  # too small
    assert name_for({"slant": 0.0, "thickness": 0.7, "area": 5.0, "length": 3.0}) == "thickness"


def test_rotation_cancels_the_other_shape_effects():
    basis = torch.eye(3, dtype=torch.float64)
    effects = torch.zeros(3, len(PROPERTIES), dtype=torch.float64).numpy()
    effects[:, PROPERTIES.index("width")] = [1.0, 1.0, 0.0]
    effects[:, PROPERTIES.index("height")] = [1.0, -1.0, 0.0]
    width = rotate_toward("width", basis, effects)
    assert width.tolist() == pytest.approx([math.sqrt(0.5), math.sqrt(0.5), 0.0])
    assert rotate_toward("slant", basis, effects) is None    # nothing moves slant


def test_complement_directions_are_orthogonal_to_the_taken_ones(core_generator):
    _, vectors = factorize_first_layer(core_generator)
    taken = [vectors[0] + vectors[3]]
    _, rest = complement_directions(core_generator, taken, 5)
    assert rest.shape == (5, core_generator.z_dim)
    assert (rest @ taken[0]).abs().max() < 1e-10
    assert torch.allclose(rest @ rest.T, torch.eye(5, dtype=rest.dtype), atol=1e-10)


def make_set(z_dim: int = 4) -> DirectionSet:
    rows = torch.eye(z_dim)
    return DirectionSet(tuple(LatentDirection(name=n, label=n, index=i, vector=tuple(rows[i].tolist()),
                                              eigenvalue=1.0) for i, n in enumerate(["slant", "width"])))


def test_apply_directions_math():
    directions = make_set()
    z = torch.zeros(2, 4)
    moved = apply_directions(z, directions, {"width": 1.5})
    assert moved.tolist() == [[0, 1.5, 0, 0]] * 2
    assert apply_directions(z, directions, [1.0, -2.0])[0].tolist() == [1.0, -2.0, 0, 0]
    per_row = apply_directions(z, directions, torch.tensor([[1.0, 0.0], [0.0, 3.0]]))
    assert per_row.tolist() == [[1, 0, 0, 0], [0, 3, 0, 0]]
    tilted = torch.tensor([[0.6, 0.8, 0, 0]])
    assert apply_directions(torch.ones(4), tilted, [2.0]).tolist() == pytest.approx([2.2, 2.6, 1, 1])
    with pytest.raises(ValueError, match="2 strengths"):
        apply_directions(z, directions, [1.0])
    with pytest.raises(ValueError, match="unknown direction 'thickness'"):
        apply_directions(z, directions, {"thickness": 1.0})


def test_parse_edit_spec_and_its_errors():
    directions = make_set()
    assert parse_edit_spec("slant=1.5, width=-1", directions.names) == {"slant": 1.5, "width": -1.0}
    assert parse_edit_spec("", directions.names) == {"slant": 0.0, "width": 0.0}
    assert parse_edit_spec(format_edit_spec({"slant": 0.0, "width": -2.25}), directions.names) == \
        {"slant": 0.0, "width": -2.25}
    for text, message in [("tilt=1", "unknown direction 'tilt'"), ("slant", "name=strength"),
                          ("slant=abc", "must be a number"), ("slant=nan", "from -3 to 3"),
                          ("width=3.5", "from -3 to 3"), ("slant=1,slant=2", "twice")]:
        with pytest.raises(ValueError, match=message):
            parse_edit_spec(text, directions.names)


def test_as_strengths_rule():
    names = ["slant", "width"]
    assert as_strengths([1, -2.5], names) == {"slant": 1.0, "width": -2.5}
    assert as_strengths('{"width": 3}', names) == {"slant": 0.0, "width": 3.0}
    assert as_strengths("[0, 0]", names) == {"slant": 0.0, "width": 0.0}
    for bad, message in [([1.0], "2 numbers"), ({"tilt": 1}, "unknown direction"),
                         ("[NaN, 0]", "from -3 to 3"), ([MAX_DIRECTION_STRENGTH + 0.1, 0], "from -3 to 3"),
                         ("not json", "JSON"), (None, "list of 2 numbers"), ([True, 0], "number"),
                         (["1", 0], "number")]:
        with pytest.raises(ValueError, match=message):
            as_strengths(bad, names)


def test_an_edit_draws_one_latent_as_every_digit(core_generator):
    directions = make_set(core_generator.z_dim)
    z = torch.randn(core_generator.z_dim, generator=torch.Generator().manual_seed(0))
    row = generate_from_latents(core_generator, apply_directions(z, directions, [2.0, -1.0]), range(10))
    assert row.shape == (10, 28, 28) and row.dtype == torch.uint8
    edited = z.clone()
    edited[0] += 2.0
    edited[1] -= 1.0
    assert torch.equal(row, generate_from_latents(core_generator, edited.expand(10, -1), torch.eye(10)))


def test_generate_edited_without_an_edit_is_generate(core_generator):
    directions = make_set(core_generator.z_dim)
    plain = core_generator.generate([3, 7], [5, 9], truncation_psi=0.7)
    edited = generate_edited(core_generator, [3, 7], [5, 9], directions=directions,
                             strengths={}, truncation_psi=0.7)
    assert torch.equal(plain, edited)
    moved = generate_edited(core_generator, [3, 7], [5, 9], directions=directions,
                            strengths={"slant": 3.0}, truncation_psi=0.7)
    assert not torch.equal(plain, moved)


def test_directions_file_round_trip_and_fingerprint(core_weights_dir, core_generator):
    from gan.model.weights import weights_fingerprint

    stored = DirectionSet(make_set(core_generator.z_dim).directions,
                          weights_sha256=weights_fingerprint(core_weights_dir), method="test")
    path = save_directions(stored, core_weights_dir)
    assert path.name == DIRECTIONS_FILE and json.loads(path.read_text())["format_version"] == 1
    assert read_directions(core_weights_dir) == stored
    assert load_directions(core_weights_dir, core_generator) == stored
    # a file made for other weights is not used: the directions are found again
    save_directions(DirectionSet(stored.directions, weights_sha256="0" * 12), core_weights_dir)
    tiny = SearchSettings(count=3, candidates=4, samples_per_digit=1)
    found = load_directions(core_weights_dir, core_generator, settings=tiny)
    assert len(found) == 3 and found.weights_sha256 == stored.weights_sha256
    assert found.method.startswith("SeFa")


def test_direction_set_lookup():
    directions = make_set()
    assert directions.names == ["slant", "width"] and len(directions) == 2
    assert directions["width"].index == 1
    with pytest.raises(KeyError, match="known: slant, width"):
        directions["tilt"]
    with pytest.raises(ValueError, match="unique"):
        DirectionSet(directions.directions * 2)


SHIPPED = Path(__file__).resolve().parents[2] / "weights"


def test_shipped_directions_describe_these_weights_and_steer_cleanly():
    from gan.model.weights import load_generator, weights_fingerprint

    stored = read_directions(SHIPPED)
    assert stored is not None, "weights/directions.json is missing: python -m gan.find_directions"
    assert stored.weights_sha256 == weights_fingerprint(SHIPPED), \
        "weights/directions.json is stale: python -m gan.find_directions --weights weights"
    generator = load_generator(SHIPPED)
    assert load_directions(SHIPPED, generator) == stored                # no search at load
    assert len(stored) == 8 and {"slant", "thickness"} <= set(stored.names)
    for name in ("slant", "thickness"):
        assert stored[name].effects[name] >= 1.0 and stored[name].class_change_rate <= 0.05
    # measured afresh on other latents: + moves the property by >= 1 real-MNIST std at +-3
    from gan.latent.direction_search import measure_directions, sample_latents
    from gan.measure.morphology import reference_std
    from gan.model.classifier import load_classifier

    z, digits = sample_latents(generator.z_dim, per_digit=10, seed=4242)
    vectors = torch.stack([stored["slant"].tensor(), stored["thickness"].tensor()])
    measured = measure_directions(generator, vectors, z=z, digits=digits, strength=MAX_DIRECTION_STRENGTH,
                                  classifier=load_classifier(), std=reference_std())
    assert measured.effects[0, PROPERTIES.index("slant")] >= 1.0
    assert measured.effects[1, PROPERTIES.index("thickness")] >= 1.0
