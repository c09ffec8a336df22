using System.Collections.Concurrent;
using System.Text.Json;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Messaging.Broker;
using BuildFarm.Messaging.Requests;
using BuildFarm.Messaging.Routing;
using BuildFarm.Messaging.Signing;
using BuildFarm.Store.Archives;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Local;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Quarantine;
using BuildFarm.Store.Signing;
using MassTransit;
using RabbitMQ.Client;
using RabbitMQ.Client.Events;

namespace BuildFarm.Integration.Tests.Dispatch;

/// <summary>
/// A stand-in worker for the offload path without SSH: it "builds" each output as a small file in its own store,
/// signs it, and puts the signed archive straight into the origin's quarantine (what <c>store quarantine-put</c>
/// does), then publishes <see cref="BuildSucceeded"/>. The derivation's env <c>mode</c> picks a misbehaviour:
/// <c>fail</c> (builder fails), <c>untrusted</c> (signed by an unknown key), <c>tamper</c> (one byte of the archive
/// flipped), <c>noupload</c> (no quarantine file), <c>hold</c> (waits for <see cref="Release"/> of its tag before finishing).
/// </summary>
internal sealed class OffloadWorker : IAsyncDisposable
{
    private readonly BrokerOptions _broker;
    private readonly StoreLayout _originLayout;
    private readonly SigningKey _key;
    private readonly SigningKey _untrusted = SigningKey.Generate("intruder-1");
    private readonly LocalStore _store;
    private readonly ConcurrentDictionary<(Guid, int), byte> _running = new();
    private readonly CancellationTokenSource _stop = new();
    private IConnection? _connection;
    private IBusControl? _bus;
    private Task? _heartbeats;

    private OffloadWorker(string name, WorkerCapabilities capabilities, string amqpUri, StoreLayout originLayout, SigningKey key, LocalStore store)
    {
        Name = name;
        Capabilities = capabilities;
        _broker = new BrokerOptions { Uri = amqpUri };
        _originLayout = originLayout;
        _key = key;
        _store = store;
    }

    public string Name { get; }

    public WorkerCapabilities Capabilities { get; }

    /// <summary>Every request taken, in claim order.</summary>
    public ConcurrentQueue<BuildDerivation> Claimed { get; } = new();

    /// <summary>Per derivation env <c>tag</c>: completed when builds in <c>hold</c> mode with that tag may finish.</summary>
    private ConcurrentDictionary<string, TaskCompletionSource> Holds { get; } = new(StringComparer.Ordinal);

    public void Release(string tag) => Hold(tag).TrySetResult();

