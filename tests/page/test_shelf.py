"""A conversation survives a reload of its tab, and only its own tab gets it back."""

from page.shelf import Shelf
from page.state import PageState


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def gone(_session: str) -> bool:
    return False


def test_a_reloaded_tab_gets_its_conversation_back():
    shelf, state = Shelf(), PageState()
    key = shelf.keep(state, identity=None, owner="tab-1")
    assert shelf.take(key, identity=None, owner="tab-1-reloaded", alive=gone) is state


def test_no_key_or_an_unknown_key_gets_nothing():
    shelf = Shelf()
    shelf.keep(PageState(), identity=None, owner="tab-1")
    assert shelf.take(None, identity=None, owner="tab-2", alive=gone) is None
    assert shelf.take("guessed", identity=None, owner="tab-2", alive=gone) is None


def test_keys_are_unguessable_and_never_repeat():
    shelf = Shelf()
    keys = {shelf.keep(PageState(), identity=None, owner=f"tab-{i}") for i in range(200)}
    assert len(keys) == 200 and all(len(key) >= 20 for key in keys)


def test_another_signed_in_person_cannot_take_it():
    shelf, state = Shelf(), PageState()
    key = shelf.keep(state, identity="ana@desk.example", owner="tab-1")
    assert shelf.take(key, identity="bo@desk.example", owner="tab-2", alive=gone) is None
    assert shelf.take(key, identity=None, owner="tab-2", alive=gone) is None
    assert shelf.take(key, identity="ana@desk.example", owner="tab-2", alive=gone) is state


def test_a_duplicated_tab_does_not_share_the_open_tabs_conversation():
    shelf, state = Shelf(), PageState()
    key = shelf.keep(state, identity=None, owner="tab-1")
    assert shelf.take(key, identity=None, owner="tab-2", alive=lambda s: s == "tab-1") is None
    # Once the first tab is closed, a reload gets it.
    assert shelf.take(key, identity=None, owner="tab-3", alive=gone) is state


def test_a_conversation_unused_for_hours_is_forgotten_and_use_keeps_it():
    clock = Clock()
    shelf = Shelf(keep_s=100, clock=clock)
    used = shelf.keep(PageState(), identity=None, owner="tab-1")
    idle = shelf.keep(PageState(), identity=None, owner="tab-2")
    clock.now = 60
    shelf.touch(used)
    clock.now = 130
    assert shelf.take(idle, identity=None, owner="tab-2b", alive=gone) is None
    assert shelf.take(used, identity=None, owner="tab-1b", alive=gone) is not None


def test_the_least_recently_used_goes_first_past_the_cap():
    shelf = Shelf(capacity=3)
    keys = [shelf.keep(PageState(), identity=None, owner=f"tab-{i}") for i in range(3)]
    shelf.touch(keys[0])
    shelf.keep(PageState(), identity=None, owner="tab-3")
    assert len(shelf) == 3
    assert shelf.take(keys[1], identity=None, owner="x", alive=gone) is None
    assert shelf.take(keys[0], identity=None, owner="y", alive=gone) is not None
