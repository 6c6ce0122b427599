"""`ringfast node`'s address flags and the line it stops with when HOST cannot be chosen."""

from __future__ import annotations

import pytest

from ringfast import addresses, cli


def test_host_unset_with_seeds_that_do_not_resolve_stops_with_status_2_and_one_line(monkeypatch, capsys):
    monkeypatch.setattr(addresses, "lookup", lambda host, port: [])  # as while the peers' records are missing
    for name in ("HOST", "RINGFAST_HOST", "RINGFAST_ADVERTISE"):
        monkeypatch.delenv(name, raising=False)
    code = cli.main(["node", "--port", "7001", "--seeds", "node-a:7001,node-b:7001", "--monitoring-port", "off"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert err[0] == ("ringfast: HOST is not set and the seed nodes (node-a:7001, node-b:7001) are not on loopback, "
                      "and none of them resolves yet to find this machine's address on their network: set HOST "
                      "(--host) to this machine's address, or RINGFAST_ADVERTISE (--advertise) to the name the "
                      "others reach it by")


@pytest.mark.parametrize("value", ["a b", "h:0"])
def test_a_bad_advertise_flag_is_named(value, capsys):
    assert cli.main(["node", "--advertise", value]) == 2
    assert capsys.readouterr().err.startswith(f"ringfast: --advertise={value!r}")


def test_the_flags_reach_the_config(monkeypatch):
    monkeypatch.setenv("PORT", "7009")  # ring-election's name: read by `ringfast node`
    args = cli.build_parser().parse_args(["node", "--host", "0.0.0.0", "--advertise", "node-b", "--seeds", "node-a:7009,node-b:7009"])
    cfg = cli._node_config(args)
    assert (cfg.host, cfg.address, cfg.priority, cfg.monitoring_port) == ("0.0.0.0", "node-b:7009", 1, 9000)
