using System.Collections.Concurrent;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using BuildFarm.Worker.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Serilog.Core;
using Serilog.Events;

namespace BuildFarm.Worker.Tests.Farm;

/// <summary>A worker agent hosted in the test process with its own name, directories and keys.</summary>
internal sealed class TestWorker : IAsyncDisposable, ILogEventSink
{
    private readonly IHost _host;
    private readonly TempDirectory _dir;

    private TestWorker(IHost host, TempDirectory dir, string name, VerifyingKey publicKey)
    {
        _host = host;
        _dir = dir;
        Name = name;
        PublicKey = publicKey;
    }

    public string Name { get; }

    /// <summary>The key the worker signs its outputs with.</summary>
    public VerifyingKey PublicKey { get; }

    public ConcurrentQueue<LogEvent> Logs { get; } = new();

    public IHost Host => _host;

    /// <summary>Rendered log messages.</summary>
    public IEnumerable<string> Messages => Logs.Select(e => e.RenderMessage(System.Globalization.CultureInfo.InvariantCulture));

    public static async Task<TestWorker> StartAsync(
        string amqpUri, string storeDir, VerifyingKey dispatcherKey, string name, string[] systems,
        string[]? features = null, string[]? mandatory = null, int slots = 1, double speed = 1, bool start = true,
        IReadOnlyDictionary<string, string?>? extraSettings = null, TimeProvider? clock = null)
    {
        var dir = new TempDirectory("worker-" + name);
        var signing = SigningKey.Generate(name + "-1");
        SecretKeyFiles.Write(dir.Combine("signing.key"), signing.ToString());
        File.WriteAllText(dir.Combine("dispatchers.pub"), dispatcherKey + "\n");
        var settings = new Dictionary<string, string?>
        {
            ["Name"] = name,
            ["Slots"] = slots.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["SpeedFactor"] = speed.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Store:StoreDir"] = storeDir,
            ["Keys:SigningKeyFile"] = dir.Combine("signing.key"),
            ["Keys:TrustedDispatcherKeysFile"] = dir.Combine("dispatchers.pub"),
            ["Broker:Uri"] = amqpUri,
            ["HeartbeatInterval"] = "00:00:01",
            ["BuildDir"] = dir.Combine("builds"),
            // Builds must run in the real sandbox: a worker that cannot make one starts paused and the test fails.
            ["AllowUnsandboxed"] = "false",
            ["Logs:BatchInterval"] = "00:00:00.100",
        };
        void AddList(string key, string[]? items)
        {
            for (var i = 0; i < (items?.Length ?? 0); i++)
                settings[$"{key}:{i}"] = items![i];
        }

        foreach (var (k, v) in extraSettings ?? new Dictionary<string, string?>())
            settings[k] = v;
        AddList("Systems", systems);
        AddList("Sandbox:ExtraPaths", [.. BuilderScratch.ExtraPaths]);
        AddList("SupportedFeatures", features);
        AddList("MandatoryFeatures", mandatory);
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(settings);
        TestWorker? worker = null;
        if (clock is not null)
            builder.Services.AddSingleton(clock);
        builder.AddWorker(lc => lc.MinimumLevel.Debug().WriteTo.Sink(new Forward(e => worker?.Emit(e))), handleSignals: false);
        var host = builder.Build();
        worker = new TestWorker(host, dir, name, signing.PublicKey);
        if (start)
            await host.StartAsync();
        return worker;
    }

    public void Emit(LogEvent logEvent) => Logs.Enqueue(logEvent);

    /// <summary>Waits for the host to stop by itself (after a drain), at most <paramref name="timeout"/>.</summary>
    public async Task WaitForShutdownAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _host.WaitForShutdownAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"worker {Name} did not stop within {timeout}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(40));
            await _host.StopAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }

        _host.Dispose();
        _dir.Dispose();
    }

    private sealed class Forward(Action<LogEvent> emit) : ILogEventSink
    {
        public void Emit(LogEvent logEvent) => emit(logEvent);
    }
}
