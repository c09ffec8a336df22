using BuildFarm.Store.Archives;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Quarantine;
using BuildFarm.Store.Streams;
using BuildFarm.Store.Tests.Local;
using BuildFarm.Store.Tests.Streams;
using Microsoft.Extensions.Time.Testing;

namespace BuildFarm.Store.Tests.Archives;

/// <summary>
/// A sender that stops in the middle of a file: the import (or quarantine receive) must give up on its own after the
/// stall timeout, at once when cancelled, or when the connection drops, and its temporary entry must be gone when it
/// returns (before, it stayed until the next store open), with the store exactly as before.
/// </summary>
public sealed class ArchiveStallTests : IAsyncLifetime
{
    private static readonly TimeSpan Stall = TimeSpan.FromMinutes(5);
    private TestStore _from = null!;
    private TestStore _to = null!;
    private StorePath _big = null!;
    private byte[] _halfArchive = null!;

    public async Task InitializeAsync()
    {
        _from = await TestStore.CreateAsync();
        _to = await TestStore.CreateAsync();
        _big = await _from.Store.AddTextAsync("big.bin", new byte[1 << 20], [], CancellationToken.None);
        await _to.Store.AddTextAsync("already-there.txt", "x"u8.ToArray(), [], CancellationToken.None);
        var archive = new MemoryStream();
        await ArchiveWriter.ExportAsync(_from.Store, [_big], archive, new ExportOptions(ArchiveFormat.BuildFarmSigned), CancellationToken.None);
        _halfArchive = archive.ToArray()[..(int)(archive.Length / 2)];
    }

    public Task DisposeAsync()
    {
        _from.Dispose();
        _to.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Import_StreamStallsMidFile_GivesUpAfterTheStallTimeoutAndLeavesNothing()
    {
        var before = Snapshot();
        var clock = new FakeTimeProvider();
        var input = new StallingStream(_halfArchive);

        var import = ArchiveImporter.ImportAsync(_to.Store, input, Options(clock), CancellationToken.None);
        await input.Stalled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains(_to.PhysicalEntries(), e => e.StartsWith(".tmp-", StringComparison.Ordinal));
        clock.Advance(Stall - TimeSpan.FromSeconds(1));
        Assert.False(import.IsCompleted, "the import gave up before the stall timeout");
        var error = await Assert.ThrowsAsync<StreamStalledException>(() => AdvanceUntilDoneAsync(clock, import));

        Assert.Equal($"the stream stalled: no byte arrived for 300 s after {_halfArchive.Length} bytes", error.Message);
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public async Task Import_StreamStallsMidFileThenCancelled_ReturnsAtOnceAndLeavesNothing()
    {
        var before = Snapshot();
        var input = new StallingStream(_halfArchive);
        using var cancel = new CancellationTokenSource();

        var import = ArchiveImporter.ImportAsync(_to.Store, input, Options(new FakeTimeProvider()), cancel.Token);
        await input.Stalled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await cancel.CancelAsync();

        // The stalled read ignores the token; the import must not wait for it.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => import.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public async Task Import_StreamStallsMidFileThenTheConnectionDrops_FailsAndLeavesNothing()
    {
        var before = Snapshot();
        var input = new StallingStream(_halfArchive);

        var import = ArchiveImporter.ImportAsync(_to.Store, input, Options(new FakeTimeProvider()), CancellationToken.None);
        await input.Stalled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        input.Drop();

        var error = await Assert.ThrowsAsync<IOException>(() => import.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal("connection reset by peer", error.Message);
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public async Task QuarantineReceive_UploadStallsMidArchive_GivesUpAfterTheStallTimeoutAndNoPartFileRemains()
    {
        var quarantine = new OutputQuarantine(_to.Layout);
        var clock = new FakeTimeProvider();
        var input = new StallingStream(_halfArchive);
        var build = Guid.NewGuid();

        var receive = quarantine.ReceiveAsync(build, 1, input, 1 << 30, CancellationToken.None, Stall, clock);
        await input.Stalled.Task.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Single(quarantine.Entries(), e => e.IsPart);
        await Assert.ThrowsAsync<StreamStalledException>(() => AdvanceUntilDoneAsync(clock, receive));

        Assert.Empty(quarantine.Entries());
        Assert.Null(quarantine.OpenOrNull(build, 1));
    }

    private static ImportOptions Options(TimeProvider clock) => new(null, CheckSignatures: false, StallTimeout: Stall, Time: clock);

    /// <summary>
    /// Moves the fake clock on a second at a time until <paramref name="task"/> ends (the guard's timer may be armed a
    /// moment after the stalled read was seen), bounded in real time so that a guard that never fires fails the test.
    /// </summary>
    private static async Task AdvanceUntilDoneAsync(FakeTimeProvider clock, Task task)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!task.IsCompleted && DateTime.UtcNow < deadline)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            await Task.WhenAny(task, Task.Delay(20));
        }

        await task.WaitAsync(TimeSpan.FromSeconds(1));
    }

    private string Snapshot() => string.Join('\n', _to.PhysicalEntries()) + "\n--\n" + string.Join('\n', _to.DatabaseRows());
}
