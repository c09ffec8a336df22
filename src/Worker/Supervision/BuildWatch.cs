using System.Diagnostics;

namespace BuildFarm.Worker.Supervision;

/// <summary>The mutable state of one running build (shared by its pumps and watchdog): last output, and the first reason it was killed for.</summary>
internal sealed class BuildWatch(Process process, ProcessTree tree, TimeProvider time)
{
    private readonly Lock _gate = new();
    private long _lastOutput = time.GetTimestamp();
    private long _logBytes;
    private bool _exited;

    public long Started { get; } = time.GetTimestamp();

    public long LastOutput => Interlocked.Read(ref _lastOutput);

    /// <summary>Why the tree was killed; null if it ended by itself.</summary>
    public BuilderOutcome? KilledFor { get; private set; }

    public string? KillMessage { get; private set; }

    /// <summary>The first exception thrown by the log callback (the tree is killed when it happens).</summary>
    public Exception? LogFailure { get; private set; }

    public long LogBytes => Interlocked.Read(ref _logBytes);

    public void Output(int bytes)
    {
        Interlocked.Exchange(ref _lastOutput, time.GetTimestamp());
        Interlocked.Add(ref _logBytes, bytes);
    }

    /// <summary>Kills the tree for <paramref name="reason"/>, unless it was already killed or has already exited.</summary>
    public void Kill(BuilderOutcome reason, string message)
    {
        lock (_gate)
        {
            if (_exited || KilledFor is not null)
                return;
            KilledFor = reason;
            KillMessage = message;
        }

        tree.Kill(process);
    }

    public void FailLog(Exception e)
    {
        lock (_gate)
        {
            LogFailure ??= e;
        }

        Kill(BuilderOutcome.Cancelled, "the log consumer failed: " + e.Message);
    }

    public void MarkExited()
    {
        lock (_gate)
        {
            _exited = true;
        }
    }
}
