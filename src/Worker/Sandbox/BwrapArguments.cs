using BuildFarm.Worker.Execution;
using BuildFarm.Worker.Supervision;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// The bubblewrap command line of one build, written NUL-separated to a file it reads with <c>--args</c> (so every
/// byte of a derivation's strings reaches the builder, which a .NET argument list would re-encode as UTF-8). The
/// order is bubblewrap's order of operations: mounts first, then the read-only remounts of / and /dev.
/// </summary>
internal static class BwrapArguments
{
    private static readonly string[] NetworkEtc = ["/etc/resolv.conf", "/etc/services", "/etc/hosts"];

    /// <summary>Nix's sandbox-build-dir.</summary>
    public const string BuildDir = "/build";

    /// <summary>Nix's sandboxUid and sandboxGid.</summary>
    public const string Uid = "1000";

    public const string Gid = "100";

    /// <summary>Bubblewrap's options (read from its <c>--args</c> file) and the command that follows them.</summary>
    /// <remarks>
    /// <paramref name="ownRoot"/>: the worker has laid out the root (<see cref="Root"/>, <see cref="StoreView"/>) in
    /// the namespace bubblewrap starts in, so it binds that once and makes only /proc and the mounts that need the
    /// build user's view of the host (the operator's extra paths, devices, a fixed-output build's /etc files);
    /// otherwise it makes the whole root, one <c>--ro-bind</c> per input.
    /// </remarks>
    public static (List<string> Options, List<string> Command) Create(BuilderSpec spec, SandboxShared shared, SandboxArea area, SandboxSettings settings, bool ownRoot)
    {
        var a = new List<string>
        {
            // A user namespace owned by the build user: the builder is uid 1000 with no capability on the host, and
            // may not make namespaces of its own (no way to regain capabilities).
            "--unshare-user", "--disable-userns", "--uid", Uid, "--gid", Gid,
            "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try", "--hostname", "localhost",
            // The builder is PID 1 of its namespace, as in Nix: when it exits the kernel kills everything it left.
            // No --die-with-parent: the kernel ties it to the thread that started bubblewrap, and .NET retires pool threads.
            "--as-pid-1", "--new-session",
        };
        if (!spec.AllowNetwork)
            a.Add("--unshare-net");
        if (ownRoot)
        {
            // Devices allowed: the root's own mounts are nodev but for /dev's nodes, and bubblewrap adds nosuid to all.
            a.AddRange(["--dev-bind", area.View, "/"]);
        }
        else
        {
            // /build and /tmp first: a store directory below them (odd, but valid) is then mounted on top, not hidden.
            a.AddRange(["--bind", spec.BuildDir, BuildDir, "--bind", area.Tmp, "/tmp"]);
            a.AddRange(["--bind", area.Store, spec.LogicalStoreDir]);
            foreach (var name in InputNames(spec))
                a.AddRange(["--ro-bind", Path.Combine(spec.PhysicalStoreDir, name), spec.LogicalStoreDir + "/" + name]);
        }

        if (spec.AllowNetwork)
        {
            // Fixed-output derivations fetch: the host's name resolution, as Nix gives them, beside Nix's passwd and
            // group (file by file: /etc itself is the sandbox root's, so the host's files can be mounted into it).
            foreach (var file in NetworkEtc)
                a.AddRange(["--ro-bind-try", file, file]);
            a.AddRange(["--ro-bind", Path.Combine(shared.Etc, "passwd"), "/etc/passwd", "--ro-bind", Path.Combine(shared.Etc, "group"), "/etc/group"]);
        }
        else if (!ownRoot)
        {
            // One mount for the three files: bubblewrap reads the mount table once per mount.
            a.AddRange(["--ro-bind", shared.Etc, "/etc"]);
        }

        // As Nix binds sandbox-paths: writable only where the host's permissions let the build user write (a
        // world-writable directory an operator chose to share), read-only in effect for root's files.
        foreach (var extra in settings.ExtraPaths)
            a.AddRange(["--bind", extra.Outside, extra.Inside]);
        if (!ownRoot)
            a.AddRange(["--dev", "/dev"]);
        foreach (var device in spec.Devices ?? [])
            a.AddRange(["--dev-bind-try", device, device]);
        if (!ownRoot)
            a.AddRange(["--remount-ro", "/dev", "--perms", "1777", "--size", ShmBytes(settings).ToString(System.Globalization.CultureInfo.InvariantCulture), "--tmpfs", "/dev/shm"]);
        a.AddRange(["--proc", "/proc"]);
        if (!ownRoot)
            a.AddRange(["--remount-ro", "/"]);
        a.AddRange(["--chdir", BuildDir, "--clearenv"]);
        foreach (var (name, value) in spec.Env.OrderBy(e => e.Key, StringComparer.Ordinal))
            a.AddRange(["--setenv", name, value]);
        // The filter is installed last, right before the builder's exec (fd 4, opened by the launcher).
        a.AddRange(["--seccomp", "4"]);
        // Nix's argv[0] (the builder's base name), which bubblewrap 0.8 cannot set: it execs ArgvZeroExec through the
        // launcher's fd of it, and that execs the builder.
        return ArgvZeroExec.Supported
            ? (a, ["--", $"/proc/self/fd/{ArgvZeroExec.SandboxFd}", .. ArgvZeroExec.Command(spec.Builder, spec.Builder, spec.Args).Skip(1)])
            : (a, ["--", spec.Builder, .. spec.Args]);
    }

