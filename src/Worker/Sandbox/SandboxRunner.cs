using BuildFarm.Store.Local;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Win32.SafeHandles;
using BuildFarm.Store.Derivations;
using BuildFarm.Worker.Execution;
using BuildFarm.Worker.Supervision;

namespace BuildFarm.Worker.Sandbox;

/// <summary>
/// Runs each builder in a private root made by bubblewrap, as an unprivileged build user (one host uid per running
/// build from <see cref="BuildUserPool"/>; uid 1000, gid 100 inside, as in Nix's sandbox):
/// <list type="bullet">
/// <item>new user, mount, PID, IPC, UTS, cgroup and (except fixed-output derivations) network namespaces; no
/// capabilities (empty bounding set), no_new_privs, no further user namespaces, a seccomp filter;</item>
/// <item>a root holding only the input closure (read-only), the build's private store directory where it creates
/// its outputs, <c>/build</c>, <c>/tmp</c>, a minimal <c>/dev</c>, <c>/proc</c>, Nix's <c>/etc/passwd</c>,
/// <c>group</c> and <c>hosts</c>, and the operator's extra paths; / and /dev read-only;</item>
/// <item>the builder is PID 1: when it exits, or is killed, nothing it started survives;</item>
/// <item>limits: RLIMIT_NPROC (the build user's processes), RLIMIT_FSIZE and a watch of the build's disk use.</item>
/// </list>
/// After a successful exit the outputs the builder made are given back to the worker and moved into the physical
/// store; everything else of the build is deleted.
/// </summary>
public sealed class SandboxRunner(SandboxSettings? settings = null, TimeProvider? time = null) : IBuilderRunner
{
    /// <summary>
    /// Where the launcher is not used (<see cref="SandboxSettings.UsesNativeLauncher"/>), run as root by static busybox: opens bubblewrap's option file on fd 3, the seccomp program on fd 4 and
    /// <see cref="ArgvZeroExec"/> on fd 5 (all root's, opened before the uid changes; the last one closes them all), appends the builder's command line read NUL-separated from the
    /// command file (bubblewrap takes the command only from its real arguments; <c>read -d ''</c> keeps every byte),
    /// then execs the limits, the uid change and bubblewrap, with the builder's stderr merged into its stdout (one
    /// ordered log, as Nix's single pipe).
    /// </summary>
    private const string Wrapper = """
        exec 3<"$1" || exit 125
        exec 4<"$2" || exit 125
        if [ -n "$4" ]; then exec 5<"$4" || exit 125; fi
        command=$3
        shift 4
        while IFS= read -r -d '' word; do set -- "$@" "$word"; done < "$command"
        exec "$@" </dev/null 2>&1
        """;

    // Not "sh" or "env": a builder may well start with such a message of its own.
    private static readonly string[] LauncherTools = ["bwrap", "setpriv", "prlimit", SandboxLauncher.Name];

    private readonly SandboxSettings _settings = settings ?? SandboxSettings.Default;
    private readonly TimeProvider _time = time ?? TimeProvider.System;

    public bool SeesLogicalStore => true;

    public async Task<BuilderResult> RunAsync(BuilderSpec spec, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onLog, CancellationToken cancellationToken)
    {
        if (SpecValidation.Rejection(spec, onLog) is { } rejected)
            return await rejected;
        if (_settings.Tools().FirstOrDefault(t => !File.Exists(t.Path)) is { Path: not null } missing)
            return Failed($"{missing.What} not found at {missing.Path}");

        BuildUser user;
        SandboxShared shared;
        SandboxArea area;
        try
        {
            user = BuildUserPool.For(_settings.FirstUid).Rent();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Failed($"no build user for the sandbox: {e.Message}");
        }

        using (user)
        {
            try
            {
                shared = SandboxShared.For(spec.BuildDir, _settings);
                area = SandboxArea.Create(spec, user.Uid);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return Failed($"cannot prepare the sandbox beside {spec.BuildDir}: {e.Message}");
            }

            using (area)
                return await RunInAreaAsync(spec, shared, area, user, onLog, cancellationToken);
        }
    }