    private TaskCompletionSource Hold(string tag) => Holds.GetOrAdd(tag, _ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

    public static async Task<OffloadWorker> StartAsync(string name, string amqpUri, StoreLayout originLayout, SigningKey key, string workerRoot, string system)
    {
        var store = await LocalStore.OpenAsync(StoreLayout.Create(originLayout.StoreDir.Path, workerRoot));
        var worker = new OffloadWorker(name, new WorkerCapabilities([system], [], [], 8, 1), amqpUri, originLayout, key, store);
        await worker.ConnectAsync(CancellationToken.None);
        return worker;
    }

    private async Task ConnectAsync(CancellationToken cancellationToken)
    {
        _bus = Bus.Factory.CreateUsingRabbitMq(cfg => cfg.ConfigureHost(_broker, "offload-" + Name));
        await _bus.StartAsync(cancellationToken);
        await HeartbeatAsync(cancellationToken);
        _heartbeats = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(500));
            while (await timer.WaitForNextTickAsync(_stop.Token).ConfigureAwait(false))
                await HeartbeatAsync(_stop.Token);
        }, CancellationToken.None);
        _connection = await BrokerConnections.ConnectAsync(_broker, "offload-" + Name, 5, cancellationToken);
        foreach (var buildClass in CapabilityMatcher.EnumerateClasses(Capabilities))
        {
            var channel = await _connection.CreateChannelAsync(cancellationToken: cancellationToken);
            await BuildQueueDeclarations.DeclareExchangesAsync(channel, cancellationToken);
            await BuildQueueDeclarations.DeclareClassQueueAsync(channel, buildClass, cancellationToken);
            await channel.BasicQosAsync(0, (ushort)Capabilities.Slots, false, cancellationToken);
            var consumer = new AsyncEventingBasicConsumer(channel);
            consumer.ReceivedAsync += (_, delivery) => OnDeliveryAsync(channel, delivery);
            await channel.BasicConsumeAsync(buildClass.QueueName, autoAck: false, consumer, cancellationToken);
        }
    }

    private async Task OnDeliveryAsync(IChannel channel, BasicDeliverEventArgs delivery)
    {
        var signed = JsonSerializer.Deserialize<SignedBuildRequest>(delivery.Body.Span, MessagingJson.Options)!;
        var request = JsonSerializer.Deserialize<BuildDerivation>(signed.RequestJson, MessagingJson.Options)!;
        Claimed.Enqueue(request);
        _running[(request.BuildId, request.Attempt)] = 0;
        await Publish(new BuildStarted(request.BuildId, request.Attempt, Name, DateTimeOffset.UtcNow));
        await channel.BasicAckAsync(delivery.DeliveryTag, false);
        // Finish off the consumer's dispatch thread so that several builds run at once, like slots.
        _ = Task.Run(() => BuildAsync(request));
    }

    private async Task BuildAsync(BuildDerivation request)
    {
        try
        {
            var storeDir = new StoreDirectory(request.StoreDir);
            var drvPath = StorePath.Parse(storeDir, request.DrvPath);
            var drv = DerivationAterm.Parse(storeDir, request.DrvText, drvPath.Name[..^4]);
            var mode = drv.Env.GetValueOrDefault("mode", "ok");
            await Publish(new BuildLogEmitted(request.BuildId, request.Attempt, Name, 1, $"building {request.DrvPath} on {Name} ({mode})\n"));
            if (mode == "hold")
                await Hold(drv.Env.GetValueOrDefault("tag", "")).Task.WaitAsync(TimeSpan.FromMinutes(3));
            if (mode == "fail")
            {
                await Publish(new BuildLogEmitted(request.BuildId, request.Attempt, Name, 2, "error: the builder exited with 1 (test)\n"));
                await Publish(new BuildFailed(request.BuildId, request.Attempt, Name, BuildFailureKind.BuildFailure, 1, "builder exited with code 1", "", DateTimeOffset.UtcNow));
                return;
            }

            var outputs = new List<BuiltOutput>();
            var paths = new List<StorePath>();
            foreach (var (name, path) in drv.OutputPaths)
            {
                if (!await _store.IsValidAsync(path, CancellationToken.None))
                {
                    using (await _store.LockPathAsync(path, CancellationToken.None))
                    {
                        await File.WriteAllTextAsync(_store.PhysicalPath(path), $"{name} of {request.DrvPath}, inputs {string.Join(' ', request.InputClosure.Select(i => i.Path))}\n");
                        await _store.RegisterOutputAsync(path, [], drvPath, CancellationToken.None);
                    }
                }

                var info = await _store.GetPathInfoAsync(path, CancellationToken.None);
                var signer = mode == "untrusted" ? _untrusted : _key;
                await _store.AddSignaturesAsync(path, [signer.Sign(info.Fingerprint)], CancellationToken.None);
                info = await _store.GetPathInfoAsync(path, CancellationToken.None);
                outputs.Add(new BuiltOutput(name, path.FullPath, info.NarHash.ToString(), info.NarSize, [.. info.References.Select(r => r.FullPath)], info.Signatures.Where(s => s.StartsWith(signer.Name + ":", StringComparison.Ordinal)).ToArray()));
                paths.Add(path);
            }

            if (mode != "noupload")
            {
                using var archive = new MemoryStream();
                await ArchiveWriter.ExportAsync(_store, paths, archive, new ExportOptions(ArchiveFormat.BuildFarmSigned), CancellationToken.None);
                var bytes = archive.ToArray();
                if (mode == "tamper")
                    bytes[^40] ^= 0x01; // inside the last NAR's file contents
                await new OutputQuarantine(_originLayout).ReceiveAsync(request.BuildId, request.Attempt, new MemoryStream(bytes), 1 << 30, CancellationToken.None);
            }

            await Publish(new BuildSucceeded(request.BuildId, request.Attempt, Name, outputs, new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), DateTimeOffset.UtcNow));
        }
        catch (Exception e)
        {
            await Publish(new BuildFailed(request.BuildId, request.Attempt, Name, BuildFailureKind.Infrastructure, null, "stand-in worker: " + e.Message, "", DateTimeOffset.UtcNow));
        }
        finally
        {
            _running.TryRemove((request.BuildId, request.Attempt), out _);
        }
    }

    /// <summary>Every event signed with the worker's key, as a real worker's EventPublisher does.</summary>
    private Task Publish<T>(T message, CancellationToken cancellationToken = default)
        where T : class => _bus!.Publish(MessageSignatures.Sign(message, _key), cancellationToken);

    private Task HeartbeatAsync(CancellationToken cancellationToken) => Publish(new WorkerStatusReported(
        Name, Capabilities, _running.Keys.Select(k => new RunningBuild(k.Item1, k.Item2)).ToArray(), 0, 1L << 30, "offload-test", false, false, null, DateTimeOffset.UtcNow), cancellationToken);

    public async ValueTask DisposeAsync()
    {
        foreach (var hold in Holds.Values)
            hold.TrySetResult();
        await _stop.CancelAsync();
        if (_heartbeats is not null)
        {
            try
            {
                await _heartbeats;
            }
            catch (OperationCanceledException)
            {
            }
        }

        if (_connection is not null)
            await _connection.DisposeAsync();
        if (_bus is not null)
            await _bus.StopAsync();
        _stop.Dispose();
    }
}
