# shellcheck shell=bash
# tests/nspawn/lib.sh — a real systemd, in a throwaway Debian bookworm
# container, for tests that need systemd as PID 1 (this machine's PID 1 is
# not systemd). Source it from bash; needs root, mmdebstrap and
# systemd-container.
#
# The container shares the host's network namespace (no --private-network):
# 127.0.0.1 inside is the host's loopback, so it reaches a Cassandra started
# on the host, and its listening sockets are visible from the host. Pick
# ports that nothing else on the host uses.
#
# Stable interface (other tests use it; do not rename):
#
#   nspawn_tree [PACKAGE...]
#       Print the path of a cached tarball of a bookworm tree made with
#       `mmdebstrap --variant=apt` including systemd, systemd-sysv, dbus and
#       the base set below plus PACKAGE...; build it (about 30 s) on first
#       use. One tarball per package set, under .state/nspawn/.
#   nspawn_boot NAME [PACKAGE...]
#       Unpack a fresh copy of that tree, boot it with `systemd-nspawn -b
#       --register=no --keep-unit --console=pipe --machine=NAME-<pid>`, wait
#       until systemd reports the boot finished (if it does not, print why
#       and the console's tail, and try once more on a fresh copy), and
#       install an EXIT trap that
#       calls nspawn_stop. Sets NSPAWN_ROOT (the tree, writable from the host),
#       NSPAWN_LEADER (the container's PID 1 as seen from the host),
#       NSPAWN_PID (the systemd-nspawn process) and NSPAWN_MACHINE. One
#       container per shell.
#   nspawn_reboot
#       Power the container off and boot it again on the same tree (what
#       was installed and written inside stays), as nspawn_boot waits for
#       it. Updates NSPAWN_LEADER and NSPAWN_PID.
#   nspawn_exec CMD [ARG...]
#       Run a command inside (nsenter -t $NSPAWN_LEADER -a) with a clean
#       environment; its exit status is the command's. Standard input is
#       passed through. Bounded by NSPAWN_EXEC_TIMEOUT seconds (default 300).
#   nspawn_sh 'SCRIPT'
#       nspawn_exec sh -c 'SCRIPT'.
#   nspawn_copy_in HOST_PATH CONTAINER_PATH [MODE]
#       Copy a file into the container (parent directories are created).
#   nspawn_wait_active UNIT [TIMEOUT_SECONDS]
#       Wait until UNIT is active; return 1 (and print its status) if it
#       fails or the time runs out (default 60 s).
#   nspawn_journal [JOURNALCTL_ARG...]
#       journalctl --no-pager inside the container.
#   nspawn_stop
#       Power the container off (SIGTERM to systemd-nspawn; escalate after
#       NSPAWN_STOP_TIMEOUT, default 20 s), then delete the copy. Idempotent;
#       the trap calls it, and so may the test.
#
# Settings (environment): NSPAWN_STATE (default <repo>/.state/nspawn),
# NSPAWN_SUITE (default bookworm), NSPAWN_MIRROR (a mirror URL or sources
# file for mmdebstrap; default: mmdebstrap's own default).

NSPAWN_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${NSPAWN_STATE:=$(cd "$NSPAWN_LIB_DIR/../.." && pwd)/.state/nspawn}"
: "${NSPAWN_SUITE:=bookworm}"
: "${NSPAWN_EXEC_TIMEOUT:=300}"
: "${NSPAWN_STOP_TIMEOUT:=20}"
NSPAWN_BASE_PACKAGES="systemd,systemd-sysv,dbus,libsystemd0,procps,iproute2,curl,ca-certificates,python3,less"

_nspawn_log() { echo "nspawn: $*" >&2; }

