using System.Collections.Concurrent;
using BuildFarm.Contracts.Workers;

namespace BuildFarm.Dispatcher.Api;

/// <summary>
/// The answers to live probes, by probe id, held only while a probe waits (in memory: a probe is one HTTP request,
/// and an answer that arrives after it gave up, or after a restart, is dropped).
/// </summary>
internal sealed class ProbeReplies(TimeProvider time)
{
    private readonly ConcurrentDictionary<Guid, Round> _rounds = new();

    /// <summary>Starts collecting answers to <paramref name="probeId"/>; dispose the round to stop.</summary>
    public Round Open(Guid probeId)
    {
        var round = new Round(this, probeId);
        _rounds[probeId] = round;
        return round;
    }

    /// <summary>Called by the event consumer; answers to unknown or finished probes are ignored.</summary>
    public void Deliver(WorkerProbed answer)
    {
        if (_rounds.TryGetValue(answer.ProbeId, out var round))
            round.Add(answer, time.GetUtcNow());
    }

    /// <summary>One answer and the dispatcher's clock when it arrived.</summary>
    public sealed record Answer(WorkerProbed Probed, DateTimeOffset ArrivedAt);

    public sealed class Round(ProbeReplies owner, Guid probeId) : IDisposable
    {
        private readonly ConcurrentDictionary<string, Answer> _answers = new(StringComparer.Ordinal);
        private readonly SemaphoreSlim _arrived = new(0);
        private readonly Lock _gate = new();
        private bool _closed;

        public IReadOnlyDictionary<string, Answer> Answers => _answers;

        /// <summary>From the consumer's thread; an answer racing the end of the round is dropped, never thrown on.</summary>
        internal void Add(WorkerProbed answer, DateTimeOffset arrivedAt)
        {
            lock (_gate)
            {
                if (!_closed && _answers.TryAdd(answer.WorkerName, new Answer(answer, arrivedAt)))
                    _arrived.Release();
            }
        }

        /// <summary>Returns when every one of <paramref name="workers"/> answered or <paramref name="wait"/> passed.</summary>
        public async Task WaitForAsync(IReadOnlyCollection<string> workers, TimeSpan wait, TimeProvider time, CancellationToken cancellationToken)
        {
            var deadline = time.GetUtcNow() + wait;
            while (!workers.All(_answers.ContainsKey))
            {
                var left = deadline - time.GetUtcNow();
                if (left <= TimeSpan.Zero || !await _arrived.WaitAsync(left, cancellationToken))
                    return;
            }
        }

        public void Dispose()
        {
            owner._rounds.TryRemove(probeId, out _);
            lock (_gate)
            {
                _closed = true;
                _arrived.Dispose();
            }
        }
    }
}
