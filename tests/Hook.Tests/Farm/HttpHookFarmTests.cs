using BuildFarm.Hook.Farm;
using BuildFarm.Hook.Protocol;
using BuildFarm.Hook.Tests.Nix;
using BuildFarm.Testing;

namespace BuildFarm.Hook.Tests.Farm;

public sealed class HttpHookFarmTests
{
    [Fact]
    public async Task BuildAsync_200MBDrv_FailsWithTheLimitAndPostsNothing()
    {
        using var dir = new TempDirectory();
        var drv = Path.Combine(dir.Path, new string('1', 32) + "-big.drv");
        using (var stream = new FileStream(drv, FileMode.CreateNew, FileAccess.Write))
        {
            stream.Write("Derive("u8);
            stream.SetLength(200_000_000);
        }

        var posted = false;
        using var dispatcher = new FakeDispatcher(_ => throw new InvalidOperationException("no decision expected"), _ =>
        {
            posted = true;
            return Task.CompletedTask;
        });
        using var http = new HttpClient { BaseAddress = new Uri(dispatcher.Url + "/") };
        var farm = new HttpHookFarm(http, dispatcher.Url, null);

        var result = await farm.BuildAsync(drv, ["out"], Stream.Null, CancellationToken.None);

        Assert.Equal(HookOutcome.Failed, result.Outcome);
        Assert.Equal($"{drv} is 200000000 bytes long, more than the 33554432 bytes (32 MiB) BuildFarm reads", result.Message);
        Assert.False(posted, "the hook posted the oversized derivation");
    }
}
