"""Where a damaged video lost frames is said in one readable line: ranges, a few places named, the rest counted."""

from nodes.frame_places import FramePlaces, clock


def test_places_are_said_as_ranges_in_order_then_counted():
    places = FramePlaces(30)
    for first in range(1000, 0, -100):  # a file damaged all through, found out of order
        places.add(first, first + 2)
    places.add(103)  # next to the place before: one range
    places.add(45)
    assert places.said() == ("frame 45 (0:01.50), frames 100-103 (0:03.33-0:03.43), frames 200-202 "
                             "(0:06.67-0:06.73) and 8 more places")


def test_two_places_are_joined_by_and():
    places = FramePlaces(25)
    places.add(10)
    places.add(50, 51)
    assert places.said() == "frame 10 (0:00.40) and frames 50-51 (0:02.00-0:02.04)"
    assert FramePlaces(25).said() == ""


def test_places_past_those_kept_are_counted_not_held():
    places = FramePlaces(30)
    for frame in range(0, 100_000, 2):
        places.add(frame)
    assert places.said().endswith(" and 49997 more places") and len(places._spans) < 100


def test_a_time_is_said_as_a_player_shows_it():
    assert [clock(s) for s in (0, 1.5, 59.999, 61.25, 3723.25)] == ["0:00.00", "0:01.50", "1:00.00", "1:01.25",
                                                                    "1:02:03.25"]
