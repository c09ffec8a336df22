using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using BuildFarm.Contracts;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Broker;
using BuildFarm.Messaging.Requests;
using BuildFarm.Messaging.Routing;
using BuildFarm.Messaging.Signing;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;
using MassTransit;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace BuildFarm.Scale;

/// <summary>
/// One lightweight worker: the real worker's broker protocol without a builder. It consumes every class queue its
/// capabilities allow (one channel each, prefetch 1, consumer priority from its speed, as
/// src/Worker/Consuming/BuildQueueConsumer), consumes only while a slot is free, verifies each request's signature by
/// the dispatcher's key, claims it (BuildStarted, broker-confirmed, then the ack: src/Worker/Consuming/BuildClaim),
/// "builds" by writing a one-file NAR in memory, signs the output's narinfo fingerprint with its own key and reports
/// a log chunk and BuildSucceeded, every event signed with its key (MessageSignatures) as the real worker does. It
/// beats WorkerStatusReported with its running builds, which renews their leases.
/// </summary>
internal sealed class LoadWorker(string name, WorkerCapabilities capabilities, SigningKey key, TrustedKeys dispatcherKeys,
    BrokerOptions broker, IBus bus, StoreDirectory storeDir, TimeSpan buildTime, Counters counters, bool logChunk = true) : IDisposable
{
    private readonly object _gate = new();
    private readonly SemaphoreSlim _reconcile = new(1, 1);
    private readonly List<(BuildClass Class, IChannel Channel, AsyncEventingBasicConsumer Consumer, string? Tag)> _consumers = [];
    private readonly Dictionary<Guid, int> _running = [];
    private readonly CancellationTokenSource _stopping = new();
    private IConnection? _connection;
    private int _free = capabilities.Slots;
    private Task? _heartbeat;

    public string Name => name;

    public void Dispose()
    {
        _reconcile.Dispose();
        _stopping.Dispose();
    }

    public WorkerCapabilities Capabilities => capabilities;

    public async Task StartAsync(TimeSpan heartbeatInterval, CancellationToken ct)
    {
        _connection = await BrokerConnections.ConnectAsync(broker, $"buildfarm-scale {name}", maxAttempts: 10, ct);
        await using (var setup = await _connection.CreateChannelAsync(cancellationToken: ct))
            await BuildQueueDeclarations.DeclareExchangesAsync(setup, ct);
        foreach (var buildClass in CapabilityMatcher.EnumerateClasses(capabilities))
        {
            var channel = await _connection.CreateChannelAsync(cancellationToken: ct);
            await channel.BasicQosAsync(0, 1, global: false, ct);
            await BuildQueueDeclarations.DeclareClassQueueAsync(channel, buildClass, ct);
            var consumer = new AsyncEventingBasicConsumer(channel);
            var index = _consumers.Count;
            consumer.ReceivedAsync += (_, ea) => OnDeliveryAsync(index, ea);
            _consumers.Add((buildClass, channel, consumer, null));
        }

        // Online first (the dispatcher counts capacity from heartbeats), then consume.
        await BeatAsync(ct);
        await ReconcileAsync(ct);
        _heartbeat = Task.Run(() => HeartbeatLoopAsync(heartbeatInterval), CancellationToken.None);
    }

    public async Task StopAsync()
    {
        await _stopping.CancelAsync();
        if (_heartbeat is not null)
            await _heartbeat;
        try
        {
            await bus.Publish(MessageSignatures.Sign(new WorkerWentOffline(name, "stopped", DateTimeOffset.UtcNow), key));
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Console.Error.WriteLine($"{name}: could not announce going offline: {e.Message}");
        }

        if (_connection is not null)
        {
            await _connection.CloseAsync();
            _connection.Dispose();
        }
    }

    private async Task HeartbeatLoopAsync(TimeSpan interval)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(_stopping.Token))
                await BeatAsync(_stopping.Token);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task BeatAsync(CancellationToken ct)
    {
        RunningBuild[] running;
        lock (_gate)
            running = [.. _running.Select(r => new RunningBuild(r.Key, r.Value))];
        var status = new WorkerStatusReported(name, capabilities, running, 0, 1L << 40, "scale-load-generator", false, false, "load generator: no builder runs",
            DateTimeOffset.UtcNow, new WorkerIsolation(BuildIsolation.Sandboxed, "load generator (builds in memory)"));
        try
        {
            await bus.Publish(MessageSignatures.Sign(status, key), ct);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Console.Error.WriteLine($"{name}: heartbeat failed: {e.Message}");
        }
    }

    /// <summary>Consuming iff a slot is free, as the real worker's reconcile.</summary>
    private async Task ReconcileAsync(CancellationToken ct)
    {
        await _reconcile.WaitAsync(ct);
        try
        {
            bool wanted;
            lock (_gate)
                wanted = _free > 0;
            for (var i = 0; i < _consumers.Count; i++)
            {
                var c = _consumers[i];
                if (wanted && c.Tag is null)
                {
                    var args = new Dictionary<string, object?> { ["x-priority"] = (int)Math.Round(capabilities.SpeedFactor * 100) };
                    var tag = await c.Channel.BasicConsumeAsync(c.Class.QueueName, autoAck: false, consumerTag: "", noLocal: false, exclusive: false,
                        arguments: args, consumer: c.Consumer, cancellationToken: ct);
                    _consumers[i] = c with { Tag = tag };
                    counters.ConsumerStarts.Add();
                }
                else if (!wanted && c.Tag is { } tag)
                {
                    await c.Channel.BasicCancelAsync(tag, noWait: false, ct);
                    _consumers[i] = c with { Tag = null };
                }
            }
        }
        finally
        {
            _reconcile.Release();
        }
    }

    private void Follow() => _ = Task.Run(async () =>
    {
        try
        {
            await ReconcileAsync(_stopping.Token);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            if (!_stopping.IsCancellationRequested)
                Console.Error.WriteLine($"{name}: reconcile failed: {e.Message}");
        }
    });

    private async Task OnDeliveryAsync(int index, BasicDeliverEventArgs ea)
    {
        var (buildClass, channel, _, _) = _consumers[index];
        var ct = _stopping.Token;
        var request = Verify(ea.Body, buildClass, out var reason);
        if (request is null)
        {
            counters.Rejected.Add();
            Console.Error.WriteLine($"{name}: dead-lettered a request: {reason}");
            await channel.BasicRejectAsync(ea.DeliveryTag, requeue: false, ct);
            return;
        }

        bool took;
        lock (_gate)
        {
            took = _free > 0;
            if (took)
            {
                _free--;
                _running[request.BuildId] = request.Attempt;
            }
        }

        if (!took)
        {
            // Pause first, then requeue, so the broker hands it to another consumer (BuildClaim's order).
            counters.Requeued.Add();
            Follow();
            await channel.BasicNackAsync(ea.DeliveryTag, multiple: false, requeue: true, ct);
            return;
        }

        if (_free == 0)
            Follow();
        try
        {
            await bus.Publish(MessageSignatures.Sign(new BuildStarted(request.BuildId, request.Attempt, name, DateTimeOffset.UtcNow, BuildIsolation.Sandboxed), key), ct);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Release(request.BuildId);
            Console.Error.WriteLine($"{name}: BuildStarted not confirmed ({e.Message}); requeued");
            await channel.BasicNackAsync(ea.DeliveryTag, multiple: false, requeue: true, CancellationToken.None);
            return;
        }

        // Checkpoint: the claim is on the broker; from here the dispatcher's lease protects the attempt.
        await channel.BasicAckAsync(ea.DeliveryTag, multiple: false, ct);
        counters.Claimed.Add();
        _ = Task.Run(() => BuildAsync(request), CancellationToken.None);
    }

    private async Task BuildAsync(BuildDerivation request)
    {
        try
        {
            if (buildTime > TimeSpan.Zero)
                await Task.Delay(buildTime, _stopping.Token);
            var drv = DerivationAterm.Parse(storeDir, request.DrvText, StorePath.Parse(storeDir, request.DrvPath).Name[..^4]);
            var outputs = new List<BuiltOutput>();
            foreach (var id in request.WantedOutputs)
            {
                var path = drv.Outputs[id].Path!;
                var nar = Nar.RegularFile(Encoding.UTF8.GetBytes($"built {request.DrvPath} ({id}) on {name}\n"));
                var hash = NixHash.Sha256(nar);
                var signature = key.Sign(NarInfoFingerprint.Compute(path, hash, nar.Length, []));
                outputs.Add(new BuiltOutput(id, path.FullPath, hash.ToString(), nar.Length, [], [signature]));
            }

            var now = DateTimeOffset.UtcNow;
            // Without a log chunk (--log-chunks 0) a build costs the dispatcher two events instead of three.
            if (logChunk)
                await bus.Publish(MessageSignatures.Sign(new BuildLogEmitted(request.BuildId, request.Attempt, name, 1, $"built in memory by the load generator on {name}\n"), key), _stopping.Token);
            await bus.Publish(MessageSignatures.Sign(new BuildSucceeded(request.BuildId, request.Attempt, name, outputs,
                new PhaseTimings(TimeSpan.Zero, buildTime, TimeSpan.Zero), now, 0), key), _stopping.Token);
            counters.Succeeded.Add();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            counters.Errors.Add();
            Console.Error.WriteLine($"{name}: build {request.BuildId} failed in the generator: {e.Message}");
        }
        finally
        {
            Release(request.BuildId);
            Follow();
        }
    }

    private void Release(Guid buildId)
    {
        lock (_gate)
        {
            _running.Remove(buildId);
            _free++;
        }
    }

    /// <summary>The real worker's checks that matter here (RequestVerifier): signature first, then contract and class.</summary>
    private BuildDerivation? Verify(ReadOnlyMemory<byte> body, BuildClass queueClass, out string? reason)
    {
        reason = null;
        var signed = JsonSerializer.Deserialize<SignedBuildRequest>(body.Span, MessagingJson.Options);
        if (signed?.RequestJson is null || signed.IssuedAt is null || signed.Version > ContractsInfo.Version)
        {
            reason = "not a signed request of a known contract version";
            return null;
        }

        var check = dispatcherKeys.VerifyAny(SignedBuildRequest.SignedText(signed.IssuedAt.Value, signed.RequestJson), [signed.Signature]);
        if (!check.IsValid)
        {
            reason = "signature: " + check.Reason;
            return null;
        }

        var request = JsonSerializer.Deserialize<BuildDerivation>(signed.RequestJson, MessagingJson.Options);
        if (request is null || !TrustedRouting.ClassOf(request).Equals(queueClass) || !CapabilityMatcher.CanRun(capabilities, queueClass))
        {
            reason = $"class {request?.System} arrived on {queueClass.Key}";
            return null;
        }

        return request;
    }
}

