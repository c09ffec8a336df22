using System.Collections.Immutable;
using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using BuildFarm.Worker.Tests.Farm;

namespace BuildFarm.Worker.Tests.Origins;

/// <summary>
/// An origin for offload tests: a real sshd whose login runs the published <c>buildfarm</c> (through a wrapper that
/// logs every invocation) against an origin store in a temp dir, holding a static busybox and a source file, both
/// signed by the origin key. The worker gets its own empty store (same logical directory, another root).
/// </summary>
internal sealed class OriginWorld : IAsyncDisposable
{
    private readonly TempDirectory _dir = new("offload");

    private OriginWorld(SshdServer sshd, string storeDir)
    {
        Sshd = sshd;
        StoreDir = storeDir;
        OriginLayout = StoreLayout.Create(storeDir, _dir.Combine("origin-root"));
        WorkerLayout = StoreLayout.Create(storeDir, _dir.Combine("worker-root"));
    }

    public SshdServer Sshd { get; }

    public string StoreDir { get; }

    public StoreLayout OriginLayout { get; }

    public StoreLayout WorkerLayout { get; }

    public SigningKey OriginKey { get; } = SigningKey.Generate("origin-test-1");

    public LocalStore Origin { get; private set; } = null!;

    public StorePath Busybox { get; private set; } = null!;

    public StorePath Source { get; private set; } = null!;

    /// <summary>A directory of the test's own, outside both stores.</summary>
    public string Scratch => Directory.CreateDirectory(_dir.Combine("scratch")).FullName;

    /// <summary>Every invocation of <c>buildfarm</c> on the origin, one line of arguments each.</summary>
    public string CallsLog => _dir.Combine("calls.log");

    public string RemoteCommand => $"{Wrapper} --store-dir {StoreDir} --root {OriginLayout.Root}";

    /// <summary>
    /// While this file exists, an upload command (quarantine-serve or quarantine-put) arriving over SSH writes its pid
    /// into the file and stops itself (SIGSTOP) before it reads anything: an origin that stopped reading. SIGCONT
    /// lets it go on to serve whatever reached it.
    /// </summary>
    public string StopUploadsFile => _dir.Combine("stop-uploads");

    // Named buildfarm: origin-serve accepts only a buildfarm program at the head of the worker's command.
    private string Wrapper => _dir.Combine("bin", "buildfarm");

    public static async Task<OriginWorld> CreateAsync(string storeDir)
    {
        var world = new OriginWorld(await SshdServer.StartAsync(), storeDir);
        await world.InitAsync();
        return world;
    }

    public string[] Calls() => File.Exists(CallsLog) ? File.ReadAllLines(CallsLog) : [];

    /// <summary>Worker settings: its own store root and the origin pinned with <paramref name="pinnedFingerprint"/>.</summary>
    public Dictionary<string, string?> WorkerSettings(string? pinnedFingerprint = null)
    {
        File.WriteAllText(_dir.Combine("inputs.pub"), OriginKey.PublicKey + "\n");
        return new Dictionary<string, string?>
        {
            ["Store:Root"] = WorkerLayout.Root,
            ["Origins:PrivateKeyFile"] = Sshd.ClientKeyPath,
            ["Origins:TrustedInputKeysFile"] = _dir.Combine("inputs.pub"),
            ["Origins:PinnedHostKeys:0:Host"] = Sshd.Host,
            ["Origins:PinnedHostKeys:0:Port"] = Sshd.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Origins:PinnedHostKeys:0:Fingerprint"] = pinnedFingerprint ?? Sshd.HostKeyFingerprint,
            ["Origins:MaxRetryAttempts"] = "1",
            ["Origins:RetryBaseDelay"] = "00:00:00.200",
            ["Origins:ConnectTimeout"] = "00:00:20",
        };
    }

