using BuildFarm.Worker.Configuration;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// What the sandbox needs from the machine and the operator. Host tools: bubblewrap builds the namespaces and the
/// private root; on x86-64 the worker's own <see cref="SandboxLauncher"/> prepares its process. Elsewhere (or with
/// <see cref="NativeLauncher"/> off) a static busybox shell opens the argument and seccomp files on descriptors (.NET
/// cannot hand a child extra descriptors), coreutils <c>env</c> resets the signals and util-linux <c>prlimit</c> and
/// <c>setpriv</c> set the limits and become the build user. Busybox also builds the start-up probe's derivation.
/// </summary>
public sealed record SandboxSettings
{
    public static SandboxSettings Default { get; } = new();

    public string Bwrap { get; init; } = "/usr/bin/bwrap";

    public string Busybox { get; init; } = "/bin/busybox";

    public string Setpriv { get; init; } = "/usr/bin/setpriv";

    public string Prlimit { get; init; } = "/usr/bin/prlimit";

    /// <summary>coreutils env (≥ 8.31, for <c>--default-signal</c>).</summary>
    public string Env { get; init; } = "/usr/bin/env";

    /// <summary>
    /// Whether the sandbox starts through <see cref="SandboxLauncher"/> where the machine runs it (x86-64); off, through
    /// busybox sh, env, prlimit and setpriv as on other architectures (the tests run both).
    /// </summary>
    public bool NativeLauncher { get; init; } = true;

    /// <summary>Whether builds start through <see cref="SandboxLauncher"/> here.</summary>
    public bool UsesNativeLauncher => NativeLauncher && SandboxLauncher.Supported;

    /// <summary>
    /// Whether the worker mounts a build's inputs into its store directory itself, in a private mount namespace
    /// (<see cref="StoreView"/>: one mount each) that the launcher joins, where it may (root, <see cref="SandboxLauncher"/>);
    /// off, bubblewrap binds each input (its cost grows with the square of the closure).
    /// </summary>
    public bool PrivateStoreMounts { get; init; } = true;

    /// <summary>
    /// With <see cref="PrivateStoreMounts"/>: whether the inputs' mount points are made on a tmpfs under an overlay of
    /// the build's store directory (<see cref="StoreView"/>; where the machine can); off, on disk in the store
    /// directory itself, one directory per input and build (the way before, and the fallback; the tests run both).
    /// </summary>
    public bool OverlayStore { get; init; } = true;

    /// <summary>Whether builds get their inputs through <see cref="StoreView"/> here.</summary>
    public bool UsesStoreView => PrivateStoreMounts && UsesNativeLauncher && StoreView.Supported;

    /// <summary>nftables, for the <see cref="FixedOutputFirewall"/>.</summary>
    public string Nft { get; init; } = "/usr/sbin/nft";

    /// <summary>First host uid of the build users (see <see cref="SandboxSection.FirstUid"/>).</summary>
    public long FirstUid { get; init; } = 872415232;

    public IReadOnlyList<ExtraPath> ExtraPaths { get; init; } = [];

    public int MaxProcesses { get; init; } = 8192;

    /// <summary>0 = no limit.</summary>
    public long MaxDiskBytes { get; init; }

    /// <summary>How often a build's disk use is measured against <see cref="MaxDiskBytes"/>.</summary>
    public TimeSpan DiskCheckInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Architectures whose system calls builders may make besides the machine's own (i386 on x86_64 for i686-linux builds).</summary>
    public bool AllowI386 { get; init; }

    /// <summary>The settings of a worker's validated options.</summary>
    public static SandboxSettings From(WorkerOptions o) => new()
    {
        Bwrap = o.Sandbox.Bwrap,
        FirstUid = o.Sandbox.FirstUid,
        ExtraPaths = [.. o.Sandbox.ExtraPaths.Select(e => ExtraPath.TryParse(e, out var p) is null ? p! : throw new ArgumentException($"Sandbox:ExtraPaths item '{e}' is invalid"))],
        MaxProcesses = o.Sandbox.MaxProcesses,
        MaxDiskBytes = o.Sandbox.MaxDiskBytes,
        AllowI386 = o.Systems.Contains("i686-linux"),
    };

    public IEnumerable<(string What, string Path)> Tools()
    {
        yield return ("bubblewrap (apt-get install bubblewrap)", Bwrap);
        yield return ("static busybox (apt-get install busybox-static)", Busybox);
        if (UsesNativeLauncher)
            yield break;
        yield return ("util-linux setpriv", Setpriv);
        yield return ("util-linux prlimit", Prlimit);
        yield return ("coreutils env", Env);
    }
}