/// <summary>A NAR of one regular file (Nix's archive format: padded length-prefixed strings).</summary>
internal static class Nar
{
    public static byte[] RegularFile(byte[] contents)
    {
        using var ms = new MemoryStream();
        foreach (var s in new[] { "nix-archive-1", "(", "type", "regular", "contents" })
            Str(ms, Encoding.ASCII.GetBytes(s));
        Str(ms, contents);
        Str(ms, ")"u8.ToArray());
        return ms.ToArray();
    }

    private static void Str(MemoryStream ms, byte[] bytes)
    {
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)bytes.Length);
        ms.Write(len);
        ms.Write(bytes);
        var pad = (8 - (bytes.Length % 8)) % 8;
        for (var i = 0; i < pad; i++)
            ms.WriteByte(0);
    }
}

/// <summary>Thread-safe counters of what the generator's workers did.</summary>
internal sealed class Counters
{
    public Counter Claimed { get; } = new();
    public Counter Succeeded { get; } = new();
    public Counter Requeued { get; } = new();
    public Counter Rejected { get; } = new();
    public Counter Errors { get; } = new();
    public Counter ConsumerStarts { get; } = new();
}

internal sealed class Counter
{
    private long _value;

    public long Value => Interlocked.Read(ref _value);

    public void Add() => Interlocked.Increment(ref _value);
}