    /// <summary>
    /// A derivation built by the origin's busybox from the origin's source file; its output references busybox. With
    /// <paramref name="script"/> the builder runs that instead (<c>$bb</c> is busybox).
    /// </summary>
    public async Task<BuildDerivation> RequestAsync(
        string system, string tag, string? requestFingerprint = null, string? sourceNarHash = null, IReadOnlyList<StorePath>? extraInputs = null, string? script = null)
    {
        var inputs = new[] { Busybox, Source }.Concat(extraInputs ?? []).ToArray();
        var bb = Busybox.FullPath + "/bin/busybox";
        script = script is null
            ? $"\"{bb}\" mkdir \"$out\" && \"{bb}\" cat \"{Source.FullPath}\" > \"$out/greeting\" && echo \"{bb}\" > \"$out/tool\" && echo built {tag}"
            : $"bb={bb}; {script}";
        var spec = new DerivationSpec
        {
            Name = "offload-" + tag,
            System = system,
            Builder = bb,
            Args = ["sh", "-c", script],
            InputSrcs = [.. inputs.Select(p => p.FullPath)],
            Env = ImmutableSortedDictionary<string, string>.Empty.WithComparers(CodePointComparer.Instance).Add("nonce", Guid.NewGuid().ToString("N")),
        };
        var compiled = await new DerivationSpecCompiler(new StoreDirectory(StoreDir), (p, _) => throw new InvalidOperationException($"no input drv {p}"))
            .CompileAsync(spec, CancellationToken.None);
        var closure = new List<InputPath>();
        foreach (var path in inputs)
        {
            var info = await Origin.GetPathInfoAsync(path, CancellationToken.None);
            var hash = path == Source && sourceNarHash is not null ? sourceNarHash : info.NarHash.ToString();
            closure.Add(new InputPath(path.FullPath, hash, info.NarSize));
        }

        var origin = new OriginEndpoint(Sshd.Host, Sshd.Port, Sshd.User, requestFingerprint ?? Sshd.HostKeyFingerprint, RemoteCommand);
        return new BuildDerivation(
            Guid.NewGuid(), 1, compiled.DrvPath.FullPath, compiled.Aterm, StoreDir, system, [], closure, ["out"], origin,
            new BuildLimits(TimeSpan.FromMinutes(5), TimeSpan.Zero), 0, DateTimeOffset.UtcNow);
    }

    /// <summary>A signed path of <paramref name="bytes"/> random bytes in the origin store (an input that takes room).</summary>
    public async Task<StorePath> AddBlobAsync(string name, int bytes)
    {
        var path = await Origin.AddTextAsync(name, System.Security.Cryptography.RandomNumberGenerator.GetBytes(bytes), [], CancellationToken.None);
        var info = await Origin.GetPathInfoAsync(path, CancellationToken.None);
        await Origin.AddSignaturesAsync(path, [OriginKey.Sign(info.Fingerprint)], CancellationToken.None);
        return path;
    }

    public async ValueTask DisposeAsync()
    {
        Sshd.Dispose();
        await Task.Yield();
        _dir.Dispose();
    }

    private async Task InitAsync()
    {
        var ct = CancellationToken.None;
        Origin = await LocalStore.OpenAsync(OriginLayout, null, ct);
        // A directory, so the program's own name stays "busybox" (busybox picks its applet from argv[0]).
        var tree = Directory.CreateDirectory(_dir.Combine("busybox-tree", "bin")).FullName;
        File.Copy("/bin/busybox", Path.Combine(tree, "busybox"));
        Busybox = await Origin.AddPathAsync(Path.GetDirectoryName(tree)!, ct, "busybox");
        Source = await Origin.AddTextAsync("greeting.txt", "hello from the origin\n"u8.ToArray(), [], ct);
        foreach (var path in new[] { Busybox, Source })
        {
            var info = await Origin.GetPathInfoAsync(path, ct);
            await Origin.AddSignaturesAsync(path, [OriginKey.Sign(info.Fingerprint)], ct);
        }

        // Also the forced command of the worker's key (as an origin sets it): started without arguments, it logs the
        // worker's command from SSH_ORIGINAL_COMMAND and hands it to buildfarm origin-serve on the origin store.
        var wrapper = Wrapper;
        Directory.CreateDirectory(Path.GetDirectoryName(wrapper)!);
        await File.WriteAllTextAsync(wrapper, $$"""
            #!/bin/sh
            if [ $# -eq 0 ] && [ -n "${SSH_ORIGINAL_COMMAND:-}" ]; then
              set -f; set -- $SSH_ORIGINAL_COMMAND; set +f; shift
              echo "$*" >> {{CallsLog}}
              case "$*" in
                *quarantine-serve*|*quarantine-put*) if [ -e {{StopUploadsFile}} ]; then echo $$ > {{StopUploadsFile}}; kill -STOP $$; fi ;;
              esac
              exec {{RepoPaths.Buildfarm}} --store-dir {{StoreDir}} --root {{OriginLayout.Root}} origin-serve
            fi
            echo "$*" >> {{CallsLog}}
            exec {{RepoPaths.Buildfarm}} "$@"
            """, ct);
        File.SetUnixFileMode(wrapper, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        await Sshd.ForceCommandAsync(wrapper);
    }
}
