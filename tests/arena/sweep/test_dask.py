"""Sweeps on a real dask.distributed LocalCluster (2 worker processes): a sweep of more
than 1,000 tasks with a progress bar, a worker killed mid-sweep, and resume."""

import io
import os
import signal
import time

import pandas as pd
import pytest
from tqdm import tqdm

from arena.data import load_bundled
from arena.engine import CompetitionConfig
from arena.sweep import open_client, plan_tasks, run_task, run_tasks
from arena.sweep.results import PARTS, RESULTS, load_results
from tests.arena.sweep.test_batch import MOMENTS

CONFIG = CompetitionConfig()
MARKETS = {"GOOG": load_bundled(["GOOG"])}
# 15 SMA pairs + a seeded random agent, on 60-bar windows every 30 bars (70 windows)
BIG = ["sma_cross:fast=2..10/2,slow=12..20/4", "random:trade_prob=0.3"]


@pytest.fixture(scope="module")
def client():
    with open_client(workers=2) as c:
        yield c


def plan(grids, window=60, step=30, seeds=(0,)):
    return plan_tasks(grids, MARKETS, CONFIG, window=window, step=step, seeds=seeds).tasks


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_a_sweep_of_over_a_thousand_tasks_completes_with_a_progress_bar(client):
    tasks = plan(BIG)
    assert len(tasks) == 16 * 70 == 1120
    assert len(client.scheduler_info(n_workers=-1)["workers"]) == 2
    screen = io.StringIO()
    bar = tqdm(total=len(tasks), unit="task", file=screen, disable=False, mininterval=0)

    t0 = time.perf_counter()
    frame = run_tasks(tasks, MARKETS, CONFIG, client=client,
                      progress=lambda done, total: bar.update(done - bar.n))
    seconds = time.perf_counter() - t0
    bar.close()

    print(f"{len(tasks)} tasks in {seconds:.1f} s on 2 workers")
    assert f"{len(tasks)}/{len(tasks)}" in screen.getvalue()
    assert list(frame["task_id"]) == [t.id for t in tasks]  # one row each, in task order
    assert frame["failure"].isna().all()
    # every task is an ordinary competition: a sample run here, one by one, agrees
    # (exactly; sums and moments, added in another order by the grid pass, to 1e-9)
    for t in tasks[::97]:
        here = run_task(t, MARKETS[t.market], CONFIG)
        row = frame[frame["task_id"] == t.id].iloc[0]
        for key, value in here.items():
            assert row[key] == value or (pd.isna(row[key]) and pd.isna(value)) or (
                key in MOMENTS and row[key] == pytest.approx(value, rel=1e-9, abs=0)), key


@pytest.mark.slow
def test_a_worker_killed_mid_sweep_changes_nothing(client, tmp_path):
    tasks = plan(BIG, window=120, step=60)
    undisturbed = run_tasks(tasks, MARKETS, CONFIG)  # here, without Dask
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]
    killed_at = []

    def kill_once(done, total):
        if not killed_at and done > 0:
            os.kill(victim, signal.SIGKILL)
            killed_at.append(done)

    frame = run_tasks(tasks, MARKETS, CONFIG, client=client, out=tmp_path / "out",
                      progress=kill_once)

    assert killed_at and killed_at[0] < len(tasks) / 2  # the kill came early in the sweep
    assert not alive(victim)
    assert frame["task_id"].is_unique and len(frame) == len(tasks)
    pd.testing.assert_frame_equal(frame, undisturbed)
    on_disk = pd.read_parquet(tmp_path / "out" / RESULTS)
    pd.testing.assert_frame_equal(on_disk, undisturbed)
    # the cluster went on with a new worker in the killed one's place
    assert victim not in client.run(os.getpid).values()


@pytest.mark.slow
def test_a_resumed_sweep_runs_only_what_is_missing(client, tmp_path):
    tasks = plan(["sma_cross:fast=2..10/4,slow=12|16"], window=100, step=100)
    first = run_tasks(tasks[:25], MARKETS, CONFIG, client=client, out=tmp_path / "out")
    assert first.attrs == {"ran": 25, "resumed": 0}
    seen = []

    again = run_tasks(tasks, MARKETS, CONFIG, client=client, out=tmp_path / "out",
                      progress=lambda done, total: seen.append((done, total)))

    assert again.attrs == {"ran": len(tasks) - 25, "resumed": 25}
    assert seen[0] == (25, len(tasks)) and seen[-1] == (len(tasks), len(tasks))
    fresh = run_tasks(tasks, MARKETS, CONFIG, client=client, out=tmp_path / "fresh")
    pd.testing.assert_frame_equal(again, fresh)
    assert not list((tmp_path / "out" / PARTS).glob("*.parquet"))  # folded into the table
    pd.testing.assert_frame_equal(load_results(tmp_path / "out"), fresh)