    /// <summary>
    /// The root the worker lays out for <see cref="Create"/> with <c>ownRoot</c>: what bubblewrap's own options would
    /// make (/build, /tmp, the store directory, /etc, /dev, /dev/shm, all but /build, /tmp and the store read-only),
    /// and an empty mount point for each mount bubblewrap still makes (bubblewrap cannot create one in a root that is
    /// read-only and not its build user's).
    /// </summary>
    public static RootPlan Root(BuilderSpec spec, SandboxShared shared, SandboxArea area, SandboxSettings settings)
    {
        List<RootBind> binds = [new(spec.BuildDir, BuildDir, ReadOnly: false), new(area.Tmp, "/tmp", ReadOnly: false)];
        List<(string Path, bool Directory)> mountPoints = [("/proc", true)];
        if (spec.AllowNetwork)
        {
            mountPoints.AddRange(NetworkEtc.Where(Path.Exists).Select(f => (f, false)));
            mountPoints.AddRange([("/etc/passwd", false), ("/etc/group", false)]);
        }
        else
        {
            binds.Add(new(shared.Etc, "/etc", ReadOnly: true));
        }

        // A source that does not exist gets no mount point: bubblewrap then fails on it (or, for a device, skips it) as before.
        mountPoints.AddRange(settings.ExtraPaths.Where(e => Path.Exists(e.Outside)).Select(e => (e.Inside, Directory.Exists(e.Outside))));
        mountPoints.AddRange((spec.Devices ?? []).Where(Path.Exists).Select(d => (d, false)));
        return new RootPlan(area.View, spec.LogicalStoreDir, binds, mountPoints, ShmBytes(settings));
    }

    /// <summary>The store names of the build's inputs, each once, in order.</summary>
    public static IReadOnlyList<string> InputNames(BuilderSpec spec) =>
        [.. (spec.InputPaths ?? []).Select(Path.GetFileName).OfType<string>().Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)];

    /// <summary>
    /// Half the machine's memory, as Nix's sandbox-dev-shm-size default, but no more than the disk limit: the disk
    /// watch cannot see into this tmpfs, and without the cap a build under a 16 MiB limit could fill half the RAM.
    /// </summary>
    private static long ShmBytes(SandboxSettings settings)
    {
        var half = Math.Max(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 2, 1024 * 1024);
        return settings.MaxDiskBytes > 0 ? Math.Min(half, Math.Max(settings.MaxDiskBytes, 1024 * 1024)) : half;
    }
}
