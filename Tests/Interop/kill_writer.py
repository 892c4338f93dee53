"""Creates ConfigMaps one after another with the official Python client while masters are killed.

Usage: kill_writer.py KUBECONFIG COUNT DEADLINE_SECONDS
A create that fails (connection lost with a master, 5xx, 429) is retried, as a real client would; AlreadyExists on
a retry means an earlier attempt did land. Prints "progress N" as it goes, and "acked NAME" for every create the
server acknowledged (201, or 409 on a retry), then "done", "retried R" and exits 0 — or 1 if the deadline passed.
"""
import sys
import time

from kubernetes import client, config
from kubernetes.client.rest import ApiException


def main():
    config.load_kube_config(config_file=sys.argv[1])
    count, deadline = int(sys.argv[2]), time.time() + float(sys.argv[3])
    core = client.CoreV1Api()
    retried = 0
    for index in range(count):
        name = "w-%d" % index
        attempts = 0
        while True:
            if time.time() > deadline:
                print("FAIL deadline passed at %s after %d attempts" % (name, attempts), flush=True)
                return 1
            attempts += 1
            try:
                core.create_namespaced_config_map(
                    "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"i": str(index)}),
                    _request_timeout=10)
                break
            except ApiException as error:
                if error.status == 409 and attempts > 1:
                    break
                if error.status not in (0, 429, 500, 502, 503, 504):
                    print("FAIL %s: %s %s" % (name, error.status, error.body), flush=True)
                    return 1
            except Exception:  # connection reset, refused, timed out: the master went away mid-request
                pass
            retried += 1
            time.sleep(0.1)
        print("acked " + name, flush=True)
        if index % 10 == 0:
            print("progress %d" % index, flush=True)
    print("retried %d" % retried, flush=True)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
