"""Interleaved benchmark of a 3-member etcd and a 3-member Podium on 127.0.0.1 (see tools/bench-vs-etcd)."""
import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

# name, bench arguments, the figure compared, whether higher is better, the figure's unit
WORKLOADS = [
    ("put-1", ["put", "--target", "leader", "--conns", "1", "--clients", "1", "--total", "3000"], "throughput", True, "puts/s"),
    ("put-1-latency", None, "p50", False, "ms"),
    ("put-100", ["put", "--target", "leader", "--conns", "10", "--clients", "100", "--total", "50000"], "throughput", True, "puts/s"),
    ("put-1000", ["put", "--target", "leader", "--conns", "100", "--clients", "1000", "--total", "100000"], "throughput", True, "puts/s"),
    # A steady trickle, as Leases and controllers write: every put is its own consensus round, nothing to batch.
    ("put-300-per-s", ["put", "--target", "leader", "--conns", "4", "--clients", "20", "--rate", "300", "--total", "6000",
                       "--val-size", "600", "--key-space-size", "1000"], "throughput", True, "puts/s"),
    ("range-l-1", ["range", "--target", "leader", "--consistency", "l", "--conns", "1", "--clients", "1", "--total", "5000"], "throughput", True, "reads/s"),
    ("range-l-100", ["range", "--target", "leader", "--consistency", "l", "--conns", "10", "--clients", "100", "--total", "50000"], "throughput", True, "reads/s"),
    ("range-s-1", ["range", "--target", "leader", "--consistency", "s", "--conns", "1", "--clients", "1", "--total", "5000"], "throughput", True, "reads/s"),
    ("range-s-100", ["range", "--target", "leader", "--consistency", "s", "--conns", "10", "--clients", "100", "--total", "50000"], "throughput", True, "reads/s"),
    ("watch-1000-on-1-key", ["watch", "--target", "leader", "--watchers", "1000", "--streams", "10", "--watched-keys", "1",
                             "--conns", "1", "--clients", "10", "--rate", "2000", "--total", "4000"], "eventsPerSecond", True, "events/s"),
    ("watch-1000-on-1-key-p99", None, "delivery-p99", False, "ms"),
    # Puts as fast as 10 clients go: the events a second each server delivers to 1000 watchers when nothing else
    # bounds it (at the fixed rate above both may deliver everything offered).
    ("watch-1000-on-1-key-unthrottled", ["watch", "--target", "leader", "--watchers", "1000", "--streams", "10",
                                         "--watched-keys", "1", "--conns", "1", "--clients", "10", "--total", "8000"],
     "eventsPerSecond", True, "events/s"),
    ("watch-1000-on-1000-keys", ["watch", "--target", "leader", "--watchers", "1000", "--streams", "10", "--watched-keys", "1000",
                                 "--conns", "1", "--clients", "10", "--rate", "1000", "--total", "5000"], "eventsPerSecond", True, "events/s"),
    ("watch-1000-on-1000-keys-p99", None, "delivery-p99", False, "ms"),
    ("put-100-100-stalled-watchers", ["watch", "--target", "leader", "--watchers", "10", "--streams", "1", "--watched-keys", "10",
                                      "--stalled-watchers", "100", "--conns", "10", "--clients", "100", "--total", "50000"],
     "throughput", True, "puts/s"),
    ("watch-catchup-100k", ["watch-catchup", "--target", "leader", "--revisions", "100000", "--conns", "10", "--clients", "100"],
     "eventsPerSecond", True, "events/s"),
]
DERIVED = {"put-1-latency": "put-1", "watch-1000-on-1-key-p99": "watch-1000-on-1-key",
           "watch-1000-on-1000-keys-p99": "watch-1000-on-1000-keys"}
# The workloads whose servers' CPU per put is reported: saturated (batched) and a trickle (unbatched).
CPU_WORKLOADS = ["put-1000", "put-300-per-s"]


def free_ports(count):
    ports = []
    sockets = []
    while len(ports) < count:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


