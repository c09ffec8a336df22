using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Store.Archives;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Quarantine;
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

    public async Task InitializeAsync()
    {
        _origin = StoreLayout.Create("/nix/store", _dir.Combine("origin"));
        _worker = await LocalStore.OpenAsync(StoreLayout.Create("/nix/store", _dir.Combine("worker")));
        _originStore = new OriginStore(_origin, TimeProvider.System);
        _importer = new OutputImporter(_originStore, TrustedKeysFile.Fixed(new TrustedKeys([_key.PublicKey])), TimeProvider.System);
    }

    [Fact]
    public async Task Import_Redelivered_SecondImportChangesNothingAndAccepts()
    {
        var (e, path) = await ReturnAsync("again");
        Assert.Null(await _importer.ImportAsync(e, CancellationToken.None));
        Assert.Null(await _importer.ImportAsync(e, CancellationToken.None));
        var origin = await _originStore.OpenAsync(CancellationToken.None);
        Assert.Equal(e.Outputs[0].NarHash, (await origin.GetPathInfoAsync(path, CancellationToken.None)).NarHash.ToString());
    }

    [Fact]
    public async Task Import_EventHashDiffersFromArchive_RejectedAndImportRolledBack()
    {
        var (e, path) = await ReturnAsync("liar");
        var lying = e with { Outputs = [e.Outputs[0] with { NarHash = "sha256:" + new string('0', 52) }] };
        var reason = await _importer.ImportAsync(lying, CancellationToken.None);
        Assert.NotNull(reason);
        Assert.StartsWith($"outputs rejected: output 'out' {path}: the result says NAR hash sha256:{new string('0', 52)}", reason, StringComparison.Ordinal);
        var origin = await _originStore.OpenAsync(CancellationToken.None);
        Assert.False(await origin.IsValidAsync(path, CancellationToken.None));
        Assert.False(File.Exists(_origin.PhysicalPath(path)) || Directory.Exists(_origin.PhysicalPath(path)));
    }

    [Fact]
    public async Task Import_EventNamesPathNotInArchive_Rejected()
    {
        var (e, _) = await ReturnAsync("partial");
        var other = "/nix/store/" + new string('3', 32) + "-other";
        var extra = e with { Outputs = [.. e.Outputs, e.Outputs[0] with { Name = "dev", Path = other }] };
        Assert.Equal($"outputs rejected: output 'dev' {other} is not in the returned archive", await _importer.ImportAsync(extra, CancellationToken.None));
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
        var (e, path) = await ReturnAsync("newcomer");

        var before = await importer.ImportAsync(e, CancellationToken.None);
        Assert.NotNull(before);
        Assert.Contains("signature by 'worker-1': no trusted key has that name", before, StringComparison.Ordinal);

        // What the operator does to authorize the worker: append its `public key:` line; the same importer is reused.
        await File.AppendAllTextAsync(file, _key.PublicKey + "\n");
        Assert.Null(await importer.ImportAsync(e, CancellationToken.None));
        var origin = await _originStore.OpenAsync(CancellationToken.None);
        Assert.True(await origin.IsValidAsync(path, CancellationToken.None));
    }

    /// <summary>Builds one output in the worker store, signs it and puts its archive into the origin's quarantine.</summary>
    private async Task<(BuildSucceeded Event, StorePath Path)> ReturnAsync(string name)
    {
        var path = StorePath.FromDigest(_worker.StoreDir, new string('1', 31) + name.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), name);
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
        await new OutputQuarantine(_origin).ReceiveAsync(build, 1, archive, 1 << 20, CancellationToken.None);
        var e = new BuildSucceeded(build, 1, "w1", [new BuiltOutput("out", path.FullPath, info.NarHash.ToString(), info.NarSize, [], [])],
            new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), DateTimeOffset.UtcNow);
        return (e, path);
    }

    public Task DisposeAsync()
    {
        _originStore.Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _dir.Dispose();
}
