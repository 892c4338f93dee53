"""The official Python `kubernetes` client against a Podium API server: create, list, watch, patch, delete.

Usage: kubernetes_client.py KUBECONFIG
Prints one line per check ("ok NAME" or "FAIL NAME: why") and exits non-zero if any failed.
"""
import datetime
import sys
import threading
import time

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

failures = []


def check(name, condition, detail=""):
    print(("ok " if condition else "FAIL ") + name + ("" if condition else ": " + str(detail)), flush=True)
    if not condition:
        failures.append(name)


def main():
    config.load_kube_config(config_file=sys.argv[1])
    core = client.CoreV1Api()
    apps = client.AppsV1Api()
    ns = "py-client"

    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    names = [n.metadata.name for n in core.list_namespace().items]
    check("namespace listed", ns in names, names)

    # A watch from the list's resourceVersion sees what happens next, in order.
    listed = core.list_namespaced_config_map(ns)
    events = []
    done = threading.Event()

    def watching():
        w = watch.Watch()
        for event in w.stream(core.list_namespaced_config_map, ns, resource_version=listed.metadata.resource_version,
                              timeout_seconds=30):
            events.append((event["type"], event["object"].metadata.name, event["object"].data))
            if event["type"] == "DELETED":
                w.stop()
        done.set()

    thread = threading.Thread(target=watching, daemon=True)
    thread.start()
    time.sleep(0.5)

    body = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cfg", labels={"app": "py"}), data={"a": "1"})
    created = core.create_namespaced_config_map(ns, body)
    check("created has a resourceVersion and uid", bool(created.metadata.resource_version) and bool(created.metadata.uid))
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="other"), data={"b": "2"}))
    selected = core.list_namespaced_config_map(ns, label_selector="app=py")
    check("label selector", [c.metadata.name for c in selected.items] == ["cfg"], [c.metadata.name for c in selected.items])
    field = core.list_namespaced_config_map(ns, field_selector="metadata.name=other")
    check("field selector", [c.metadata.name for c in field.items] == ["other"])
    page = core.list_namespaced_config_map(ns, limit=1)
    rest = core.list_namespaced_config_map(ns, limit=1, _continue=page.metadata._continue)
    check("pagination", len(page.items) == 1 and len(rest.items) == 1 and page.items[0].metadata.name != rest.items[0].metadata.name)

    patched = core.patch_namespaced_config_map("cfg", ns, {"data": {"a": "2"}})
    check("merge patch", patched.data == {"a": "2"}, patched.data)
    stale = created
    stale.data = {"a": "stale"}
    try:
        core.replace_namespaced_config_map("cfg", ns, stale)
        check("stale replace conflicts", False, "accepted")
    except ApiException as error:
        check("stale replace conflicts", error.status == 409 and "the object has been modified" in error.body, error.body)
    core.delete_namespaced_config_map("cfg", ns)
    done.wait(30)
    kinds = [(t, n) for t, n, _ in events]
    check("watch saw added, modified, deleted", kinds[:2] == [("ADDED", "cfg"), ("ADDED", "other")]
          and ("MODIFIED", "cfg") in kinds and kinds[-1] == ("DELETED", "cfg"), events)

    try:
        core.read_namespaced_config_map("cfg", ns)
        check("read of a deleted object is 404", False, "found")
    except ApiException as error:
        check("read of a deleted object is 404", error.status == 404)
    try:
        core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="other")))
        check("create of an existing name is 409", False, "accepted")
    except ApiException as error:
        check("create of an existing name is 409", error.status == 409 and "AlreadyExists" in error.body)

    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="web"),
        spec=client.V1DeploymentSpec(
            replicas=2, selector=client.V1LabelSelector(match_labels={"app": "web"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "web"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx:1.25")]))))
    apps.create_namespaced_deployment(ns, deployment)
    read = apps.read_namespaced_deployment("web", ns)
    check("deployment defaults", read.spec.strategy.type == "RollingUpdate" and read.spec.revision_history_limit == 10
          and read.spec.template.spec.containers[0].image_pull_policy == "IfNotPresent")
    scaled = apps.patch_namespaced_deployment_scale("web", ns, {"spec": {"replicas": 4}})
    check("scale subresource", scaled.spec.replicas == 4)
    apps.delete_namespaced_deployment("web", ns)

    # An Event written through events.k8s.io/v1 is a core/v1 Event too (one storage, two APIs).
    events_api = client.EventsV1Api()
    now = datetime.datetime.now(datetime.timezone.utc)
    events_api.create_namespaced_event(ns, client.EventsV1Event(
        metadata=client.V1ObjectMeta(name="web.1"), event_time=now, reporting_controller="podium.io/test",
        reporting_instance="test-1", action="Scaling", reason="ScalingReplicaSet", type="Normal",
        note="Scaled up to 4", regarding=client.V1ObjectReference(kind="Deployment", name="web", namespace=ns)))
    legacy = core.read_namespaced_event("web.1", ns)
    check("events.k8s.io event read as core/v1", legacy.message == "Scaled up to 4" and legacy.involved_object.name == "web"
          and legacy.reporting_component == "podium.io/test", legacy)
    selected = events_api.list_namespaced_event(ns, field_selector="regarding.name=web")
    check("events.k8s.io field selector", [e.metadata.name for e in selected.items] == ["web.1"], selected)
    try:
        events_api.create_namespaced_event(ns, client.EventsV1Event(
            metadata=client.V1ObjectMeta(name="bad"), event_time=now, reporting_controller="podium.io/test",
            reporting_instance="test-1", action="A", reason="R", type="Odd"))
        check("events.k8s.io validation", False, "accepted")
    except ApiException as error:
        check("events.k8s.io validation", error.status == 422 and "type" in error.body, error.body)

    # A YAML body, as `curl --data-binary @file.yaml -H 'Content-Type: application/yaml'` sends it.
    yaml_body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  enabled: 'yes'\n  text: |\n    two\n    lines\n"
    api = client.ApiClient()
    response = api.call_api("/api/v1/namespaces/" + ns + "/configmaps", "POST", body=yaml_body,
                            header_params={"Content-Type": "application/yaml", "Accept": "application/yaml"},
                            auth_settings=["BearerToken"], _preload_content=False,
                            _return_http_data_only=True)
    check("yaml body and yaml answer", response.status == 201 and b"name: from-yaml" in response.data, response.data)
    read = core.read_namespaced_config_map("from-yaml", ns)
    check("yaml body read back", read.data == {"enabled": "yes", "text": "two\nlines\n"}, read.data)
    core.delete_namespace(ns)
    try:
        core.read_namespace(ns)
        check("namespace deleted", False, "still there")
    except ApiException as error:
        check("namespace deleted", error.status == 404)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