nspawn_tree() {
    local extra packages key tarball tmp
    extra=$(printf '%s\n' "$@" | sed '/^$/d' | sort -u | paste -sd, -)
    packages=$NSPAWN_BASE_PACKAGES${extra:+,$extra}
    key=$(printf '%s %s' "$NSPAWN_SUITE" "$packages" | sha256sum | cut -c1-12)
    tarball=$NSPAWN_STATE/$NSPAWN_SUITE-$key.tar
    mkdir -p "$NSPAWN_STATE"
    (
        # Two tests starting at once build the tree once.
        flock 9
        if [ ! -s "$tarball" ]; then
            _nspawn_log "building $NSPAWN_SUITE tree ($packages) -> $tarball"
            tmp=$NSPAWN_STATE/.building-$key-$$.tar
            # shellcheck disable=SC2086 # NSPAWN_MIRROR is optional
            if ! mmdebstrap --quiet --variant=apt --format=tar --include="$packages" \
                    "$NSPAWN_SUITE" "$tmp" ${NSPAWN_MIRROR:-} >&2; then
                rm -f "$tmp"; exit 1
            fi
            mv "$tmp" "$tarball"
        fi
    ) 9>"$NSPAWN_STATE/.lock" || return 1
    echo "$tarball"
}

nspawn_boot() {
    local name=$1; shift
    local tarball attempt
    if [ -n "${NSPAWN_PID:-}" ]; then
        _nspawn_log "a container is already running in this shell"; return 1
    fi
    tarball=$(nspawn_tree "$@") || return 1
    trap nspawn_stop EXIT
    for attempt in 1 2; do
        NSPAWN_MACHINE=$name-$$
        NSPAWN_DIR=$NSPAWN_STATE/run/$NSPAWN_MACHINE
        NSPAWN_ROOT=$NSPAWN_DIR/root
        rm -rf "$NSPAWN_DIR"
        mkdir -p "$NSPAWN_ROOT"
        tar -C "$NSPAWN_ROOT" -xf "$tarball" || return 1
        # No getty fighting over the pipe console.
        ln -sf /dev/null "$NSPAWN_ROOT/etc/systemd/system/console-getty.service"
        _nspawn_start && return 0
        [ "$attempt" = 1 ] || break
        # Seen once, on the first boot of a fresh CI machine; a boot is the
        # harness, not what the tests check, so it gets one more try, and
        # the reason is printed above.
        _nspawn_log "the boot failed (above); booting once more on a fresh copy of the tree"
        nspawn_stop
    done
    return 1
}

nspawn_reboot() {
    [ -n "${NSPAWN_ROOT:-}" ] || { _nspawn_log "no container"; return 1; }
    local root=$NSPAWN_ROOT dir=$NSPAWN_DIR
    NSPAWN_KEEP=1 nspawn_stop
    NSPAWN_ROOT=$root NSPAWN_DIR=$dir
    _nspawn_start
}

# Boots $NSPAWN_ROOT and waits for the end of the boot.
_nspawn_start() {
    local i
    systemd-nspawn -D "$NSPAWN_ROOT" -b --register=no --keep-unit \
        --console=pipe --machine="$NSPAWN_MACHINE" \
        </dev/null >>"$NSPAWN_DIR/console.log" 2>&1 &
    NSPAWN_PID=$!
    NSPAWN_LEADER=
    # The container's PID 1 is the child of systemd-nspawn that lives in a
    # PID namespace of its own (not a helper child still in the host's).
    local host_ns child ns
    host_ns=$(readlink /proc/self/ns/pid)
    for i in $(seq 1 100); do
        for child in $(pgrep -P "$NSPAWN_PID" 2>/dev/null); do
            ns=$(readlink "/proc/$child/ns/pid" 2>/dev/null)
            if [ -n "$ns" ] && [ "$ns" != "$host_ns" ]; then
                NSPAWN_LEADER=$child; break
            fi
        done
        [ -n "$NSPAWN_LEADER" ] && break
        kill -0 "$NSPAWN_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$NSPAWN_LEADER" ]; then
        _nspawn_log "systemd-nspawn did not start; console:"
        cat "$NSPAWN_DIR/console.log" >&2
        return 1
    fi
    # Wait for the manager's private bus (in the container's own /run), then
    # for the end of the boot.
    local state= started=$SECONDS
    for i in $(seq 1 600); do
        if NSPAWN_EXEC_TIMEOUT=10 nspawn_exec test -S /run/systemd/private 2>/dev/null; then
            state=$(NSPAWN_EXEC_TIMEOUT=90 nspawn_exec systemctl is-system-running --wait 2>/dev/null)
            [ -n "$state" ] && break
        fi
        kill -0 "$NSPAWN_PID" 2>/dev/null || break
        sleep 0.1
    done
    case "$state" in
        running) ;;
        degraded)
            _nspawn_log "boot degraded; failed units:"
            nspawn_exec systemctl --failed --no-pager --plain >&2 ;;
        *)
            if kill -0 "$NSPAWN_PID" 2>/dev/null; then
                _nspawn_log "boot did not finish after $((SECONDS - started)) s (state '$state'); the container's manager:"
                NSPAWN_EXEC_TIMEOUT=10 nspawn_exec systemctl list-jobs --no-pager >&2
            else
                wait "$NSPAWN_PID"
                _nspawn_log "systemd-nspawn exited (status $?) after $((SECONDS - started)) s, before the boot finished"
            fi
            _nspawn_log "last lines of the console ($NSPAWN_DIR/console.log):"
            tail -n 40 "$NSPAWN_DIR/console.log" >&2
            return 1 ;;
    esac
    _nspawn_log "$NSPAWN_MACHINE up (PID 1 = host pid $NSPAWN_LEADER)"
}

