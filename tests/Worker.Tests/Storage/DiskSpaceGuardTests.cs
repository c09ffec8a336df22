using System.Diagnostics;
using BuildFarm.Testing;
using BuildFarm.Worker.Configuration;
using BuildFarm.Worker.Lifecycle;
using BuildFarm.Worker.Storage;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Worker.Tests.Storage;

/// <summary>A worker whose disk is full stops claiming builds, says why in its heartbeat, and claims again once space returns.</summary>
public sealed class DiskSpaceGuardTests : IDisposable
{
    private const long Floor = 4L << 20;
    private readonly TempDirectory _dir = new("disk-guard");
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task Check_FreeSpaceBelowTheFloorThenBack_PausesItselfThenResumesAtTwiceTheFloor()
    {
        var state = new WorkerState();
        var (guard, store, cache) = Create(_dir.Combine("root"), _dir.Combine("builds"), state);
        using var _ = store;
        using var __ = cache;
        var free = Floor - 1;
        guard.FreeBytes = () => (free, "/test/store");

        var reason = await guard.CheckAsync(CancellationToken.None);

        Assert.NotNull(reason);
        Assert.False(state.TakesBuilds);
        Assert.True(state.ReportedPaused);
        Assert.StartsWith("paused itself: disk full: 4194303 bytes free on /test/store", state.ReportedNote, StringComparison.Ordinal);
        // The operator's resume does not lift it: nothing this worker built now would succeed.
        state.Resume();
        Assert.False(state.TakesBuilds);
        free = Floor + (Floor / 2);
        Assert.NotNull(await guard.CheckAsync(CancellationToken.None));
        Assert.False(state.TakesBuilds);

        free = 2 * Floor;
        Assert.Null(await guard.CheckAsync(CancellationToken.None));
        Assert.True(state.TakesBuilds);
        Assert.False(state.ReportedPaused);
        Assert.Null(state.ReportedNote);
    }

    [Fact]
    public async Task Check_OperatorPauseAndDiskFull_BothShownAndTheOperatorsStaysAfterSpaceReturns()
    {
        var state = new WorkerState();
        var (guard, store, cache) = Create(_dir.Combine("root"), _dir.Combine("builds"), state);
        using var _ = store;
        using var __ = cache;
        var free = 0L;
        guard.FreeBytes = () => (free, "/test/builds");
        state.Pause("maintenance");

        await guard.CheckAsync(CancellationToken.None);
        Assert.Equal("maintenance; paused itself: disk full: 0 bytes free on /test/builds, under Store:PauseBelowFreeBytes 4194304; claims again at 8388608", state.ReportedNote);

        free = 10 * Floor;
        await guard.CheckAsync(CancellationToken.None);
        Assert.True(state.ReportedPaused);
        Assert.Equal("maintenance", state.ReportedNote);
    }

    /// <summary>A real small file system (tmpfs) filled by a file: the worker pauses; the file deleted, it resumes.</summary>
    [Fact]
    public async Task Check_RealTmpfsFilledThenEmptied_PausesThenResumes()
    {
        var mount = _dir.Combine("tmpfs");
        Directory.CreateDirectory(mount);
        Run("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", mount);
        try
        {
            var state = new WorkerState();
            var (guard, store, cache) = Create(Path.Combine(mount, "root"), Path.Combine(mount, "builds"), state);
            using var _ = store;
            using var __ = cache;
            Assert.Null(await guard.CheckAsync(CancellationToken.None));
            Assert.True(state.TakesBuilds);

            var filler = Path.Combine(mount, "filler");
            await FillAsync(filler);
            Assert.NotNull(await guard.CheckAsync(CancellationToken.None));
            Assert.False(state.TakesBuilds);
            Assert.Contains($"paused itself: disk full: ", state.ReportedNote, StringComparison.Ordinal);
            Assert.Contains(mount, state.ReportedNote, StringComparison.Ordinal);

            File.Delete(filler);
            Assert.Null(await guard.CheckAsync(CancellationToken.None));
            Assert.True(state.TakesBuilds);
        }
        finally
        {
            Run("umount", "-l", mount);
        }
    }

    public void Dispose() => _dir.Dispose();

    private (DiskSpaceGuard Guard, WorkerStore Store, StoreCache Cache) Create(string root, string buildDir, WorkerState state)
    {
        var options = Options.Create(new WorkerOptions
        {
            BuildDir = buildDir,
            Store = new StoreSection { StoreDir = "/nix/store", Root = root, PauseBelowFreeBytes = Floor },
        });
        var store = new WorkerStore(options, _time);
        var cache = new StoreCache(store, options, Serilog.Log.Logger);
        return (new DiskSpaceGuard(options, store, cache, state, _time, Serilog.Log.Logger), store, cache);
    }

    /// <summary>Writes until the file system says ENOSPC.</summary>
    private static async Task FillAsync(string file)
    {
        await using var f = File.Create(file);
        var chunk = new byte[1 << 20];
        try
        {
            while (true)
                await f.WriteAsync(chunk);
        }
        catch (IOException)
        {
        }
    }

    private static void Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true };
        foreach (var a in args)
            info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var err = p.StandardError.ReadToEnd();
        p.WaitForExit();
        Assert.True(p.ExitCode == 0, $"{file} {string.Join(' ', args)} failed ({p.ExitCode}): {err} (the test needs root)");
    }
}
