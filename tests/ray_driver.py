"""Runs `inpainterz batch` commands against a real local Ray cluster.

tests/test_batch_ray.py starts this script inside a loopback-only network
namespace (`unshare -n`), where Ray's addresses are 127.0.0.1. It starts a
head node and two worker nodes (one CPU each; the workers carry a fake GPU),
runs the planned commands one after another, and stops the cluster.

A planned run may first add a worker node that does not see a folder (the
last run: the node stays until the cluster stops). It may name a pid file: the TSlow test node appends "pid seconds"
to it when it starts, and this driver kills (SIGKILL) the first process whose
node sleeps at least `kill_after_seconds`, mid-shot.

Usage: python tests/ray_driver.py PLAN.json   (writes the plan's "results" file)
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

PORT = 6399


def _kill_when_started(pidfile: Path, min_seconds: float, deadline: float, skip: int) -> int | None:
    while time.monotonic() < deadline:
        if pidfile.exists():
            for line in pidfile.read_text().splitlines()[skip:]:
                pid, seconds = line.split()
                if float(seconds) >= min_seconds:
                    time.sleep(0.5)  # well inside the node's sleep: mid-shot
                    os.kill(int(pid), signal.SIGKILL)
                    return int(pid)
        time.sleep(0.05)
    return None


def add_node_blind_to(folder: str, ray: list[str], env: dict) -> None:
    """One more worker node, in its own mount namespace where `folder` is an empty tmpfs:
    a machine that does not mount the shared storage."""
    start = " ".join(ray + ["start", f"--address=127.0.0.1:{PORT}", "--num-cpus=1", "--disable-usage-stats"])
    subprocess.run(["unshare", "-m", "sh", "-c", f"mount -t tmpfs tmpfs '{folder}' && {start}"], env=env, check=True,
                   capture_output=True, text=True, timeout=180)


def run_one(run: dict, env: dict) -> dict:
    env = dict(env, **run.get("env", {}))
    if run.get("add_node_blind_to"):
        add_node_blind_to(run["add_node_blind_to"], [str(Path(sys.executable).parent / "ray")], env)
    pidfile = Path(run.get("kill_pidfile", "-"))
    earlier = len(pidfile.read_text().splitlines()) if pidfile.is_file() else 0  # starts of earlier runs
    t0 = time.monotonic()
    proc = subprocess.Popen(run["argv"], cwd=run["cwd"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    killed = None
    if run.get("kill_pidfile"):
        killed = _kill_when_started(pidfile, run["kill_after_seconds"], t0 + 120, earlier)
    try:
        out, err = proc.communicate(timeout=run.get("timeout", 300))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += "\n(driver: the command timed out)"
    return {"name": run["name"], "rc": proc.returncode, "stdout": out, "stderr": err, "killed": killed,
            "seconds": time.monotonic() - t0}


def main(plan_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    env = dict(os.environ, RAY_AUTH_MODE="disabled", **plan.get("env", {}))
    ray = [str(Path(sys.executable).parent / "ray")]

    def ray_cmd(*args):
        subprocess.run(ray + list(args), env=env, check=True, capture_output=True, text=True, timeout=180)

    results = []
    try:
        for run in plan.get("before_cluster", []):
            results.append(run_one(run, env))
        ray_cmd("start", "--head", f"--port={PORT}", "--num-cpus=1", "--include-dashboard=false",
                "--disable-usage-stats")
        for _ in range(2):
            ray_cmd("start", f"--address=127.0.0.1:{PORT}", "--num-cpus=1", "--num-gpus=1", "--disable-usage-stats")
        for run in plan["runs"]:
            results.append(run_one(run, env))
    except subprocess.CalledProcessError as exc:
        results.append({"name": "cluster", "rc": exc.returncode, "stdout": exc.stdout, "stderr": exc.stderr})
    finally:
        subprocess.run(ray + ["stop", "--force"], env=env, capture_output=True, timeout=180)
        Path(plan["results"]).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
