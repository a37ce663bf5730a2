"""A bulletin's language versions routed by village: which versions, in which order."""

from __future__ import annotations

from controller.domain.languages import heard_languages, is_whole, route, variant_key


def test_a_village_hears_its_languages_in_the_order_the_station_set():
    parts = ["vi", "hmn"]
    assert route(parts, ["vi"]) == (0,)
    assert route(parts, ["hmn"]) == (1,)
    assert route(parts, ["hmn", "vi"]) == (1, 0)
    assert route(parts, ["vi", "hmn"]) == (0, 1)
    assert is_whole(route(parts, ["vi", "hmn"]), 2)
    assert not is_whole(route(parts, ["hmn", "vi"]), 2)


def test_a_village_that_hears_none_of_the_versions_hears_them_all():
    assert route(["hmn", "tdd"], ["vi"]) == (0, 1)


def test_two_versions_in_one_language_both_play_in_their_order():
    assert route(["vi", "hmn", "vi"], ["vi"]) == (0, 2)
    assert route(["vi", "hmn", "vi"], ["hmn", "vi"]) == (1, 0, 2)
    assert variant_key((1, 0, 2)) == "1,0,2"


def test_a_loudspeaker_in_several_villages_hears_each_ones_languages_once():
    assert heard_languages([["hmn", "vi"], ["vi", "tdd"]]) == ["hmn", "vi", "tdd"]
    assert heard_languages([]) == ["vi"]
