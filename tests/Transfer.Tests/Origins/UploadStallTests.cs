using System.Diagnostics;
using System.Security.Cryptography;
using BuildFarm.Testing;
using BuildFarm.Transfer.Errors;
using BuildFarm.Transfer.Origins;
using BuildFarm.Transfer.Resilience;
using BuildFarm.Transfer.Tests.Support;

namespace BuildFarm.Transfer.Tests.Origins;

/// <summary>Uploads to a remote command that never reads its stdin, against a real sshd: bounded by the stall timeout.</summary>
public sealed class UploadStallTests(SshdFixture sshd) : IClassFixture<SshdFixture>
{
    private static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(1);

    private SshdServer Server => sshd.Server;

    [Theory]
    [InlineData(16 * 1024 * 1024, OriginTransport.SshNet)] // a write waits for the SSH window that never opens
    [InlineData(10, OriginTransport.SshNet)] // every byte fits the window: the wait is for the exit after the last one
    [InlineData(16 * 1024 * 1024, OriginTransport.OpenSsh)]
    [InlineData(10, OriginTransport.OpenSsh)]
    public async Task UploadAsync_RemoteNeverReads_StalledWithinBoundsConnectionDroppedAndTheNextUploadWorks(int bytes, OriginTransport transport)
    {
        var marker = Random.Shared.Next(100_000, 999_999);
        await using var origin = new OriginClient(ConnectionSettings.For(Server, transport), new TransferResilienceOptions { MaxRetryAttempts = 2, BaseDelay = TimeSpan.FromMilliseconds(100) });
        var clock = Stopwatch.StartNew();

        var stalled = await Assert.ThrowsAsync<UploadStalledException>(() => origin.UploadAsync(
            $"sleep 30.{marker}",
            async (stdin, ct) => await stdin.WriteAsync(RandomNumberGenerator.GetBytes(bytes), ct),
            CancellationToken.None,
            StallTimeout));

        Assert.InRange(clock.Elapsed, StallTimeout, TimeSpan.FromSeconds(10));
        Assert.Contains("stalled: no progress for 1 s after", stalled.Message, StringComparison.Ordinal);
        Assert.Contains("Origins:UploadStallTimeout", stalled.Message, StringComparison.Ordinal);
        Assert.Equal(0, origin.Resilience.Retries); // not retried: the attempt fails, the build is retried
        // The connection under it was dropped (closed once its channel is released, in the background).
        await WaitUntilAsync(() => origin.Pool.OpenConnections == 0, "the stalled connection to be closed");

        // Guarded too, with room for a new connection and a remote start on a loaded machine (1 s was not: CI).
        var stdout = await origin.UploadAsync("wc -c", async (stdin, ct) => await stdin.WriteAsync(new byte[5], ct), CancellationToken.None, TimeSpan.FromSeconds(30));
        Assert.Equal("5", stdout.Trim());
        Assert.Equal(2, origin.Pool.ConnectionsOpened);
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(20))
                throw new TimeoutException($"waited 20 s for {what}");
            await Task.Delay(50);
        }
    }
}
