using BuildFarm.Worker.Supervision;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// The shell scripts run by static busybox between namespace creation and the builder, and the exec line that ends
/// them (<see cref="ExecArgs"/>). Every value arrives as a
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

    /// <summary>
    /// <c>env -i -- NAME=VALUE… BUILDER ARGS…</c>: the exact environment, then the builder (absolute, so never read
    /// as an option). A builder path containing '=' (legal in store
    /// names) would be read as one more assignment: it goes through busybox <c>setpriv --</c>, which without
    /// options is a plain exec (one more exec, so only when needed).
    /// </summary>
    public static IEnumerable<string> ExecArgs(BuilderSpec spec, string busybox)
    {
        yield return busybox;
        yield return "env";
        yield return "-i";
        yield return "--";
        foreach (var (name, value) in spec.Env.OrderBy(e => e.Key, StringComparer.Ordinal))
            yield return name + "=" + value;
        if (spec.Builder.Contains('=', StringComparison.Ordinal))
        {
            yield return busybox;
            yield return "setpriv";
            yield return "--";
        }

        yield return spec.Builder;
        foreach (var a in spec.Args)
            yield return a;
    }
}
