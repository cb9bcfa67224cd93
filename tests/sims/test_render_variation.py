"""Render variations: drawn reproducibly from their ranges, and applied to the pixels as drawn."""

from __future__ import annotations

import colorsys

import numpy as np

from sims.render_variation import (
    HELD_OUT_HUES,
    MARKING_RGB,
    ROAD_RGB,
    VARIATIONS,
    RenderVariation,
)


def test_draws_are_reproducible_within_their_ranges_and_training_avoids_the_held_out_hues():
    ranges = VARIATIONS["train"]
    draws = [RenderVariation.draw(ranges, np.random.default_rng([31, seed])) for seed in range(200)]
    again = RenderVariation.draw(ranges, np.random.default_rng([31, 7]))
    assert again == draws[7]
    assert all(0.8 <= d.zoom <= 1.2 and 0.5 <= d.brightness <= 1.5 for d in draws)
    coloured = [d for d in draws if d.traffic_rgb is not None]
    assert 0.55 < len(coloured) / len(draws) < 0.85  # colour_share 0.7
    for d in coloured:
        for rgb in (d.traffic_rgb, d.ego_rgb):
            hue = colorsys.rgb_to_hsv(*(channel / 255 for channel in rgb))[0]
            assert not HELD_OUT_HUES[0] + 0.01 < hue < HELD_OUT_HUES[1] - 0.01
    unseen = RenderVariation.draw(VARIATIONS["unseen-colours"], np.random.default_rng(0))
    assert unseen.zoom == 1.0 and unseen.road_rgb is None and unseen.traffic_rgb is not None
    hue = colorsys.rgb_to_hsv(*(channel / 255 for channel in unseen.traffic_rgb))[0]
    assert HELD_OUT_HUES[0] - 0.01 <= hue <= HELD_OUT_HUES[1] + 0.01


def test_the_colours_variation_recolours_every_episode_outside_the_held_out_hues_and_nothing_else():
    draws = [
        RenderVariation.draw(VARIATIONS["colours"], np.random.default_rng([31, seed]))
        for seed in range(100)
    ]
    for d in draws:
        assert (d.zoom, d.brightness, d.blur_px, d.noise_std) == (1.0, 1.0, 0.0, 0.0)
        assert None not in (d.traffic_rgb, d.ego_rgb, d.road_rgb, d.marking_rgb)
        for rgb in (d.traffic_rgb, d.ego_rgb):
            hue = colorsys.rgb_to_hsv(*(channel / 255 for channel in rgb))[0]
            assert not HELD_OUT_HUES[0] + 0.01 < hue < HELD_OUT_HUES[1] - 0.01


def test_the_road_and_markings_are_recoloured_then_the_brightness_scales_every_pixel():
    image = np.zeros((4, 4, 3), dtype=np.uint8)
    image[:2] = ROAD_RGB
    image[2] = MARKING_RGB
    image[3] = (200, 50, 0)  # a vehicle
    variation = RenderVariation(brightness=0.5, road_rgb=(80, 90, 100), marking_rgb=(250, 240, 200))
    out = variation.apply(image, np.random.default_rng(0))
    np.testing.assert_array_equal(out[0, 0], [40, 45, 50])
    np.testing.assert_array_equal(out[2, 0], [125, 120, 100])
    np.testing.assert_array_equal(out[3, 0], [100, 25, 0])
    plain = RenderVariation().apply(image, np.random.default_rng(0))
    np.testing.assert_array_equal(plain, image)
    noisy = RenderVariation(noise_std=0.05, blur_px=1.0).apply(image, np.random.default_rng(0))
    assert noisy.dtype == np.uint8 and not np.array_equal(noisy, image)


class _Vehicle:
    color = None


def test_paint_gives_the_ego_and_the_traffic_their_colours():
    ego, other = _Vehicle(), _Vehicle()
    RenderVariation(traffic_rgb=(1, 2, 3), ego_rgb=(4, 5, 6)).paint([ego, other], ego)
    assert ego.color == (4, 5, 6) and other.color == (1, 2, 3)
    untouched = _Vehicle()
    RenderVariation().paint([untouched], ego)
    assert untouched.color is None


def test_each_road_and_episode_draws_its_own_variation():
    from drive.runs.frame_dataset import episode_generator

    ranges = VARIATIONS["train"]
    draws = {
        (road, seed): RenderVariation.draw(ranges, episode_generator(road, seed))
        for road in ("highway", "roundabout")
        for seed in (1000, 1001)
    }
    assert len(set(draws.values())) == 4
    assert (
        RenderVariation.draw(ranges, episode_generator("highway", 1000)) == draws["highway", 1000]
    )
