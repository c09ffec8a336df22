using System.Net.Http.Json;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.EndToEnd;

/// <summary>
/// Issue 15 end to end: a dispatcher and real worker processes that connect as their own broker users (no guest),
/// over amqps to a TLS-only RabbitMQ whose certificate a test CA signed (Broker:CaCertificateFile on both sides).
/// Build requests, events and control commands all flow.
/// </summary>
public sealed class BrokerAccessTests
{
    private const string System = "e2eroles-linux";

    [Fact]
    public async Task Build_RoleUsersOverAmqps_SucceedsAndControlCommandsArrive()
    {
        using var certificates = TestCertificates.Create();
        var farm = new EndToEndFarm(TimeSpan.FromSeconds(20), roleUsers: true, tls: certificates);
        try
        {
            await farm.InitializeAsync();
            var workers = await farm.StartWorkersAsync(System, "roles-a");
            try
            {
                var drv = await ShellDerivation.CreateAsync("roles", System, "echo over-tls > $out");
                var id = await farm.SubmitAsync(drv);
                var done = Assert.Single(await farm.WaitFinishedAsync([id], TimeSpan.FromSeconds(120)));
                Assert.Equal(("succeeded", "roles-a"), (done.State, done.Worker));
                Assert.Equal("over-tls\n", await File.ReadAllTextAsync(Path.Combine(workers[0].PhysicalStoreDir, Path.GetFileName(drv.OutPath))));

                // A control command from the dispatcher's user reaches the worker's endpoint (its status says paused).
                using (var paused = await farm.Http.PostAsJsonAsync("api/workers/roles-a/pause", new { }))
                    Assert.True(paused.IsSuccessStatusCode, $"pause: {(int)paused.StatusCode}");
                await EndToEndFarm.WaitUntilAsync(async () => (await farm.WorkerAsync("roles-a")) is { Paused: true }, TimeSpan.FromSeconds(30),
                    () => "roles-a to report paused");

                var users = await farm.Broker.CtlAsync(["list_connections", "user", "ssl"]);
                Assert.DoesNotContain("guest", users.Stdout, StringComparison.Ordinal);
                Assert.Contains("buildfarm-worker-roles-a\ttrue", users.Stdout, StringComparison.Ordinal);
                Assert.Contains("buildfarm-dispatcher\ttrue", users.Stdout, StringComparison.Ordinal);
                Assert.DoesNotContain("\tfalse", users.Stdout, StringComparison.Ordinal);
            }
            finally
            {
                foreach (var w in workers)
                    w.Dispose();
            }
        }
        finally
        {
            await farm.DisposeAsync();
            farm.Dispose();
        }
    }
}
