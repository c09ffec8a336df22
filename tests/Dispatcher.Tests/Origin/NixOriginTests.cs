using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Hosting;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
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
        var (e, path, drv) = await ReturnAsync("accepted");

        Assert.Null(await ImportAsync(_importer, e, drv));

        (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--verify-path", path.FullPath])).EnsureSuccess("nix-store --verify-path");
        var sigs = (await ProcessRunner.RunAsync("nix", ["path-info", "--store", Uri, "--sigs", path.FullPath])).EnsureSuccess("nix path-info --sigs").Stdout;
        Assert.Contains("worker-1:", sigs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ImportAsync_SignedByAKeyNotTrusted_RejectedAndNothingInNix()
    {
        var (e, path, drv) = await ReturnAsync("stranger");
        var trustsAnotherKey = new OutputImporter(_origin, TrustedKeysFile.Fixed(new TrustedKeys([SigningKey.Generate("worker-2").PublicKey])), TimeProvider.System);

        var reason = await ImportAsync(trustsAnotherKey, e, drv);

        Assert.StartsWith("outputs rejected: ", reason, StringComparison.Ordinal);
        Assert.Contains(path.FullPath, reason, StringComparison.Ordinal);
        Assert.False(await ValidInNixAsync(path));
        Assert.False(Path.Exists(_nix.PhysicalPath(path)));
    }

    [Fact]
    public async Task ImportAsync_EventHashDiffersFromArchive_RejectedAndGoneFromNix()
    {
        var (e, path, drv) = await ReturnAsync("liar");
        var lying = e with { Outputs = [e.Outputs[0] with { NarHash = "sha256:" + new string('0', 52) }] };

        var reason = await ImportAsync(_importer, lying, drv);

        Assert.StartsWith($"outputs rejected: output 'out' {path}: the result says NAR hash", reason, StringComparison.Ordinal);
        Assert.False(await ValidInNixAsync(path));
        Assert.False(Path.Exists(_nix.PhysicalPath(path)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ImportAsync_FixedOutputContentDiffersSignedByTrustedKey_RejectedWithNixsMessageAndNotInNix(bool recursive)
    {
        Func<string, Task> Content(string text) => recursive ? WorkerReturns.Tree(text) : WorkerReturns.File(text);
        var drv = await InstantiateFixedAsync("poisoned", Content("the real tarball\n"), recursive);
        var path = drv.Derivation.Outputs["out"].Path!;
        var e = await new WorkerReturns(_worker, _key, _nix).ReturnAsync(drv, Content("a backdoor\n"));

        var reason = await ImportAsync(_importer, e, drv);

        var specified = await WorkerReturns.NixHashAsync(Content("the real tarball\n"), _dir.Combine("specified"), "sha256", recursive, sri: true);
        var got = await WorkerReturns.NixHashAsync(Content("a backdoor\n"), _dir.Combine("got"), "sha256", recursive, sri: true);
        Assert.Equal($"outputs rejected: hash mismatch in fixed-output derivation '{drv.DrvPath}':\n  specified: {specified}\n     got:    {got}", reason);
        Assert.False(await ValidInNixAsync(path));
        Assert.False(Path.Exists(_nix.PhysicalPath(path)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task ImportAsync_FixedOutputWithTheDeclaredContent_ValidInNix(bool recursive)
    {
        var content = recursive ? WorkerReturns.Tree("fetched\n") : WorkerReturns.File("fetched\n");
        var drv = await InstantiateFixedAsync("fetched", content, recursive);
        var path = drv.Derivation.Outputs["out"].Path!;
        var e = await new WorkerReturns(_worker, _key, _nix).ReturnAsync(drv, content);

        Assert.Null(await ImportAsync(_importer, e, drv));

        (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--verify-path", path.FullPath])).EnsureSuccess("nix-store --verify-path");
        // Recorded content-addressed, as Nix's own build records a fixed output (its `ca`): flat, the file's hash;
        // recursive, the NAR's (which Nix's database gives as the path's hash).
        var info = JsonDocument.Parse((await ProcessRunner.RunAsync("nix", ["--extra-experimental-features", "nix-command", "path-info", "--store", Uri, "--json", path.FullPath]))
            .EnsureSuccess("nix path-info").Stdout).RootElement[0];
        var expected = recursive
            ? "fixed:r:" + (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--query", "--hash", path.FullPath])).EnsureSuccess("nix-store --query --hash").Stdout.Trim()
            : "fixed:sha256:" + Nix32.Encode(System.Security.Cryptography.SHA256.HashData("fetched\n"u8));
        Assert.Equal(expected, info.GetProperty("ca").GetString());
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

    private static Task<string?> ImportAsync(OutputImporter importer, BuildSucceeded e, CompiledDerivation drv) =>
        importer.ImportAsync(e, drv.DrvPath.FullPath, drv.Aterm, CancellationToken.None);

    private async Task<bool> ValidInNixAsync(StorePath path) =>
        (await ProcessRunner.RunAsync("nix-store", ["--store", Uri, "--check-validity", path.FullPath])).ExitCode == 0;

    /// <summary>The real nix-instantiate's derivation (in the private Nix store), read back as the origin reads it.</summary>
    private async Task<CompiledDerivation> InstantiateAsync(string name, string attributes = "")
    {
        var drvPath = (await ProcessRunner.RunAsync("nix-instantiate", ["--store", Uri, "-E",
            $"derivation {{ name = \"{name}\"; system = \"x86_64-linux\"; builder = \"/bin/sh\"; {attributes} }}"])).EnsureSuccess("nix-instantiate").Stdout.Trim();
        var path = StorePath.Parse(_nix.StoreDir, drvPath);
        var (drv, text, error) = await _origin.ReadDerivationAsync(path, CancellationToken.None);
        return new CompiledDerivation(path, drv ?? throw new InvalidOperationException(error), text!);
    }

    /// <summary>A fixed-output derivation declaring the sha256 of what <paramref name="declared"/> writes (by the real nix-hash).</summary>
    private async Task<CompiledDerivation> InstantiateFixedAsync(string name, Func<string, Task> declared, bool recursive)
    {
        var hash = await WorkerReturns.NixHashAsync(declared, _dir.Combine("declared-" + name), "sha256", recursive);
        return await InstantiateAsync(name, $"outputHash = \"{hash}\"; outputHashAlgo = \"sha256\"; outputHashMode = \"{(recursive ? "recursive" : "flat")}\";");
    }

    /// <summary>An input-addressed derivation by nix-instantiate whose one output the worker returns, signed, into the origin's quarantine.</summary>
    private async Task<(BuildSucceeded Event, StorePath Path, CompiledDerivation Drv)> ReturnAsync(string name)
    {
        var drv = await InstantiateAsync(name);
        var e = await new WorkerReturns(_worker, _key, _nix).ReturnAsync(drv, WorkerReturns.File("contents of " + name));
        return (e, drv.Derivation.Outputs["out"].Path!, drv);
    }

    public Task DisposeAsync()
    {
        _origin.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _dir.Dispose();
}
