using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Origin;

/// <summary>The dispatcher's import of quarantined outputs over real stores on disk.</summary>
public sealed class OutputImporterTests : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _dir = new("output-importer");
    private readonly SigningKey _key = SigningKey.Generate("worker-1");
    private StoreLayout _origin = null!;
    private LocalStore _worker = null!;
    private OriginStore _originStore = null!;
    private OutputImporter _importer = null!;
    private WorkerReturns _returns = null!;

    public async Task InitializeAsync()
    {
        _origin = StoreLayout.Create("/nix/store", _dir.Combine("origin"));
        _worker = await LocalStore.OpenAsync(StoreLayout.Create("/nix/store", _dir.Combine("worker")));
        _originStore = new OriginStore(_origin, TimeProvider.System);
        _importer = new OutputImporter(_originStore, TrustedKeysFile.Fixed(new TrustedKeys([_key.PublicKey])), TimeProvider.System);
        _returns = new WorkerReturns(_worker, _key, _origin);
    }

    [Fact]
    public async Task Import_Redelivered_SecondImportChangesNothingAndAccepts()
    {
        var (e, path, drv) = await ReturnAsync("again");
        Assert.Null(await ImportAsync(e, drv));
        Assert.Null(await ImportAsync(e, drv));
        var origin = await _originStore.OpenAsync(CancellationToken.None);
        Assert.Equal(e.Outputs[0].NarHash, (await origin.GetPathInfoAsync(path, CancellationToken.None)).NarHash.ToString());
    }

    [Fact]
    public async Task Import_EventHashDiffersFromArchive_RejectedAndImportRolledBack()
    {
        var (e, path, drv) = await ReturnAsync("liar");
        var lying = e with { Outputs = [e.Outputs[0] with { NarHash = "sha256:" + new string('0', 52) }] };
        var reason = await ImportAsync(lying, drv);
        Assert.NotNull(reason);
        Assert.StartsWith($"outputs rejected: output 'out' {path}: the result says NAR hash sha256:{new string('0', 52)}", reason, StringComparison.Ordinal);
        Assert.False(await IsValidAsync(path));
        Assert.False(File.Exists(_origin.PhysicalPath(path)) || Directory.Exists(_origin.PhysicalPath(path)));
    }

    [Fact]
    public async Task Import_EventNamesPathNotInArchive_Rejected()
    {
        var drv = await CompileAsync(new DerivationSpec { Name = "partial", System = "x86_64-linux", Builder = "/bin/sh", Outputs = ["out", "dev"] });
        var e = await _returns.ReturnAsync(drv, WorkerReturns.File("contents of partial"));
        var dev = drv.Derivation.Outputs["dev"].Path!.FullPath;
        var extra = e with { Outputs = [.. e.Outputs, e.Outputs[0] with { Name = "dev", Path = dev }] };
        Assert.Equal($"outputs rejected: output 'dev' {dev} is not in the returned archive", await ImportAsync(extra, drv));
    }

    [Fact]
    public async Task Import_KeyAppendedToTrustedFile_AcceptedByTheNextImportWithoutRestart()
    {
        var file = _dir.Combine("trusted-workers");
        var other = SigningKey.Generate("worker-0");
        await File.WriteAllTextAsync(file, other.PublicKey + "\n");
        var keys = TrustedKeysFile.Load(file, out var problem);
        Assert.Null(problem);
        var importer = new OutputImporter(_originStore, keys!, TimeProvider.System);
        var (e, path, drv) = await ReturnAsync("newcomer");

        var before = await importer.ImportAsync(e, drv.DrvPath.FullPath, drv.Aterm, CancellationToken.None);
        Assert.NotNull(before);
        Assert.Contains("signature by 'worker-1': no trusted key has that name", before, StringComparison.Ordinal);

        // What the operator does to authorize the worker: append its `public key:` line; the same importer is reused.
        await File.AppendAllTextAsync(file, _key.PublicKey + "\n");
        Assert.Null(await importer.ImportAsync(e, drv.DrvPath.FullPath, drv.Aterm, CancellationToken.None));
        Assert.True(await IsValidAsync(path));
    }

    [Fact]
    public async Task Import_InputAddressedOutput_AcceptedWithoutAContentCheck()
    {
        var (e, path, drv) = await ReturnAsync("plain");

        Assert.Null(await ImportAsync(e, drv));

        Assert.True(await IsValidAsync(path));
        Assert.Equal("contents of plain", await File.ReadAllTextAsync(_origin.PhysicalPath(path)));
    }

    [Theory]
    [InlineData("sha256", false)]
    [InlineData("sha1", false)]
    [InlineData("sha256", true)]
    [InlineData("sha512", true)]
    public async Task Import_FixedOutputWithTheDeclaredContent_Imported(string algo, bool recursive)
    {
        var write = recursive ? WorkerReturns.Tree("fetched\n") : WorkerReturns.File("fetched\n");
        var drv = await CompileFixedAsync("fetched", write, algo, recursive);
        var e = await _returns.ReturnAsync(drv, write);

        var err = await ImportAsync(e, drv);
        Assert.True(err is null, err);

        Assert.True(await IsValidAsync(drv.Derivation.Outputs["out"].Path!));
    }

    [Theory]
    [InlineData("sha256", false)]
    [InlineData("md5", false)]
    [InlineData("sha256", true)]
    [InlineData("sha512", true)]
    public async Task Import_FixedOutputContentDiffersSignedByTrustedKey_RejectedWithNixsMessageAndNeverValid(string algo, bool recursive)
    {
        Func<string, Task> Content(string text) => recursive ? WorkerReturns.Tree(text) : WorkerReturns.File(text);
        var drv = await CompileFixedAsync("poisoned", Content("the real tarball\n"), algo, recursive);
        var path = drv.Derivation.Outputs["out"].Path!;
        // A stolen key: the archive is correctly signed by a trusted worker key, its NAR hashes are right, only the
        // content is not what the derivation declares.
        var e = await _returns.ReturnAsync(drv, Content("a backdoor\n"));

        var reason = await ImportAsync(e, drv);

        var specified = await WorkerReturns.NixHashAsync(Content("the real tarball\n"), _dir.Combine("specified"), algo, recursive, sri: true);
        var got = await WorkerReturns.NixHashAsync(Content("a backdoor\n"), _dir.Combine("got"), algo, recursive, sri: true);
        Assert.Equal($"outputs rejected: hash mismatch in fixed-output derivation '{drv.DrvPath}':\n  specified: {specified}\n     got:    {got}", reason);
        Assert.False(await IsValidAsync(path));
        Assert.False(Path.Exists(_origin.PhysicalPath(path)));
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(_origin.PhysicalStoreDir), p => Path.GetFileName(p).StartsWith(StagedPath.Prefix, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Import_FlatFixedOutputIsExecutable_RejectedWithNixsMessage()
    {
        var drv = await CompileFixedAsync("script", WorkerReturns.File("echo hi\n"), "sha256", recursive: false);
        var path = drv.Derivation.Outputs["out"].Path!;
        var e = await _returns.ReturnAsync(drv, WorkerReturns.File("echo hi\n", executable: true));

        var reason = await ImportAsync(e, drv);

        Assert.Equal($"outputs rejected: output path '{path}' should be a non-executable regular file since recursive hashing is not enabled (outputHashMode=flat)", reason);
        Assert.False(await IsValidAsync(path));
    }

    [Fact]
    public async Task Import_ArchiveAlsoHoldsAnotherDerivationsFixedOutput_RejectedAndNeitherValid()
    {
        var drv = await CompileAsync(new DerivationSpec { Name = "innocent", System = "x86_64-linux", Builder = "/bin/sh" });
        var fetch = await CompileFixedAsync("someone-elses-fetch", WorkerReturns.File("the real source\n"), "sha256", recursive: false);
        var planted = fetch.Derivation.Outputs["out"].Path!;
        // The side door around the content check: the forged fixed output rides in the archive of an unrelated build.
        var e = await _returns.ReturnAsync(drv.DrvPath,
            ("out", drv.Derivation.Outputs["out"].Path!, WorkerReturns.File("contents of innocent")),
            ("out", planted, WorkerReturns.File("a backdoor\n")));
        e = e with { Outputs = [e.Outputs[0]] };

        var reason = await ImportAsync(e, drv);

        Assert.StartsWith($"outputs rejected: path '{planted}' is in the returned archive but is not an output of '{drv.DrvPath}'", reason, StringComparison.Ordinal);
        Assert.False(await IsValidAsync(planted));
        Assert.False(await IsValidAsync(drv.Derivation.Outputs["out"].Path!));
    }

    [Fact]
    public async Task Import_ArchiveAlsoHoldsAnUndeclaredPath_RejectedNothingValidAndNoTemporaryEntry()
    {
        var drv = await CompileAsync(new DerivationSpec { Name = "declared", System = "x86_64-linux", Builder = "/bin/sh" });
        // A path the build never declared, signed by the trusted key: e.g. a tool that later builds would pick up.
        var extra = _worker.ParsePath("/nix/store/" + new string('7', 32) + "-undeclared");
        var e = await _returns.ReturnAsync(drv.DrvPath,
            ("out", drv.Derivation.Outputs["out"].Path!, WorkerReturns.File("contents of declared")),
            ("out", extra, WorkerReturns.Tree("a planted tool")));
        e = e with { Outputs = [e.Outputs[0]] };

        var reason = await ImportAsync(e, drv);

        Assert.StartsWith($"outputs rejected: path '{extra}' is in the returned archive but is not an output of '{drv.DrvPath}'", reason, StringComparison.Ordinal);
        Assert.False(await IsValidAsync(extra));
        Assert.False(await IsValidAsync(drv.Derivation.Outputs["out"].Path!));
        Assert.Empty(Directory.EnumerateFileSystemEntries(_origin.PhysicalStoreDir));
    }

    [Fact]
    public async Task Import_OutputIsASymlinkToTheRoot_AcceptedAsNixDoes()
    {
        var drv = await CompileAsync(new DerivationSpec { Name = "to-root", System = "x86_64-linux", Builder = "/bin/sh" });
        var path = drv.Derivation.Outputs["out"].Path!;
        var e = await _returns.ReturnAsync(drv, physical =>
        {
            System.IO.File.CreateSymbolicLink(physical, "/");
            return Task.CompletedTask;
        });

        Assert.Null(await ImportAsync(e, drv));

        Assert.True(await IsValidAsync(path));
        Assert.Equal("/", new FileInfo(_origin.PhysicalPath(path)).LinkTarget);
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(_origin.PhysicalStoreDir), p => Path.GetFileName(p).StartsWith(".tmp-", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Import_EventCallsAnOutputByAnotherName_RejectedBeforeImport()
    {
        var (e, path, drv) = await ReturnAsync("renamed");
        var renamed = e with { Outputs = [e.Outputs[0] with { Name = "lib" }] };

        var reason = await ImportAsync(renamed, drv);

        Assert.Equal($"outputs rejected: output 'lib' {path} is not output 'lib' of {drv.DrvPath} (it has no such output)", reason);
        Assert.False(await IsValidAsync(path));
    }

    private Task<string?> ImportAsync(BuildSucceeded e, CompiledDerivation drv) =>
        _importer.ImportAsync(e, drv.DrvPath.FullPath, drv.Aterm, CancellationToken.None);

    private async Task<bool> IsValidAsync(StorePath path) =>
        await (await _originStore.OpenAsync(CancellationToken.None)).IsValidAsync(path, CancellationToken.None);

    /// <summary>An input-addressed derivation <paramref name="name"/> whose one output the worker returns.</summary>
    private async Task<(BuildSucceeded Event, StorePath Path, CompiledDerivation Drv)> ReturnAsync(string name)
    {
        var drv = await CompileAsync(new DerivationSpec { Name = name, System = "x86_64-linux", Builder = "/bin/sh" });
        var e = await _returns.ReturnAsync(drv, WorkerReturns.File("contents of " + name));
        return (e, drv.Derivation.Outputs["out"].Path!, drv);
    }

    /// <summary>A fixed-output derivation declaring what <paramref name="declared"/> writes, hashed by the real nix-hash.</summary>
    private async Task<CompiledDerivation> CompileFixedAsync(string name, Func<string, Task> declared, string algo, bool recursive)
    {
        var hash = await WorkerReturns.NixHashAsync(declared, _dir.Combine("declared-" + name), algo, recursive);
        return await CompileAsync(new DerivationSpec
        {
            Name = name, System = "x86_64-linux", Builder = "/bin/sh", FixedOutput = new FixedOutputSpec(hash, algo, recursive),
        });
    }

    private async Task<CompiledDerivation> CompileAsync(DerivationSpec spec) =>
        await new DerivationSpecCompiler(_worker.StoreDir, (_, _) => throw new InvalidOperationException("no input derivations"))
            .CompileAsync(spec, CancellationToken.None);

    public Task DisposeAsync()
    {
        _originStore.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _dir.Dispose();
}
