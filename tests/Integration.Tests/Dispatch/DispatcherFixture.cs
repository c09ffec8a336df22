using System.Globalization;
using System.Net.Http.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Dispatcher.Hosting;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using Microsoft.AspNetCore.Builder;

namespace BuildFarm.Integration.Tests.Dispatch;

/// <summary>A private RabbitMQ node and an in-process dispatcher host (real API on a free port, real SQLite).</summary>
public sealed class DispatcherFixture : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _dir = new("dispatch-it");
    private WebApplication? _app;

    public RabbitMqServer Broker { get; private set; } = null!;

    public HttpClient Http { get; private set; } = null!;

    public string Url { get; private set; } = "";

    /// <summary>The dispatcher's compact JSON log (Dispatcher:LogFile).</summary>
    public string LogFile => _dir.Combine("dispatcher.log.json");

    private readonly Dictionary<string, SigningKey> _workerKeys = new(StringComparer.Ordinal);

    private string TrustedWorkers => _dir.Combine("trusted-workers.pub");

    /// <summary>
    /// A fresh worker key, added to Dispatcher:TrustedWorkerKeysFile (re-read when it changes, as in production).
    /// </summary>
    public SigningKey TrustNewWorkerKey(string workerName)
    {
        // One key per name, as a real worker keeps its key across restarts (a second key for a name is refused).
        lock (_workerKeys)
        {
            if (_workerKeys.TryGetValue(workerName, out var known))
                return known;
            var key = SigningKey.Generate(workerName + "-1");
            File.AppendAllText(TrustedWorkers, key.PublicKey + "\n");
            _workerKeys[workerName] = key;
            return key;
        }
    }

    public async Task InitializeAsync()
    {
        Broker = await RabbitMqServer.StartNewAsync();
        var key = await NixOracle.RunTextAsync("nix", "key", "generate-secret", "--key-name", "dispatcher-test");
        await SecretKeyFiles.WriteAsync(_dir.Combine("dispatcher.sec"), key);
        Url = $"http://127.0.0.1:{FreePort.Next()}";
        // The file must hold a key at start-up; the test workers' keys are added as they are made.
        File.WriteAllText(TrustedWorkers, SigningKey.Generate("nobody-1").PublicKey + "\n");
        _app = DispatcherHost.Build(null, new Dictionary<string, string?>
        {
            ["Broker:Uri"] = Broker.AmqpUri,
            ["Dispatcher:ListenUrl"] = Url,
            ["Dispatcher:DatabasePath"] = _dir.Combine("dispatcher.db"),
            ["Dispatcher:SigningKeyFile"] = _dir.Combine("dispatcher.sec"),
            ["Dispatcher:Root"] = _dir.Combine("origin"),
            ["Dispatcher:HeartbeatInterval"] = "00:00:00.500",
            ["Dispatcher:LeaseDuration"] = "00:00:03",
            ["Dispatcher:SweepInterval"] = "00:00:00.250",
            ["Dispatcher:TrustedWorkerKeysFile"] = TrustedWorkers,
            ["Dispatcher:LogFile"] = LogFile,
        });
        await _app.StartAsync();
        Http = new HttpClient { BaseAddress = new Uri(Url + "/") };
    }

    /// <summary>A unique, valid .drv text for <paramref name="system"/> requiring <paramref name="features"/>.</summary>
    public static string DrvText(string name, string system, params string[] features)
    {
        var env = new List<string> { $"(\"name\",\"{name}\")", "(\"out\",\"/nix/store/0a3f2jb0vsm5r3bd8y7ddmgxvzkz5nqb-x\")" };
        if (features.Length > 0)
            env.Add($"(\"requiredSystemFeatures\",\"{string.Join(' ', features)}\")");
        return $"Derive([(\"out\",\"/nix/store/0a3f2jb0vsm5r3bd8y7ddmgxvzkz5nqb-x\",\"\",\"\")],[],[],\"{system}\",\"/bin/sh\",[],[{string.Join(',', env)}])";
    }

    public async Task<HttpResponseMessage> SubmitAsync(string drvText, bool waitForCapacity = false) =>
        await Http.PostAsJsonAsync("api/builds", new SubmitBuildBody(null, drvText, WaitForCapacity: waitForCapacity));

    public async Task<Guid> SubmitOkAsync(string drvText, bool waitForCapacity = false)
    {
        using var response = await SubmitAsync(drvText, waitForCapacity);
        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        return (await response.Content.ReadFromJsonAsync<SubmitBuildResponse>())!.Id;
    }

    public async Task<BuildView> GetAsync(Guid id) => (await Http.GetFromJsonAsync<BuildView>($"api/builds/{id}"))!;

    /// <summary>Polls until every build is finished; the failure names the ones still open and their states.</summary>
    public async Task<IReadOnlyList<BuildView>> WaitFinishedAsync(IReadOnlyCollection<Guid> ids, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var views = new List<BuildView>();
            foreach (var id in ids)
                views.Add(await GetAsync(id));
            var open = views.Where(v => v.State is "queued" or "running").ToArray();
            if (open.Length == 0)
                return views;
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail(string.Create(CultureInfo.InvariantCulture,
                    $"waited {timeout} for {ids.Count} builds to finish; still open: {string.Join(", ", open.Select(v => $"{v.Id} {v.ClassKey} {v.State} attempt {v.Attempt} {v.WaitingReason}"))}"));
            }

            await Task.Delay(200);
        }
    }

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        await Broker.DisposeAsync();
        _dir.Dispose();
    }

    public void Dispose() => _dir.Dispose();
}
