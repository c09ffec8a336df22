using System.Text;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Dispatcher.Submission;
using BuildFarm.Dispatcher.Tests.Lifecycle;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Api.Builds;

/// <summary>Retry over a real SQLite file and a real origin store, with an origin configured and a recording publisher.</summary>
public sealed class BuildRetryTests : IAsyncLifetime, IDisposable
{
    private static readonly OriginEndpoint Endpoint = new("origin.example", 2222, "buildfarm", "SHA256:" + new string('A', 43), "buildfarm --store-dir /nix/store");
    private readonly TempDirectory _dir = new("build-retry");
    private readonly RecordingPublisher _publisher = new();
    private LifecycleDatabase _db = null!;
    private OriginStore _origin = null!;
    private BuildLifecycle _lifecycle = null!;
    private DerivationIntake _intake = null!;
    private BuildSubmitter _submitter = null!;

    public async Task InitializeAsync()
    {
        var layout = StoreLayout.Create("/nix/store", _dir.Combine("origin"));
        _db = await LifecycleDatabase.OpenAsync(_dir.Combine("dispatcher.db"), CancellationToken.None);
        _origin = new OriginStore(layout, TimeProvider.System);
        _lifecycle = new BuildLifecycle(_db, _publisher, new RecordingControl(), TimeProvider.System, LifecycleSettings.Default);
        _intake = new DerivationIntake(layout);
        _submitter = new BuildSubmitter(_lifecycle, _origin, new OriginConfig(Endpoint, TrustedKeysFile.Fixed(new TrustedKeys([]))));
        await _lifecycle.OnStatusAsync(
            new WorkerStatusReported("w1", new WorkerCapabilities(["x86_64-linux"], [], [], 2, 1), [], 0, 1L << 30, "test", false, false, null, DateTimeOffset.UtcNow),
            CancellationToken.None);
    }

    [Fact]
    public async Task Retry_FailedBuildSubmittedWithOriginClosure_NewRequestCarriesTheSameOriginAndClosure()
    {
        var drvPath = await WriteDerivationWithSourcesAsync();
        var (drv, error) = await _intake.ResolveAsync(drvPath.FullPath, null, CancellationToken.None);
        Assert.NotNull(drv);
        var settings = new SubmitSettings(7, false, TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(2));
        var first = (await _submitter.SubmitAsync(drv!, settings, CancellationToken.None)).BuildId!.Value;
        await _lifecycle.OnStartedAsync(new BuildStarted(first, 1, "w1", DateTimeOffset.UtcNow), CancellationToken.None);
        await _lifecycle.OnFailedAsync(new BuildFailed(first, 1, "w1", BuildFailureKind.BuildFailure, 1, "builder exited with code 1", "", DateTimeOffset.UtcNow), CancellationToken.None);

        var (outcome, newId, retryError) = await new BuildRetry(_lifecycle, _intake, _submitter).RetryAsync(first, CancellationToken.None);

        Assert.True(outcome == BuildRetry.Outcome.Submitted, retryError);
        Assert.NotEqual(first, newId);
        var requests = _publisher.Published.ToArray();
        Assert.Equal([first, newId!.Value], requests.Select(r => r.BuildId));
        var (fresh, retried) = (requests[0], requests[1]);
        Assert.Equal(Endpoint, retried.Origin);
        Assert.Equal(2, fresh.InputClosure.Count);
        Assert.All(fresh.InputClosure, i => Assert.StartsWith("sha256:", i.NarHash, StringComparison.Ordinal));
        Assert.Equal(fresh.InputClosure, retried.InputClosure);
        Assert.Equal(1, retried.Attempt);
        Assert.Equal(
            (fresh.DrvPath, fresh.DrvText, fresh.StoreDir, fresh.System, fresh.Priority, fresh.Limits),
            (retried.DrvPath, retried.DrvText, retried.StoreDir, retried.System, retried.Priority, retried.Limits));
        Assert.Equal(fresh.WantedOutputs, retried.WantedOutputs);
        Assert.Equal(fresh.RequiredFeatures, retried.RequiredFeatures);
    }

    [Fact]
    public async Task Retry_InputNoLongerInTheOriginStore_RefusedNamingTheInput()
    {
        var drvPath = await WriteDerivationWithSourcesAsync();
        var (drv, _) = await _intake.ResolveAsync(drvPath.FullPath, null, CancellationToken.None);
        var first = (await _submitter.SubmitAsync(drv!, new SubmitSettings(0, false, TimeSpan.Zero, TimeSpan.Zero), CancellationToken.None)).BuildId!.Value;
        await _lifecycle.CancelAsync(first, "test", CancellationToken.None);
        // The origin store lost the derivation's input source (e.g. garbage-collected) since the first submission.
        // The retry works from the stored .drv text, so the .drv itself may go too (it is the source's only referrer).
        var src = drv!.Drv.InputSrcs.Single();
        var store = await _origin.OpenAsync(CancellationToken.None);
        await store.DeleteAsync(drvPath, CancellationToken.None);
        await store.DeleteAsync(src, CancellationToken.None);

        var (outcome, newId, error) = await new BuildRetry(_lifecycle, _intake, _submitter).RetryAsync(first, CancellationToken.None);

        Assert.Equal(BuildRetry.Outcome.Refused, outcome);
        Assert.Null(newId);
        Assert.Contains($"input source {src} is not valid in the origin store", error, StringComparison.Ordinal);
        Assert.Single(_publisher.Published);
    }

    /// <summary>A derivation whose input source (builder.sh) references another source (lib.sh): a closure of two.</summary>
    private async Task<StorePath> WriteDerivationWithSourcesAsync()
    {
        var store = (BuildFarm.Store.Local.LocalStore)await _origin.OpenAsync(CancellationToken.None);
        var lib = await store.AddTextAsync("lib.sh", Encoding.UTF8.GetBytes("greet() { echo hi; }\n"), [], CancellationToken.None);
        var builder = await store.AddTextAsync("builder.sh", Encoding.UTF8.GetBytes($". {lib.FullPath}\ngreet > $out\n"), [lib], CancellationToken.None);
        var compiler = new DerivationSpecCompiler(store.StoreDir, (_, _) => throw new InvalidOperationException("no input derivations"));
        var compiled = await compiler.CompileAsync(
            new DerivationSpec { Name = "hello", System = "x86_64-linux", Builder = "/bin/sh", Args = [builder.FullPath], InputSrcs = [builder.FullPath] }, CancellationToken.None);
        await new DrvStoreWriter(store).WriteAsync(compiler.Compiled, CancellationToken.None);
        return compiled.DrvPath;
    }

    public async Task DisposeAsync() => await _db.DisposeAsync();

    public void Dispose()
    {
        _origin.Dispose();
        _dir.Dispose();
    }
}
