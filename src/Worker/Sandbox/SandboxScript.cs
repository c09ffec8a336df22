namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// The shell scripts run by static busybox between namespace creation and the builder. Every value arrives as a
/// positional parameter (never spliced into the script), and the scripts only ever exec absolute paths.
/// </summary>
internal static class SandboxScript
{
    /// <summary>
    /// Inside fresh mount/PID(/network) namespaces, as PID 1, with mounts already private (unshare --propagation
    /// private) and a namespace-local /proc: bind the physical store over the logical one, bring loopback up,
    /// enter the build dir, then exec <c>$@</c> (env -i … builder) with stdin from /dev/null and stderr merged
    /// into stdout. Parameters: busybox physical logical builddir isolate-network(1/0) exec-args…
    /// Setup failures exit 125 before the ready marker, so they are never confused with the builder's own exit.
    /// </summary>
    public const string Sandboxed = """
        bb=$1 phys=$2 logical=$3 build=$4 isolate=$5
        shift 5
        fail() { echo "buildfarm-sandbox: $*" >&2; exit 125; }
        [ -d "$logical" ] || fail "logical store directory $logical does not exist on this machine; create it (an empty directory is enough: mkdir -p $logical)"
        [ -d "$phys" ] || fail "physical store directory $phys does not exist"
        "$bb" mount --bind "$phys" "$logical" || fail "cannot bind-mount $phys at $logical"
        if [ "$isolate" = 1 ]; then "$bb" ip link set lo up || fail "cannot bring up loopback in the build's network namespace"; fi
        cd "$build" || fail "cannot enter build directory $build"
        echo "buildfarm-sandbox: ready" >&2
        exec "$@" </dev/null 2>&1
        """;
}
