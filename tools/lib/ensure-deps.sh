# Installs the system packages Podium builds and runs against, when they are missing. Sourced by tools/*.
ensure_debian_packages() {
    local missing=()
    for package in "$@"; do
        dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing: ${missing[*]}" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
}

ensure_debian_packages librocksdb-dev libsnappy-dev etcd-client etcd-server python3-grpcio
# SwiftPM otherwise emits package traits in a random order and rebuilds dependencies for nothing.
export SWIFT_DETERMINISTIC_HASHING=1

# The official Python Kubernetes client (PyPI), for the API server's compatibility tests, in a virtualenv under
# .build (kept out of git). Its major version follows Kubernetes' minor: 32 for 1.32.
ensure_python_kubernetes() {
    local venv=".build/python-kubernetes"
    [ -x "$venv/bin/python" ] && "$venv/bin/python" -c "import kubernetes" 2>/dev/null && return 0
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q "kubernetes==32.0.1" >&2
}
