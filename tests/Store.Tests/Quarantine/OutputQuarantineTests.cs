using BuildFarm.Store.Paths;
using BuildFarm.Store.Quarantine;
using BuildFarm.Testing;

namespace BuildFarm.Store.Tests.Quarantine;

public sealed class OutputQuarantineTests : IDisposable
{
    private readonly TempDirectory _dir = new("quarantine");

    [Fact]
    public void Delete_NoQuarantineFolderYet_IsANoOp()
    {
        // A failed first build returns nothing, so the folder was never created; discarding its attempt is not an error.
        var quarantine = new OutputQuarantine(StoreLayout.Create("/nix/store", _dir.Combine("origin")));
        Assert.False(Directory.Exists(quarantine.Directory));

        quarantine.Delete(Guid.NewGuid(), 1);

        Assert.False(Directory.Exists(quarantine.Directory));
    }

    [Fact]
    public async Task Delete_ReceivedAttempt_RemovesOnlyThatAttempt()
    {
        var quarantine = new OutputQuarantine(StoreLayout.Create("/nix/store", _dir.Combine("origin")));
        var build = Guid.NewGuid();
        await quarantine.ReceiveAsync(build, 1, new MemoryStream([1, 2, 3]), 1 << 20, CancellationToken.None);
        await quarantine.ReceiveAsync(build, 2, new MemoryStream([4, 5]), 1 << 20, CancellationToken.None);

        quarantine.Delete(build, 1);

        Assert.Null(quarantine.OpenOrNull(build, 1));
        using var second = quarantine.OpenOrNull(build, 2);
        Assert.Equal(2, second!.Length);
    }

    public void Dispose() => _dir.Dispose();
}