    /// <summary>
    /// Whether this machine can run sandboxed builds: runs a real one and checks from inside what the builder gets
    /// (uid, capabilities, PID 1, loopback only, nothing of the host) and reports why not.
    /// </summary>
    /// <remarks><paramref name="mustReach"/>: the worker's physical store and build directory, which build users must be able to traverse to.</remarks>
    public static Task<SandboxCapability> ProbeAsync(
        SandboxSettings? settings = null, string logicalStoreDir = "/nix/store", IReadOnlyList<string>? mustReach = null, CancellationToken cancellationToken = default) =>
        SandboxProbe.RunAsync(settings ?? SandboxSettings.Default, logicalStoreDir, mustReach, cancellationToken);

    private async Task<BuilderResult> RunInAreaAsync(
        BuilderSpec spec, SandboxShared shared, SandboxArea area, BuildUser user, Func<ReadOnlyMemory<byte>, CancellationToken, ValueTask> onLog, CancellationToken cancellationToken)
    {
        SafeFileHandle? view = null;
        if (_settings.UsesStoreView)
        {
            try
            {
                view = StoreView.Create(spec.PhysicalStoreDir, BwrapArguments.InputNames(spec), area.Store, area.Work, BwrapArguments.Root(spec, shared, area, _settings), _settings.OverlayStore);
            }
            catch (IOException e)
            {
                return Failed($"cannot put the inputs into the sandbox: {e.Message}");
            }
        }

        // Closed once the build is over: with the build's last process, the namespace and its mounts are gone.
        using var closeView = view;
        var (options, command) = BwrapArguments.Create(spec, shared, area, _settings, ownRoot: view is not null);
        WritePrivate(area.ArgsFile, Words(options));
        WritePrivate(area.CommandFile, Words(command));

        var psi = _settings.UsesNativeLauncher ? NativeLaunch(shared, area, user, view) : ShellLaunch(shared, area, user);
        psi.WorkingDirectory = "/";
        // The launcher gets an empty environment: nothing of the worker's reaches bubblewrap or the builder.
        psi.Environment.Clear();

        // Bubblewrap's own errors come before anything of the builder's: remember how the log starts.
        var head = new StringBuilder();
        async ValueTask Log(ReadOnlyMemory<byte> chunk, CancellationToken ct)
        {
            if (head.Length < 256)
                head.Append(Encoding.UTF8.GetString(chunk.Span[..Math.Min(chunk.Length, 256)]));
            await onLog(chunk, ct);
        }

        var limits = _settings.MaxDiskBytes > 0
            ? new ResourceWatch(_settings.DiskCheckInterval, () => DiskUse.OverLimit(_settings.MaxDiskBytes, spec.BuildDir, area.Store, area.Tmp))
            : null;
        var result = await BuilderSupervisor.RunAsync(psi, PidNamespaceTree.Instance, StderrRole.BuilderLog, spec, Log, _time, cancellationToken, limits);
        // Every process of the build is gone: let the namespace go before the outputs leave the store directory,
        // which is the upper layer of its overlay (a layer changed under a mounted overlay is undefined behaviour).
        view?.Dispose();
        // "buildfarm-exec: execvp BUILDER: …" (or bubblewrap's "bwrap: execvp BUILDER: …" where ArgvZeroExec is not used)
        // is the builder's own failure to start (not in its closure, not executable): a build
        // failure, as Nix's "executing '…': No such file or directory"; any other bwrap message is the machine's.
        // The launcher's tools speak first, with their name: a message of theirs before anything of the builder's means
        // the builder never started (a machine problem, retried elsewhere).
        var start = head.ToString();
        if (result.Outcome == BuilderOutcome.Exited && result.ExitCode != 0 && !start.StartsWith($"bwrap: execvp {spec.Builder}:", StringComparison.Ordinal)
            && LauncherTools.Any(t => start.StartsWith(t + ": ", StringComparison.Ordinal)))
            return result with { Outcome = BuilderOutcome.SetupFailed, ExitCode = null, Error = start.Split('\n')[0] };
        if (result.Outcome == BuilderOutcome.Exited && result.ExitCode == 128 + 25 && _settings.MaxDiskBytes > 0)
            return result with { Outcome = BuilderOutcome.LimitExceeded, Error = $"the build wrote a file larger than the sandbox's disk limit ({_settings.MaxDiskBytes} bytes, Sandbox:MaxDiskBytes)" };
        // The watch samples; a builder that writes fast and exits between two looks is caught here, before any output is claimed.
        if (result.Outcome == BuilderOutcome.Exited && limits?.Check() is { } over)
            return result with { Outcome = BuilderOutcome.LimitExceeded, Error = over };
        if (!result.Succeeded)
            return result;
        try
        {
            foreach (var output in spec.OutputPaths ?? [])
            {
                var name = Path.GetFileName(output);
                area.Claim(name, Path.Combine(spec.PhysicalStoreDir, name));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or StoreException)
        {
            return result with { Outcome = BuilderOutcome.SetupFailed, ExitCode = null, Error = $"cannot move the outputs out of the sandbox: {e.Message}" };
        }

        return result;
    }

    /// <summary>
    /// RLIMIT_FSIZE, 0 for none: one byte over the disk limit, so a file the kernel stops is over the disk limit too,
    /// which the last check in RunInAreaAsync reports whatever the builder did with SIGXFSZ or EFBIG (busybox dd exits
    /// 1 with "File too large").
    /// </summary>
    private long FileSizeLimit => _settings.MaxDiskBytes > 0 ? _settings.MaxDiskBytes + 1 : 0;

    /// <summary>One static program prepares bubblewrap's process (<see cref="SandboxLauncher"/>).</summary>
    private ProcessStartInfo NativeLaunch(SandboxShared shared, SandboxArea area, BuildUser user, SafeFileHandle? view)
    {
        var psi = new ProcessStartInfo(shared.Launcher);
        foreach (var w in SandboxLauncher.Arguments(user.Uid, user.Uid, _settings.MaxProcesses, FileSizeLimit, area.ArgsFile, shared.Seccomp, shared.ArgvZero, area.CommandFile,
            view is null ? "" : StoreView.PathOf(view)))
            psi.ArgumentList.Add(w);
        psi.ArgumentList.Add(_settings.Bwrap);
        psi.ArgumentList.Add("--args");
        psi.ArgumentList.Add("3");
        return psi;
    }

    /// <summary>Busybox sh, env, prlimit and setpriv, one exec after another (architectures without the launcher).</summary>
    private ProcessStartInfo ShellLaunch(SandboxShared shared, SandboxArea area, BuildUser user)
    {
        var uid = user.Uid.ToString(CultureInfo.InvariantCulture);
        var psi = new ProcessStartInfo(_settings.Busybox);
        string[] words =
        [
            "sh", "-c", Wrapper, SandboxLauncher.Name, area.ArgsFile, shared.Seccomp, area.CommandFile, ArgvZeroExec.Supported ? shared.ArgvZero : "",
            // .NET ignores SIGPIPE and an ignored signal survives exec: builders get every signal at its default, as in Nix.
            _settings.Env, "--default-signal",
            _settings.Prlimit, $"--nproc={_settings.MaxProcesses}", "--core=0",
            .. FileSizeLimit > 0 ? [$"--fsize={FileSizeLimit}"] : Array.Empty<string>(),
            "--", _settings.Setpriv, $"--reuid={uid}", $"--regid={uid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs",
            "--", _settings.Bwrap, "--args", "3",
        ];
        foreach (var w in words)
            psi.ArgumentList.Add(w);
        return psi;
    }

    private static byte[] Words(IEnumerable<string> words)
    {
        using var bytes = new MemoryStream();
        foreach (var word in words)
        {
            bytes.Write(NixBytes.Encode(word));
            bytes.WriteByte(0);
        }

        return bytes.ToArray();
    }

    private static void WritePrivate(string path, byte[] bytes)
    {
        using var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        });
        file.Write(bytes);
    }

    private static BuilderResult Failed(string why) => new(BuilderOutcome.SetupFailed, null, why, TimeSpan.Zero, 0);
}
