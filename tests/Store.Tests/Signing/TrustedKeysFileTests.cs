using System.Collections.Concurrent;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace BuildFarm.Store.Tests.Signing;

public sealed class TrustedKeysFileTests : IDisposable
{
    private readonly TempDirectory _dir = new("trusted-keys-file");
    private readonly CapturingSink _log = new();
    private readonly SigningKey _first = SigningKey.Generate("worker-1");
    private readonly SigningKey _second = SigningKey.Generate("worker-2");

    private string File => _dir.Combine("trusted-workers");

    [Fact]
    public void Current_KeyAppended_NextCallTrustsItAndLogsTheReload()
    {
        var keys = LoadWith(_first);

        System.IO.File.AppendAllText(File, "# added by the operator\n" + _second.PublicKey + "\n");

        Assert.Equal(["worker-1", "worker-2"], Names(keys.Current()));
        var reload = Assert.Single(_log.Events, e => e.Level == LogEventLevel.Information);
        Assert.Equal("[\"worker-2\"]", reload.Properties["Added"].ToString());
        Assert.True(keys.Current().VerifyAny("fp", [_second.Sign("fp")]).IsValid);
    }

    [Fact]
    public void Current_MalformedRewrite_KeepsTheLastGoodKeysAndLogsOneError()
    {
        var keys = LoadWith(_first);

        System.IO.File.WriteAllText(File, _second.PublicKey + "\nworker-3:not-a-key\n");

        Assert.Equal(["worker-1"], Names(keys.Current()));
        Assert.Equal(["worker-1"], Names(keys.Current()));
        var error = Assert.Single(_log.Events);
        Assert.Equal(LogEventLevel.Error, error.Level);
        Assert.Contains($"{File}:2", error.Properties["Problem"].ToString(), StringComparison.Ordinal);

        // Once the file is repaired, its keys count.
        System.IO.File.WriteAllText(File, _second.PublicKey + "\n");
        Assert.Equal(["worker-2"], Names(keys.Current()));
    }

    [Fact]
    public void Current_FileRemovedOrEmptied_KeepsTheLastGoodKeysAndLogsAnErrorEach()
    {
        var keys = LoadWith(_first);

        System.IO.File.Delete(File);
        Assert.Equal(["worker-1"], Names(keys.Current()));
        System.IO.File.WriteAllText(File, "");
        Assert.Equal(["worker-1"], Names(keys.Current()));

        Assert.Collection(_log.Events,
            e => Assert.Contains("cannot be read", e.Properties["Problem"].ToString(), StringComparison.Ordinal),
            e => Assert.Contains("holds no key", e.Properties["Problem"].ToString(), StringComparison.Ordinal));
        Assert.All(_log.Events, e => Assert.Equal(LogEventLevel.Error, e.Level));
    }

    [Fact]
    public void Load_MalformedAtStartUp_NamesTheFileAndLine()
    {
        System.IO.File.WriteAllText(File, "worker-1:broken\n");

        Assert.Null(TrustedKeysFile.Load(File, out var problem));

        Assert.StartsWith($"{File}:1: ", problem, StringComparison.Ordinal);
    }

    public void Dispose() => _dir.Dispose();

    private TrustedKeysFile LoadWith(SigningKey key)
    {
        System.IO.File.WriteAllText(File, key.PublicKey + "\n");
        var keys = TrustedKeysFile.Load(File, out var problem, _log.CreateLogger());
        Assert.Null(problem);
        Assert.Equal([key.Name], Names(keys!.Current()));
        Assert.Empty(_log.Events);
        return keys;
    }

    private static string[] Names(TrustedKeys keys) => [.. keys.Keys.Select(k => k.Name).Order(StringComparer.Ordinal)];

    private sealed class CapturingSink : ILogEventSink
    {
        private readonly ConcurrentQueue<LogEvent> _events = new();

        public IReadOnlyList<LogEvent> Events => [.. _events];

        public Logger CreateLogger() => new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(this).CreateLogger();

        public void Emit(LogEvent logEvent) => _events.Enqueue(logEvent);
    }
}
