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
