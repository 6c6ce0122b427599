"""The live ring dashboard (GET /) in a real headless Chromium, against a live 3-node ring.

One page stays open for the whole test (no reload): it must show every partition owned by a
live follower, the leader and the epoch; after a follower is killed (SIGKILL) the same page
must show all partitions with the surviving follower and the dead member gone; after the node
serving the page is killed, it must say the node is unreachable.

Needs Debian's `chromium` (CI installs it: `apt-get install -y chromium`); the test is skipped
with the reason when no Chromium is found, unless RINGFAST_REQUIRE_CHROMIUM is set (CI), which
makes that a failure. Set RINGFAST_CHROMIUM to use another binary.
A screenshot of the settled ring is left in the test's tmp_path (dashboard.png).
"""

from __future__ import annotations

import json
import os
import re
from importlib import resources

import pytest

from headless import Chromium, find_chromium
from support import wait_for

# What the page shows, read through its stable DOM hooks (see the comment in dashboard.html).
SNAPSHOT_JS = """JSON.stringify((() => {
  const leader = document.getElementById("leader");
  const segs = [...document.querySelectorAll("#ring [data-partition]")];
  return {
    state: document.body.dataset.state,
    leader: leader.dataset.leader,
    leaderText: leader.textContent,
    epoch: document.getElementById("epoch").textContent,
    partitions: segs.map((e) => [Number(e.dataset.partition), e.dataset.owner, getComputedStyle(e).fill]),
    members: [...document.querySelectorAll("#members tr[data-member]")].map((e) => [e.dataset.member, e.dataset.role]),
    banner: getComputedStyle(document.getElementById("banner")).display,
    resources: performance.getEntriesByType("resource").map((e) => e.name),
  };
})())"""


def test_dashboard_is_self_contained():
    html = resources.files("ringfast").joinpath("dashboard.html").read_text(encoding="utf-8")
    assert not re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", html, re.I), "external resource"
    assert not re.search(r"@import|url\(", html), "CSS loading something"
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", html))
    assert urls <= {"http://www.w3.org/2000/svg"}, urls  # the SVG namespace is a name, not a fetch
    assert re.search(r"""STATUS_URL = "status"|fetch\("status\"""", html), "polls status by a relative URL"


@pytest.fixture
def browser(tmp_path):
    executable = find_chromium()
    if executable is None:
        reason = "no chromium found: install Debian's chromium (apt-get install -y chromium) or set RINGFAST_CHROMIUM"
        if os.environ.get("RINGFAST_REQUIRE_CHROMIUM"):  # CI sets it: the browser test must run there
            pytest.fail(reason + " (RINGFAST_REQUIRE_CHROMIUM is set)")
        pytest.skip(reason)
    chromium = Chromium.launch(executable, tmp_path / "chromium-profile", tmp_path / "chromium.log")
    try:
        yield chromium
    finally:
        chromium.close()


def read(page) -> dict:
    return json.loads(page.evaluate(SNAPSHOT_JS))


@pytest.mark.cluster
def test_dashboard_follows_the_live_ring(live_ring, browser, tmp_path):
    ring = live_ring(n=3, partitions=10)
    leader, status = ring.wait_settled()
    followers = sorted(n for n in ring.nodes if n != leader)
    viewer, victim = followers  # the page is served by one follower; the other will be killed
    expected = {p: m["id"] for m in status["members"] for p in m["partitions"]}

    page = browser.new_page(ring.nodes[viewer].url("/"))

    def shows_settled_ring():
        view = read(page)
        return view if view["state"] == "ok" and {p: o for p, o, _ in view["partitions"]} == expected else None

    # (a page still loading, or a node being killed, may raise: that is a poll that failed)
    view = wait_for(shows_settled_ring, 30, "the dashboard to draw the settled ring",
                    interval=0.1, retry_on=(Exception,))
    (tmp_path / "dashboard.png").write_bytes(page.screenshot())

    assert [p for p, _, _ in view["partitions"]] == list(range(10)), "one segment per partition, in order"
    assert {o for _, o, _ in view["partitions"]} == set(followers), "every partition owned by a live follower"
    assert view["leader"] == leader and view["leaderText"] == leader
    assert view["epoch"] == str(status["epoch"])
    assert dict(view["members"]) == {leader: "leader", **{f: "follower" for f in followers}}
    assert view["banner"] == "none"
    fills = {owner: {fill for _, o, fill in view["partitions"] if o == owner} for owner in followers}
    assert all(len(f) == 1 for f in fills.values()), f"one colour per owner: {fills}"
    assert fills[followers[0]] != fills[followers[1]], f"owners have different colours: {fills}"
    origin = ring.nodes[viewer].url("")
    assert view["resources"] and all(url.startswith(origin) for url in view["resources"]), view["resources"]

    ring.kill(victim)

    def shows_failover():
        view = read(page)
        owners = {p: o for p, o, _ in view["partitions"]}
        members = dict(view["members"])
        done = (
            view["state"] == "ok"
            and owners == {p: viewer for p in range(10)}
            and members == {leader: "leader", viewer: "follower"}
            and view["leader"] == leader
        )
        return view if done else None

    view = wait_for(shows_failover, 40, f"the same page to show {victim}'s partitions moved to {viewer}",
                    interval=0.1, retry_on=(Exception,))
    assert {fill for _, _, fill in view["partitions"]} == fills[viewer], "the survivor kept its colour"

    ring.kill(viewer)

    def shows_unreachable():
        view = read(page)
        return view if view["state"] == "unreachable" and view["banner"] != "none" else None

    view = wait_for(shows_unreachable, 20, "the page to say its node is unreachable",
                    interval=0.1, retry_on=(Exception,))
    assert {p: o for p, o, _ in view["partitions"]} == {p: viewer for p in range(10)}, "the last view stays drawn"
