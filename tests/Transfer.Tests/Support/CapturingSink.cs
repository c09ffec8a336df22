using System.Collections.Concurrent;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace BuildFarm.Transfer.Tests.Support;

/// <summary>Collects Serilog events so tests can assert on what was logged (message templates, not strings).</summary>
public sealed class CapturingSink : ILogEventSink
{
    private readonly ConcurrentQueue<LogEvent> _events = new();

    public IReadOnlyList<LogEvent> Events => [.. _events];

    public ILogger CreateLogger() => new LoggerConfiguration().MinimumLevel.Verbose().WriteTo.Sink(this).CreateLogger();

    public void Emit(LogEvent logEvent) => _events.Enqueue(logEvent);

    public IEnumerable<LogEvent> WithTemplate(string startsWith) =>
        Events.Where(e => e.MessageTemplate.Text.StartsWith(startsWith, StringComparison.Ordinal));
}
