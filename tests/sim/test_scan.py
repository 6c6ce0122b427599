"""tests/sim/scan.py: the tool that scans wide seed ranges, in one process or several."""

import scan


def test_a_parallel_scan_reports_what_a_serial_one_does(tmp_path, capsys, monkeypatch):
    real = scan.judge
    monkeypatch.setattr(scan, "judge", lambda seed: (["forged"], False) if seed == 4 else real(seed))
    results = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}.txt"
        status = scan.main(["0", "7", "--jobs", jobs, "--out", str(out), "--every", "3"])
        err = capsys.readouterr().err
        results[jobs] = (status, out.read_text(), [x for x in err.splitlines() if "seeds (up to" in x])
    assert results["1"][0] == results["2"][0] == 1
    assert results["1"][1] == results["2"][1] == "seed 4: ['forged']\n"
    strip = lambda lines: [x.rsplit(",", 1)[0] for x in lines]  # (the rate differs)
    assert strip(results["1"][2]) == strip(results["2"][2]) == [
        "3/7 seeds (up to 2), 0 failing", "6/7 seeds (up to 5), 1 failing", "7/7 seeds (up to 6), 1 failing"]