class Cluster:
    """Three members of etcd or Podium, each a process with its data under `root`."""

    def __init__(self, kind, podium, root):
        self.kind = kind
        self.podium = podium
        self.root = os.path.join(root, kind)
        self.processes = []
        ports = free_ports(6)
        self.client_ports = ports[0::2]
        self.peer_ports = ports[1::2]
        self.endpoints = ",".join(f"127.0.0.1:{p}" for p in self.client_ports)

    def start(self):
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root)
        initial = ",".join(f"m{i}=http://127.0.0.1:{p}" for i, p in enumerate(self.peer_ports))
        for i in range(3):
            name = f"m{i}"
            command = [self.podium, "store"] if self.kind == "podium" else ["etcd"]
            command += ["--name", name, "--data-dir", os.path.join(self.root, name),
                        "--listen-client-urls", f"http://127.0.0.1:{self.client_ports[i]}",
                        "--advertise-client-urls", f"http://127.0.0.1:{self.client_ports[i]}",
                        "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
                        "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[i]}",
                        "--initial-cluster", initial, "--initial-cluster-state", "new",
                        "--initial-cluster-token", f"bench-{self.kind}"]
            log = open(os.path.join(self.root, f"{name}.log"), "w")
            self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                                   start_new_session=True))
        deadline = time.time() + 60
        while time.time() < deadline:
            result = subprocess.run(["etcdctl", "--endpoints", self.endpoints, "--command-timeout", "2s",
                                     "endpoint", "status", "-w", "json"], capture_output=True, text=True)
            if result.returncode == 0:
                statuses = json.loads(result.stdout)
                if all(s["Status"].get("leader", 0) != 0 for s in statuses):
                    return
            time.sleep(0.2)
        raise SystemExit(f"{self.kind} did not become healthy within 60 s (logs in {self.root})")

    def cpu_seconds(self):
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for process in self.processes:
            with open(f"/proc/{process.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def peak_rss_mib(self):
        peak = 0
        for process in self.processes:
            with open(f"/proc/{process.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) / 1024)
        return peak

    def stop(self):
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self.processes = []
        shutil.rmtree(self.root, ignore_errors=True)


def bench(podium, cluster, arguments):
    command = [podium, "bench"] + arguments + ["--endpoints", cluster.endpoints, "--json"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if result.returncode != 0:
        print(f"  {cluster.kind}: {' '.join(arguments)} failed: {result.stderr.strip()[-400:]}", file=sys.stderr)
        return None
    return json.loads(result.stdout)


def figure(report, name):
    if report is None:
        return None
    if name == "p50":
        return report["latencyMs"]["p50"]
    if name == "delivery-p99":
        return report.get("deliveryMs", {}).get("p99")
    return report.get(name)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--podium", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated workload names")
    parser.add_argument("--no-append", action="store_true", help="do not append the table to docs/benchmarks.md")
    options = parser.parse_args()
    chosen = [w for w in WORKLOADS if w[1] is not None and (not options.only or w[0] in options.only.split(","))]
    names = [w[0] for w in chosen]
    results = {(kind, name): [] for kind in ("etcd", "podium") for name, *_ in WORKLOADS}
    cpu = {(kind, name): [] for kind in ("etcd", "podium") for name in CPU_WORKLOADS}
    rss = {"etcd": [], "podium": []}
    os.makedirs(".build-bench", exist_ok=True)
    root = tempfile.mkdtemp(prefix="bench-vs-etcd-", dir=".build-bench")
    started = time.time()
    try:
        for round_index in range(options.rounds):
            order = ["etcd", "podium"] if round_index % 2 == 0 else ["podium", "etcd"]
            clusters = {kind: Cluster(kind, options.podium, root) for kind in order}
            try:
                for kind in order:
                    clusters[kind].start()
                for name, arguments, measure, _, _ in chosen:
                    for kind in order:
                        cluster = clusters[kind]
                        before = cluster.cpu_seconds()
                        report = bench(options.podium, cluster, arguments)
                        spent = cluster.cpu_seconds() - before
                        results[(kind, name)].append(report)
                        value = figure(report, measure)
                        if name in CPU_WORKLOADS and report is not None and report["succeeded"] > 0:
                            cpu[(kind, name)].append(spent / report["succeeded"] * 100_000)
                        shown = "failed" if value is None else f"{value:,.1f}"
                        print(f"round {round_index + 1}/{options.rounds} {name:30} {kind:6} {shown}", file=sys.stderr,
                              flush=True)
                    order.reverse()
                for kind in clusters:
                    rss[kind].append(clusters[kind].peak_rss_mib())
            finally:
                for cluster in clusters.values():
                    cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)

    rows = []
    for name, arguments, measure, higher_is_better, unit in WORKLOADS:
        source = DERIVED.get(name, name)
        if source not in names:
            continue
        values = {}
        for kind in ("etcd", "podium"):
            found = [figure(r, measure) for r in results[(kind, source)]]
            found = [v for v in found if v is not None]
            values[kind] = statistics.median(found) if found else None
        rows.append((name, unit, values["etcd"], values["podium"], higher_is_better))
    for name in CPU_WORKLOADS:
        if cpu[("etcd", name)] and cpu[("podium", name)]:
            rows.append((f"server CPU s per 100k puts ({name})", "s", statistics.median(cpu[("etcd", name)]),
                         statistics.median(cpu[("podium", name)]), False))
    if rss["etcd"] and rss["podium"]:
        rows.append(("peak RSS of the largest member", "MiB", max(rss["etcd"]), max(rss["podium"]), False))

    lines = ["| workload | unit | etcd | Podium | Podium ÷ etcd |", "|---|---|---:|---:|---:|"]
    for name, unit, etcd, podium, higher in rows:
        ratio = f"{podium / etcd:.2f}× ({'higher' if higher else 'lower'} is better)" if etcd and podium else "-"
        show = lambda v: "failed" if v is None else (f"{v:,.0f}" if v >= 100 else f"{v:,.3g}")
        lines.append(f"| {name} | {unit} | {show(etcd)} | {show(podium)} | {ratio} |")
    table = "\n".join(lines)
    print(table)
    etcd_version = subprocess.run(["etcd", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if not options.no_append:
        command = "tools/bench-vs-etcd " + " ".join(sys.argv[3:])
        with open("docs/benchmarks.md", "a") as f:
            f.write(f"\n### Podium vs etcd, {datetime.date.today().isoformat()} (commit {commit})\n\n"
                    f"`{command.strip()}` — {options.rounds} interleaved rounds, medians; {etcd_version}; "
                    f"3 members each on 127.0.0.1, default timings, fsync on; client `podium bench` (release); "
                    f"{os.cpu_count()} cores; {time.time() - started:.0f} s in all.\n\n{table}\n")
        print("appended to docs/benchmarks.md", file=sys.stderr)


if __name__ == "__main__":
    main()
