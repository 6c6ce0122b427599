"""Both handlers (ringfast.handlers) honour the one interface Node relies on.

Each test runs against GeventHandler (the loop is this thread's hub: the test waits
cooperatively, as a gevent application would) and ThreadHandler (a hub in a thread of its
own). The test process is not monkey-patched, so `threading` here is the real one.
"""

import threading
import time

import gevent
import pytest

from ringfast.errors import ConfigError
from ringfast.handlers import CallbackTimeout, GeventHandler, Handler, ThreadHandler, for_mode

# How application code blocks in each mode: a callback of a gevent application yields to
# the hub; one of a threaded program may block its (worker) thread.
BLOCK = {"gevent": gevent.sleep, "thread": time.sleep}


@pytest.fixture(params=["gevent", "thread"])
def mode(request):
    return request.param


@pytest.fixture
def started(mode):
    """A started handler, the real thread its loop runs on, and the ident of that thread."""
    handler = GeventHandler() if mode == "gevent" else ThreadHandler()
    where = {}
    handler.start(lambda: where.update(ident=threading.get_ident()), name=f"test-{mode}")
    yield handler, where["ident"]
    handler.stop(lambda: None, timeout=1.0)


def in_loop(handler, fn, timeout=5.0):
    """Run `fn()` in the loop from the application's side; its result, or what it raised."""
    done = handler.event()
    out = {}

    def run():
        try:
            out["value"] = fn()
        except BaseException as e:
            out["error"] = e
        finally:
            done.set()

    handler.call_soon_threadsafe(run)
    assert done.wait(timeout), "the loop never ran it"
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_both_implement_every_method_of_the_interface():
    members = {n for n in vars(Handler) if not n.startswith("_")} | set(Handler.__annotations__)
    assert {"start", "stop", "call_soon_threadsafe", "spawn", "spawn_later", "sleep", "run_callback", "event",
            "name"} <= members
    for cls in (GeventHandler, ThreadHandler):
        assert all(callable(getattr(cls, n)) for n in members if n != "name"), cls
    assert (GeventHandler.name, ThreadHandler.name) == ("gevent", "thread")


def test_for_mode_picks_the_handler():
    assert isinstance(for_mode("gevent"), GeventHandler)
    assert isinstance(for_mode("thread"), ThreadHandler)
    assert isinstance(for_mode("auto"), ThreadHandler)  # `threading` is not monkey-patched here
    with pytest.raises(ConfigError, match="mode='threads'"):
        for_mode("threads")


def test_the_loop_runs_where_the_mode_says(mode, started):
    handler, loop_ident = started
    if mode == "gevent":
        assert loop_ident == threading.get_ident()  # the application's own hub
    else:
        assert loop_ident != threading.get_ident()
        assert f"test-{mode}" in [t.name for t in threading.enumerate()]
    assert in_loop(handler, threading.get_ident) == loop_ident


def test_start_raises_what_setup_raised(mode):
    handler = GeventHandler() if mode == "gevent" else ThreadHandler()

    def setup():
        raise ConfigError("PORT=1: cannot listen")

    with pytest.raises(ConfigError, match="cannot listen"):
        handler.start(setup, name=f"failing-{mode}")
    time.sleep(0.1)
    assert f"failing-{mode}" not in [t.name for t in threading.enumerate()]  # no loop left behind


def test_stop_runs_the_teardown_in_the_loop_then_ends_a_loop_of_its_own(mode):
    handler = GeventHandler() if mode == "gevent" else ThreadHandler()
    where = {}
    handler.start(lambda: where.update(start=threading.get_ident()), name=f"stopping-{mode}")

    def teardown():
        handler.sleep(0.05)  # a teardown may wait in the loop (handoffs, closing connections)
        where["stop"] = threading.get_ident()

    handler.stop(teardown, timeout=1.0)
    assert where["stop"] == where["start"]
    assert f"stopping-{mode}" not in [t.name for t in threading.enumerate()]


def test_spawn_and_spawn_later_run_in_the_loop(started):
    handler, loop_ident = started
    seen = []
    done = handler.event()

    def later(tag):
        seen.append((tag, threading.get_ident()))
        done.set()

    def schedule():
        handler.spawn(seen.append, ("now", threading.get_ident()))
        return handler.spawn_later(0.1, later, "later")

    t0 = time.monotonic()
    in_loop(handler, schedule)
    assert done.wait(5)
    assert time.monotonic() - t0 >= 0.09
    assert seen == [("now", loop_ident), ("later", loop_ident)]


def test_call_soon_threadsafe_from_another_thread(started):
    handler, loop_ident = started
    ran_on = []
    done = handler.event()

    def from_elsewhere():
        handler.call_soon_threadsafe(lambda: (ran_on.append(threading.get_ident()), done.set()))

    other = threading.Thread(target=from_elsewhere)
    other.start()
    assert done.wait(5)  # (the gevent handler's wait yields to the hub that runs it)
    other.join()
    assert ran_on == [loop_ident]


def test_run_callback_returns_reraises_and_runs_where_application_code_runs(mode, started):
    handler, loop_ident = started
    got = []

    def cb(arg):
        got.append((arg, threading.get_ident(), gevent.getcurrent()))

    caller = in_loop(handler, lambda: (handler.run_callback(cb, "payload", 1.0), gevent.getcurrent())[1])
    [(arg, ident, greenlet)] = got
    assert arg == "payload"
    if mode == "gevent":
        assert ident == loop_ident and greenlet is not caller  # a greenlet of its own, in the hub
    else:
        assert ident not in (loop_ident, threading.get_ident())  # a worker thread

    def raises(arg):
        raise ValueError(arg)

    with pytest.raises(ValueError, match="boom"):
        in_loop(handler, lambda: handler.run_callback(raises, "boom", 1.0))


def test_a_slow_callback_times_out_and_the_loop_runs_on_meanwhile(mode, started):
    handler, _ = started
    ticks = []

    def ticker():
        while True:
            ticks.append(time.monotonic())
            handler.sleep(0.01)

    def run():
        t = handler.spawn(ticker)
        t0 = time.monotonic()
        try:
            handler.run_callback(BLOCK[mode], 1.0, timeout=0.2)
        except CallbackTimeout:
            return time.monotonic() - t0, len(ticks)
        finally:
            t.kill(block=False)
        raise AssertionError("no timeout")

    waited, ticked = in_loop(handler, run)
    assert 0.15 <= waited < 0.9  # the timeout, not the callback's second
    assert ticked >= 5  # the loop's other greenlets ran while the callback did
    time.sleep(1.0) if mode == "thread" else gevent.sleep(1.0)  # let the abandoned callback end


def test_the_event_is_set_in_the_loop_read_anywhere_and_waited_on_by_the_application(mode, started):
    handler, _ = started
    flag = handler.event()
    t0 = time.monotonic()
    assert flag.wait(0.05) is False
    assert time.monotonic() - t0 >= 0.04
    seen = []
    reader = threading.Thread(target=lambda: seen.append(flag.is_set()))
    in_loop(handler, lambda: handler.spawn_later(0.05, flag.set))
    assert flag.wait(5) is True
    reader.start()
    reader.join()
    assert seen == [True]
    in_loop(handler, flag.clear)
    assert not flag.is_set()


def test_a_gevent_handler_waits_without_blocking_the_hub():
    handler = GeventHandler()
    handler.start(lambda: None, name="unused")
    flag = handler.event()
    ran = []
    gevent.spawn(lambda: ran.append(1))
    assert flag.wait(0.05) is False
    assert ran == [1]  # another greenlet ran while the application waited
    handler.stop(lambda: None, timeout=1.0)
