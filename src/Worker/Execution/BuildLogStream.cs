using System.Text;
using System.Threading.Channels;
using BuildFarm.Contracts.Builds;
using BuildFarm.Worker.Events;

namespace BuildFarm.Worker.Execution;

/// <summary>
/// Forwards a build's log as <see cref="BuildLogEmitted"/> batches (one per batch interval), at most
/// <c>maxBytes</c> in total, then one truncation note; always keeps the last lines for a failure report.
/// </summary>
internal sealed class BuildLogStream : IBuildLog, IAsyncDisposable
{
    private const int MaxLineChars = 64 * 1024;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Queue<string> _tail = new();
    private readonly Lock _tailLock = new();
    private readonly Guid _buildId;
    private readonly int _attempt;
    private readonly string _worker;
    private readonly long _maxBytes;
    private readonly int _tailLines;
    private readonly TimeSpan _interval;
    private readonly EventPublisher _events;
    private readonly TimeProvider _time;
    private readonly Task _pump;
    private long _accepted;
    private bool _truncated;
    private long _sequence;

    public BuildLogStream(Guid buildId, int attempt, string worker, long maxBytes, int tailLines, TimeSpan interval, EventPublisher events, TimeProvider time)
    {
        (_buildId, _attempt, _worker, _maxBytes, _tailLines, _interval, _events, _time) = (buildId, attempt, worker, maxBytes, tailLines, interval, events, time);
        _pump = Task.Run(PumpAsync);
    }

    public string Tail
    {
        get
        {
            lock (_tailLock)
                return string.Join('\n', _tail);
        }
    }

    public void Line(string text)
    {
        if (text.Length > MaxLineChars)
            text = text[..MaxLineChars] + " [line truncated]";
        lock (_tailLock)
        {
            _tail.Enqueue(text);
            while (_tail.Count > _tailLines)
                _tail.Dequeue();
        }

        if (_truncated)
            return;
        var bytes = Encoding.UTF8.GetByteCount(text) + 1;
        if (Interlocked.Add(ref _accepted, bytes) > _maxBytes)
        {
            _truncated = true;
            _lines.Writer.TryWrite($"[buildfarm: log truncated after {_maxBytes} bytes; the rest is not forwarded]");
            return;
        }

        _lines.Writer.TryWrite(text);
    }

    public async ValueTask DisposeAsync()
    {
        _lines.Writer.TryComplete();
        await _pump;
    }

    private async Task PumpAsync()
    {
        var batch = new StringBuilder();
        var reader = _lines.Reader;
        while (await reader.WaitToReadAsync())
        {
            // Gather for one interval so a chatty builder costs one event per interval, not one per line.
            await Task.Delay(_interval, _time);
            while (reader.TryRead(out var line))
                batch.Append(line).Append('\n');
            await FlushAsync(batch);
        }

        await FlushAsync(batch);
    }

    private async Task FlushAsync(StringBuilder batch)
    {
        if (batch.Length == 0)
            return;
        var text = batch.ToString();
        batch.Clear();
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30), _time);
            await _events.PublishAsync(new BuildLogEmitted(_buildId, _attempt, _worker, ++_sequence, text), cts.Token);
        }
        catch (OperationCanceledException)
        {
            // Log forwarding is best effort: a lost batch never fails the build.
            _events.Log.Warning("Dropped a log batch of {BuildId} after 30 s of publish failures", _buildId);
        }
    }
}
