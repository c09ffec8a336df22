using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Origin;
using BuildFarm.Dispatcher.Tests.Lifecycle;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Quarantine;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Origin;

/// <summary>The quarantine sweep over real files and a real lifecycle database.</summary>
public sealed class QuarantineSweeperTests : IAsyncLifetime, IDisposable
{
    private static readonly TimeSpan Grace = TimeSpan.FromHours(1);
    private readonly TempDirectory _dir = new("quarantine-sweep");
    private LifecycleHarness _h = null!;
    private OutputQuarantine _quarantine = null!;
    private QuarantineSweeper _sweeper = null!;

    public async Task InitializeAsync()
    {
        _h = await LifecycleHarness.CreateAsync();
        var layout = StoreLayout.Create("/nix/store", _dir.Combine("origin"));
        _quarantine = new OutputQuarantine(layout);
        _sweeper = new QuarantineSweeper(new OriginStore(layout, _h.Time), _h.Db, _h.Time, Grace / 4, Grace);
    }

    [Fact]
    public async Task SweepOnce_OldFilesOfAttemptsNotRunning_DeletedAndRunningAttemptKept()
    {
        await _h.HeartbeatAsync("w1", LifecycleHarness.Caps("x86_64-linux"));
        var running = await _h.SubmitAsync();
        await _h.StartAsync(running, 1, "w1");
        var succeeded = await _h.SubmitAsync();
        await _h.StartAsync(succeeded, 1, "w1");
        await _h.SucceedAsync(succeeded, 1, "w1");
        var retried = await _h.SubmitAsync();
        await _h.StartAsync(retried, 1, "w1");
        await _h.FailAsync(retried, 1, "w1", BuildFailureKind.Infrastructure, "lost");
        await _h.StartAsync(retried, 2, "w1");

        var keptRunning = Put(running, 1, Grace * 3);
        var goneSucceeded = Put(succeeded, 1, Grace * 2);
        var goneOldAttempt = Put(retried, 1, Grace * 2);
        var keptNewAttempt = Put(retried, 2, Grace * 2);
        var goneUnknown = Put(Guid.NewGuid(), 1, Grace * 2);
        var keptRecentUnknown = Put(Guid.NewGuid(), 1, Grace / 2);
        var gonePart = Put(running, 1, Grace * 2, part: true);
        var keptPart = Put(retried, 2, Grace / 2, part: true);
        var foreign = Path.Combine(_quarantine.Directory, "README");
        await File.WriteAllTextAsync(foreign, "not ours");
        File.SetLastWriteTimeUtc(foreign, _h.Time.GetUtcNow().UtcDateTime - (Grace * 5));

        Assert.Equal(4, await _sweeper.SweepOnceAsync(CancellationToken.None));

        Assert.All([keptRunning, keptNewAttempt, keptRecentUnknown, keptPart, foreign], f => Assert.True(File.Exists(f), f + " was deleted"));
        Assert.All([goneSucceeded, goneOldAttempt, goneUnknown, gonePart], f => Assert.False(File.Exists(f), f + " is still there"));
        Assert.Equal(0, await _sweeper.SweepOnceAsync(CancellationToken.None));
    }

    [Fact]
    public async Task SweepOnce_NoQuarantineFolder_DeletesNothing()
    {
        Assert.False(Directory.Exists(_quarantine.Directory));
        Assert.Equal(0, await _sweeper.SweepOnceAsync(CancellationToken.None));
    }

    private string Put(Guid build, int attempt, TimeSpan age, bool part = false)
    {
        Directory.CreateDirectory(_quarantine.Directory);
        var file = _quarantine.FileFor(build, attempt) + (part ? ".part" : "");
        File.WriteAllText(file, "archive bytes");
        File.SetLastWriteTimeUtc(file, _h.Time.GetUtcNow().UtcDateTime - age);
        return file;
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    public void Dispose() => _dir.Dispose();
}
