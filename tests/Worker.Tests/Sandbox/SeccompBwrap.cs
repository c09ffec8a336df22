using BuildFarm.Testing;

namespace BuildFarm.Worker.Tests.Sandbox;

/// <summary>
/// Runs a busybox script in a bubblewrap sandbox with a seccomp program on fd 3. .NET's Process cannot pass an extra
/// fd, so a shell opens the program and execs into bwrap. The root is the host's /usr read-only (busybox, perl and
/// their libraries), a fresh /proc, /dev and /tmp, plus the given read-only binds.
/// </summary>
internal static class SeccompBwrap
{
    /// <summary>
    /// By default as the worker runs builders: an unprivileged uid (setpriv, no_new_privs) in a user namespace that
    /// maps it to uid 1000, without capabilities. <paramref name="asRoot"/> keeps real root and every capability
    /// instead, so calls that capabilities also guard reach the kernel unless the filter stops them.
    /// </summary>
    public static async Task<ProcessResult> RunAsync(
        string? filter, string script, IReadOnlyList<(string Host, string Sandbox)>? binds = null, bool asRoot = false)
    {
        List<string> positional = [filter ?? "/dev/null", script];
        var bindArgs = "";
        foreach (var (host, sandbox) in binds ?? [])
        {
            positional.Add(host);
            positional.Add(sandbox);
            bindArgs += $"--ro-bind \"${positional.Count - 2}\" \"${positional.Count - 1}\" ";
        }
        var identity = asRoot
            ? "bwrap --unshare-pid --unshare-net --unshare-ipc --unshare-uts --cap-add ALL "
            : "setpriv --reuid=30001 --regid=30001 --clear-groups --no-new-privs -- " +
              "bwrap --unshare-all --unshare-user --disable-userns --uid 1000 --gid 100 ";
        // No --die-with-parent, as in the worker (BwrapArguments): the kernel ties it to the thread that started
        // bubblewrap, and when the thread pool retires that thread the sandbox is killed with no output (two CI
        // failures: empty stdout and stderr). ProcessRunner's timeout still ends a sandbox that hangs.
        var outer =
            "exec " + identity +
            "--ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 " +
            "--proc /proc --dev /dev --tmpfs /tmp --chdir /tmp " + bindArgs + (filter is null ? "" : "--seccomp 3 ") +
            "/bin/busybox sh -c \"$1\" 3<\"$0\"";
        return await ProcessRunner.RunAsync("/bin/sh", ["-c", outer, .. positional], timeout: TimeSpan.FromSeconds(60));
    }
}