nspawn_exec() {
    if [ -z "${NSPAWN_LEADER:-}" ]; then
        _nspawn_log "no container"; return 125
    fi
    timeout --kill-after=5 "$NSPAWN_EXEC_TIMEOUT" \
        nsenter -t "$NSPAWN_LEADER" -a \
        env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
            HOME=/root LANG=C.UTF-8 TERM=dumb SYSTEMD_PAGER= SYSTEMD_COLORS=0 \
            "$@"
}

nspawn_sh() {
    nspawn_exec sh -c "$1"
}

nspawn_copy_in() {
    local src=$1 dest=$2 mode=${3:-}
    [ -n "${NSPAWN_ROOT:-}" ] || { _nspawn_log "no container"; return 1; }
    case "$dest" in /*) ;; *) _nspawn_log "absolute container path needed: $dest"; return 1 ;; esac
    install -D ${mode:+-m "$mode"} "$src" "$NSPAWN_ROOT$dest"
}

nspawn_wait_active() {
    local unit=$1 timeout=${2:-60} state i
    for i in $(seq 1 $((timeout * 5))); do
        state=$(nspawn_exec systemctl is-active "$unit" 2>/dev/null)
        case "$state" in
            active) return 0 ;;
            failed) break ;;
        esac
        sleep 0.2
    done
    _nspawn_log "$unit is '$state', not active"
    nspawn_exec systemctl status --no-pager --full "$unit" >&2
    return 1
}

nspawn_journal() {
    nspawn_exec journalctl --no-pager "$@"
}

nspawn_stop() {
    local i
    if [ -n "${NSPAWN_PID:-}" ]; then
        if kill -0 "$NSPAWN_PID" 2>/dev/null; then
            kill -TERM "$NSPAWN_PID" 2>/dev/null
            for i in $(seq 1 $((NSPAWN_STOP_TIMEOUT * 10))); do
                kill -0 "$NSPAWN_PID" 2>/dev/null || break
                sleep 0.1
            done
            if kill -0 "$NSPAWN_PID" 2>/dev/null; then
                _nspawn_log "container did not power off in ${NSPAWN_STOP_TIMEOUT}s; terminating"
                kill -TERM "$NSPAWN_PID" 2>/dev/null   # second TERM: immediate
                sleep 2
                kill -KILL "$NSPAWN_PID" 2>/dev/null
            fi
        fi
        wait "$NSPAWN_PID" 2>/dev/null
    fi
    if [ -n "${NSPAWN_DIR:-}" ] && [ -d "$NSPAWN_DIR" ]; then
        if findmnt -rn -o TARGET | grep -q "^$NSPAWN_DIR/"; then
            _nspawn_log "mounts remain under $NSPAWN_DIR; not deleting it"
        elif [ -n "${NSPAWN_KEEP:-}" ]; then
            _nspawn_log "NSPAWN_KEEP set: keeping $NSPAWN_DIR"
        else
            rm -rf "$NSPAWN_DIR"
        fi
    fi
    NSPAWN_PID= NSPAWN_LEADER= NSPAWN_ROOT= NSPAWN_DIR=
}
