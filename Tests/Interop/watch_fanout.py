"""Many watchers of one resource through the API server's watch cache: every watcher sees every change once and
in order; a watch resumed from a recent resourceVersion gets exactly the changes after it; one from a version
older than the cache keeps gets 410 Gone; a label-selected watcher sees objects enter and leave its selection.

Usage: watch_fanout.py KUBECONFIG WATCHERS
Prints "ok NAME" / "FAIL NAME: why" lines; exits non-zero on failure.
"""
import sys
import threading
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

failures = []


def check(name, condition, detail=""):
    print(("ok " if condition else "FAIL ") + name + ("" if condition else ": " + str(detail)[:2000]), flush=True)
    if not condition:
        failures.append(name)


def main():
    config.load_kube_config(config_file=sys.argv[1])
    watchers = int(sys.argv[2])
    core = client.CoreV1Api()
    ns = "fanout"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    start = core.list_namespaced_config_map(ns).metadata.resource_version
    count = 20
    seen = [[] for _ in range(watchers)]
    ready = threading.Barrier(watchers + 1)

    def run(index):
        api = client.CoreV1Api(client.ApiClient())
        w = watch.Watch()
        stream = w.stream(api.list_namespaced_config_map, ns, resource_version=start, timeout_seconds=60)
        ready.wait()
        try:
            for event in stream:
                seen[index].append((event["type"], event["object"].metadata.name))
                if len(seen[index]) >= count:
                    w.stop()
        except Exception as error:
            seen[index].append(("exception", "%s %s %s" % (getattr(error, "status", ""), getattr(error, "reason", ""),
                                                           str(getattr(error, "body", error))[:300])))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(watchers)]
    for thread in threads:
        thread.start()
    ready.wait()
    versions = []
    for i in range(count):
        made = core.create_namespaced_config_map(ns, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="c%02d" % i, labels={"pick": "yes" if i % 2 else "no"}), data={"i": str(i)}))
        versions.append(made.metadata.resource_version)
    for thread in threads:
        thread.join(60)
    expected = [("ADDED", "c%02d" % i) for i in range(count)]
    wrong = [i for i in range(watchers) if seen[i] != expected]
    check("%d watchers each saw every change once, in order" % watchers, not wrong,
          {i: seen[i] for i in wrong[:3]})

    # Resume from the 10th change's version: exactly the ten after it.
    resumed = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, ns, resource_version=versions[9], timeout_seconds=10):
        resumed.append(event["object"].metadata.name)
        if len(resumed) >= 10:
            w.stop()
    check("resume from a recent resourceVersion", resumed == ["c%02d" % i for i in range(10, 20)], resumed)

    # Too old: once more changes than the cache keeps (the server runs with 50) came after it, 410 Gone (the
    # Python client raises it).
    for i in range(60):
        core.patch_namespaced_config_map("c00", ns, {"data": {"n": str(i)}})
    try:
        for _ in watch.Watch().stream(core.list_namespaced_config_map, ns, resource_version=versions[0], timeout_seconds=5):
            pass
        check("a too old resourceVersion is 410 Gone", False, "no error")
    except ApiException as error:
        check("a too old resourceVersion is 410 Gone", error.status == 410, error)

    # A selected watcher: an object relabelled out of the selection is DELETED for it, back in is ADDED.
    events = []
    last = core.list_namespaced_config_map(ns).metadata.resource_version
    done = threading.Event()

    def selected():
        w = watch.Watch()
        for event in w.stream(core.list_namespaced_config_map, ns, label_selector="pick=yes", resource_version=last,
                              timeout_seconds=30):
            events.append((event["type"], event["object"].metadata.name))
            if len(events) >= 2:
                w.stop()
        done.set()

    thread = threading.Thread(target=selected, daemon=True)
    thread.start()
    time.sleep(0.5)
    core.patch_namespaced_config_map("c01", ns, {"metadata": {"labels": {"pick": "no"}}})
    core.patch_namespaced_config_map("c02", ns, {"metadata": {"labels": {"pick": "yes"}}})
    done.wait(30)
    check("selector transitions", events == [("DELETED", "c01"), ("ADDED", "c02")], events)

    # The same told from the ring: a selected watcher resuming from before those changes.
    replayed = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, ns, label_selector="pick=yes", resource_version=last,
                          timeout_seconds=10):
        replayed.append((event["type"], event["object"].metadata.name))
        if len(replayed) >= 2:
            w.stop()
    check("selector transitions replayed from the ring", replayed == [("DELETED", "c01"), ("ADDED", "c02")], replayed)
    core.delete_namespace(ns)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
