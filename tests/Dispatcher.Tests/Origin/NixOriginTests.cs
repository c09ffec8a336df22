using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Hosting;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Store.Archives;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Quarantine;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Origin;

/// <summary>
/// The dispatcher with a real Nix store (Nix 2.8) as its origin: a private one in a temp directory
/// (<c>local?store=…&amp;state=…</c>), so nothing races the machine's /nix/store.
/// </summary>
public sealed class NixOriginTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _dir = new("nix-origin");
    private readonly SigningKey _key = SigningKey.Generate("worker-1");
    private StoreLayout _nix = null!;
    private LocalStore _worker = null!;
    private OriginStore _origin = null!;
    private OutputImporter _importer = null!;

    private string StoreDir => _dir.Combine("nix", "store");

    private string Uri => $"local?store={StoreDir}&state={_dir.Combine("nix", "var", "nix")}";

    public async Task InitializeAsync()
    {
        await File.WriteAllTextAsync(_dir.Combine("builder.sh"), "echo hi > $out\n");
        Directory.CreateDirectory(StoreDir);
        (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--add", _dir.Combine("builder.sh")])).EnsureSuccess("nix-store --add");
        _nix = StoreLayout.Create(StoreDir, "");
        _worker = await LocalStore.OpenAsync(StoreLayout.Create(StoreDir, _dir.Combine("worker")));
        _origin = new OriginStore(_nix, TimeProvider.System, new NixOrigin(_dir.Combine("nix", "var", "nix", "db", "db.sqlite")));
        _importer = new OutputImporter(_origin, TrustedKeysFile.Fixed(new TrustedKeys([_key.PublicKey])), TimeProvider.System);
    }

    [Fact]
    public async Task InputClosureAsync_DerivationFromNixInstantiate_PathsAndHashesAsNixHasThem()
    {
        var drvPath = (await ProcessRunner.RunAsync("nix-instantiate", ["--store", Uri, "-E",
            $"derivation {{ name = \"x\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; args = [ {_dir.Combine("builder.sh")} ]; }}"])).EnsureSuccess("nix-instantiate").Stdout.Trim();
        var (drv, _, error) = await _origin.ReadDerivationAsync(StorePath.Parse(_nix.StoreDir, drvPath), CancellationToken.None);
        Assert.Null(error);

        var (closure, closureError) = await _origin.InputClosureAsync(drv!, CancellationToken.None);

        Assert.Null(closureError);
        var src = Assert.Single(closure!);
        var json = JsonDocument.Parse((await ProcessRunner.RunAsync("nix", ["path-info", "--store", Uri, "--json", src.Path])).EnsureSuccess("nix path-info").Stdout).RootElement[0];
        Assert.Equal(NixHash.Parse(json.GetProperty("narHash").GetString()!).ToString(), src.NarHash);
        Assert.Equal(json.GetProperty("narSize").GetInt64(), src.NarSize);
        Assert.EndsWith("-builder.sh", src.Path, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportAsync_SignedOutputs_ValidInNixWithTheWorkersSignature()
    {
        var (e, path) = await ReturnAsync("accepted");

        Assert.Null(await _importer.ImportAsync(e, CancellationToken.None));

        (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--verify-path", path.FullPath])).EnsureSuccess("nix-store --verify-path");
        var sigs = (await ProcessRunner.RunAsync("nix", ["path-info", "--store", Uri, "--sigs", path.FullPath])).EnsureSuccess("nix path-info --sigs").Stdout;
        Assert.Contains("worker-1:", sigs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportAsync_SignedByAKeyNotTrusted_RejectedAndNothingInNix()
    {
        var (e, path) = await ReturnAsync("stranger");
        var trustsAnotherKey = new OutputImporter(_origin, TrustedKeysFile.Fixed(new TrustedKeys([SigningKey.Generate("worker-2").PublicKey])), TimeProvider.System);

        var reason = await trustsAnotherKey.ImportAsync(e, CancellationToken.None);

        Assert.StartsWith("outputs rejected: ", reason, StringComparison.Ordinal);
        Assert.Contains(path.FullPath, reason, StringComparison.Ordinal);
        Assert.NotEqual(0, (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--check-validity", path.FullPath])).ExitCode);
        Assert.False(Path.Exists(_nix.PhysicalPath(path)));
    }

    [Fact]
    public async Task ImportAsync_EventHashDiffersFromArchive_RejectedAndGoneFromNix()
    {
        var (e, path) = await ReturnAsync("liar");
        var lying = e with { Outputs = [e.Outputs[0] with { NarHash = "sha256:" + new string('0', 52) }] };

        var reason = await _importer.ImportAsync(lying, CancellationToken.None);

        Assert.StartsWith($"outputs rejected: output 'out' {path}: the result says NAR hash", reason, StringComparison.Ordinal);
        Assert.NotEqual(0, (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--check-validity", path.FullPath])).ExitCode);
        Assert.False(Path.Exists(_nix.PhysicalPath(path)));
    }

    [Fact]
    public void Validate_NixStoreKindWithoutNixDatabase_ErrorNamesTheDatabase()
    {
        var options = new DispatcherOptions { StoreDir = _dir.Combine("empty", "store"), SigningKeyFile = "/dev/null" };
        Directory.CreateDirectory(options.StoreDir);
        options.Origin.Store = "nix";

        var errors = new DispatcherOptionsValidator().Validate(null, options).Failures ?? [];

        Assert.Contains(errors, m => m.StartsWith("Dispatcher:Origin:Store is 'nix' but Nix's database " + _dir.Combine("empty", "var", "nix", "db", "db.sqlite") + " does not exist", StringComparison.Ordinal));
    }

    [Fact]
    public void Validate_UnknownStoreKind_ErrorListsTheKinds()
    {
        var options = new DispatcherOptions { SigningKeyFile = "/dev/null" };
        options.Origin.Store = "guix";

        var errors = new DispatcherOptionsValidator().Validate(null, options).Failures ?? [];

        Assert.Contains(errors, m => m.StartsWith("Dispatcher:Origin:Store 'guix' is not a store kind: use 'local'", StringComparison.Ordinal));
    }

    [Fact]
    public void DefaultRemoteCommand_NixOrigin_PassesNixAndTheSigningKey()
    {
        var options = new DispatcherOptions { StoreDir = "/nix/store", SigningKeyFile = "/etc/buildfarm/dispatcher.sec" };
        options.Origin.Store = "nix";

        var command = OriginConfig.DefaultRemoteCommand(options);

        Assert.EndsWith(" --store-dir /nix/store --nix --signing-key-file /etc/buildfarm/dispatcher.sec", command, StringComparison.Ordinal);
        Assert.DoesNotContain("--root", command, StringComparison.Ordinal);
    }

    /// <summary>One output built in the worker store, signed, its archive in the origin's quarantine.</summary>
    private async Task<(BuildSucceeded Event, StorePath Path)> ReturnAsync(string name)
    {
        var path = StorePath.FromDigest(_worker.StoreDir, Convert.ToHexStringLower(Guid.NewGuid().ToByteArray()).Replace('e', 'f')[..32], name);
        using (await _worker.LockPathAsync(path, CancellationToken.None))
        {
            await File.WriteAllTextAsync(_worker.PhysicalPath(path), "contents of " + name);
            await _worker.RegisterOutputAsync(path, [], null, CancellationToken.None);
        }

        var info = await _worker.GetPathInfoAsync(path, CancellationToken.None);
        await _worker.AddSignaturesAsync(path, [_key.Sign(info.Fingerprint)], CancellationToken.None);
        var build = Guid.NewGuid();
        using var archive = new MemoryStream();
        await ArchiveWriter.ExportAsync(_worker, [path], archive, new ExportOptions(ArchiveFormat.BuildFarmSigned), CancellationToken.None);
        archive.Position = 0;
        await new OutputQuarantine(_nix).ReceiveAsync(build, 1, archive, 1 << 20, CancellationToken.None);
        var e = new BuildSucceeded(build, 1, "w1", [new BuiltOutput("out", path.FullPath, info.NarHash.ToString(), info.NarSize, [], [])],
            new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), DateTimeOffset.UtcNow);
        return (e, path);
    }

    public Task DisposeAsync()
    {
        _origin.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _dir.Dispose();
}
