using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Hosting;
using BuildFarm.Messaging.Broker;
using BuildFarm.Messaging.Signing;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using MassTransit;
using Microsoft.AspNetCore.Builder;

namespace BuildFarm.Cli.Tests;

/// <summary>
/// The operator commands against the real <c>buildfarm serve</c> host (DispatcherHost, Kestrel on loopback, SQLite)
/// with a private RabbitMQ: worker events go through the dispatcher's real consumers, so the heartbeat clock and
/// phase timings the commands show are recorded the way production records them.
/// </summary>
public sealed class OperatorCommandsHostTests
{
    private const string Token = "op-token";
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(2);

    [Fact]
    public async Task RealHost_EventsThroughTheBroker_StatusLogProbeAndPhasesShowThem()
    {
        using var dir = new TempDirectory("operator-host");
        await using var broker = await RabbitMqServer.StartNewAsync();
        await SecretKeyFiles.WriteAsync(dir.Combine("dispatcher.sec"), SigningKey.Generate("dispatcher-test").ToString());
        var workerKey = SigningKey.Generate("w-real-1");
        await File.WriteAllTextAsync(dir.Combine("workers.pub"), workerKey.PublicKey + "\n");
        var url = $"http://127.0.0.1:{FreePort.Next()}";
        await using var app = DispatcherHost.Build(null, new Dictionary<string, string?>
        {
            ["Broker:Uri"] = broker.AmqpUri,
            ["Dispatcher:ListenUrl"] = url,
            ["Dispatcher:DatabasePath"] = dir.Combine("dispatcher.db"),
            ["Dispatcher:SigningKeyFile"] = dir.Combine("dispatcher.sec"),
            ["Dispatcher:Root"] = dir.Combine("origin"),
            ["Dispatcher:TrustedWorkerKeysFile"] = dir.Combine("workers.pub"),
            ["Ui:Token"] = Token,
        });
        await app.StartAsync();
        var bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.ConfigureHost(new BrokerOptions { Uri = broker.AmqpUri }, "operator-test"));
        await bus.StartAsync();
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(url + "/") };
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
            var caps = new WorkerCapabilities(["x86_64-linux"], [], [], 2, 1);
            RunningBuild[] running = [];
            // Heartbeats every second like a real worker (the first ones may precede the dispatcher's bindings);
            // the worker's clock runs 60 s ahead of the dispatcher's.
            using var stop = new CancellationTokenSource();
            var heartbeats = Task.Run(async () =>
            {
                using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
                do
                {
                    await bus.Publish(MessageSignatures.Sign(new WorkerStatusReported("w-real", caps, running, 0.5, 1L << 30, "7.7.7", false, false, null, DateTimeOffset.UtcNow.AddSeconds(60)), workerKey), stop.Token);
                }
                while (await timer.WaitForNextTickAsync(stop.Token));
            }, CancellationToken.None);
            await WaitAsync(async () => (await http.GetFromJsonAsync<JsonElement>("api/workers/probe")).GetProperty("workers").EnumerateArray()
                .Any(w => w.GetProperty("clockSkewSeconds").ValueKind == JsonValueKind.Number), "the heartbeat's clock to be recorded");

            var drv = dir.Combine("x.drv");
            await File.WriteAllTextAsync(drv,
                "Derive([(\"out\",\"/nix/store/0a3f2jb0vsm5r3bd8y7ddmgxvzkz5nqb-x\",\"\",\"\")],[],[],\"x86_64-linux\",\"/bin/sh\",[],"
                + "[(\"name\",\"x\"),(\"out\",\"/nix/store/0a3f2jb0vsm5r3bd8y7ddmgxvzkz5nqb-x\")])");
            var submit = CliRun.RunAsync("submit", drv, "--url", url, "--token", Token);
            var id = Guid.Empty;
            await WaitAsync(async () =>
            {
                var page = await http.GetFromJsonAsync<JsonElement>("api/builds/search");
                if (page.GetProperty("total").GetInt32() == 0)
                    return false;
                id = page.GetProperty("items")[0].GetProperty("id").GetGuid();
                return true;
            }, "the submitted build to be stored");
            running = [new RunningBuild(id, 1)];
            await bus.Publish(MessageSignatures.Sign(new BuildStarted(id, 1, "w-real", DateTimeOffset.UtcNow), workerKey));
            await bus.Publish(MessageSignatures.Sign(new BuildLogEmitted(id, 1, "w-real", 1, "hello from w-real\n"), workerKey));
            await WaitAsync(async () => (await http.GetFromJsonAsync<JsonElement>($"api/builds/{id}")).GetProperty("state").GetString() == "running", "the claim");
            var status = await CliRun.RunAsync("status", "--url", url, "--token", Token);
            const string outPath = "/nix/store/0a3f2jb0vsm5r3bd8y7ddmgxvzkz5nqb-x", narHash = "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";
            var outSignature = workerKey.Sign(NarInfoFingerprint.Compute(StorePath.Parse(StoreDirectory.Nix, outPath), NixHash.Parse(narHash), 4096, []));
            await bus.Publish(MessageSignatures.Sign(new BuildSucceeded(id, 1, "w-real", [new BuiltOutput("out", outPath, narHash, 4096, [], [outSignature])],
                new PhaseTimings(TimeSpan.FromSeconds(4), TimeSpan.FromSeconds(70), TimeSpan.FromSeconds(5)), DateTimeOffset.UtcNow), workerKey));
            var submitted = await submit.WaitAsync(Patience);
            var log = await CliRun.RunAsync("log", id.ToString(), "--url", url, "--token", Token);
            var probe = await CliRun.RunAsync("probe", "--url", url, "--token", Token, "--wait", "0");
            var phases = (await http.GetFromJsonAsync<JsonElement>($"api/builds/{id}/phases")).GetProperty("phases").EnumerateArray()
                .ToDictionary(p => p.GetProperty("name").GetString()!, p => p.GetProperty("seconds").GetDouble());
            var metrics = await http.GetStringAsync(new Uri("metrics", UriKind.Relative));
            await stop.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => heartbeats);

            Assert.Equal(0, status.ExitCode);
            Assert.Matches(@"(?m)^w-real\s+online\s+unknown\s+x86_64-linux\s+-\s+-\s+1/2", status.StdoutText);
            Assert.Contains(id.ToString(), status.StdoutText);
            Assert.Equal(0, submitted.ExitCode);
            Assert.Equal("/nix/store/0a3f2jb0vsm5r3bd8y7ddmgxvzkz5nqb-x", submitted.StdoutText);
            Assert.Equal(0, log.ExitCode);
            Assert.Equal("hello from w-real", log.StdoutText);
            Assert.Equal(0, probe.ExitCode);
            Assert.Matches(@"clock skew:\s+\+(5\d|60)\.\d{3} s", probe.StdoutText);
            Assert.Contains("version:         7.7.7", probe.StdoutText);
            Assert.Equal(4, phases["input fetch"]);
            Assert.Equal(70, phases["build"]);
            Assert.Equal(5, phases["upload"]);
            Assert.Contains("import", phases.Keys);
            Assert.Contains("buildfarm_phase_seconds_sum{phase=\"build\"} 70\n", metrics);
        }
        finally
        {
            await bus.StopAsync();
            await app.StopAsync();
        }
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        using var timeout = new CancellationTokenSource(Patience);
        while (!await condition())
        {
            if (timeout.IsCancellationRequested)
                throw new TimeoutException($"waited {Patience} for {what}");
            await Task.Delay(100, CancellationToken.None);
        }
    }
}
