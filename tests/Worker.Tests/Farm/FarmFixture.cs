using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Worker.Tests.Farm;

/// <summary>
/// One private RabbitMQ node per test class, a dispatcher key, a shared logical store directory, an event
/// collector and a request publisher. Tests isolate themselves by using a system name of their own.
/// </summary>
public class FarmFixture : IAsyncLifetime, IDisposable
{
    private readonly TempDirectory _dir = new("farm");

    internal RabbitMqServer Broker { get; private set; } = null!;

    internal EventCollector Events { get; private set; } = null!;

    internal TestPublisher Publisher { get; private set; } = null!;

    internal SigningKey DispatcherKey { get; } = SigningKey.Generate("dispatcher-test-1");

    /// <summary>Logical = physical store directory of every worker (no root: builders write outputs in place).</summary>
    internal string StoreDir => _dir.Combine("store");

    private readonly TempDirectory _scratch = BuilderScratch.Create("farm-scratch");

    /// <summary>A directory shared with the builders (<see cref="BuilderScratch"/>), writable by their build users.</summary>
    internal string Scratch(string name)
    {
        var path = _scratch.Combine(name);
        Directory.CreateDirectory(path);
        File.SetUnixFileMode(path, (UnixFileMode)0b111_111_111);
        return path;
    }

    protected virtual TimeSpan? ConsumerTimeout => null;

    public async Task InitializeAsync()
    {
        Directory.CreateDirectory(StoreDir);
        Broker = await RabbitMqServer.StartNewAsync(ConsumerTimeout);
        Events = await EventCollector.StartAsync(Broker.AmqpUri);
        Publisher = await TestPublisher.StartAsync(Broker.AmqpUri);
    }

    internal Task<TestWorker> StartWorkerAsync(string name, string[] systems, string[]? features = null, string[]? mandatory = null, int slots = 1, double speed = 1,
        TimeProvider? clock = null) =>
        TestWorker.StartAsync(Broker.AmqpUri, StoreDir, DispatcherKey.PublicKey, name, systems, features, mandatory, slots, speed, clock: clock);

    /// <summary>Publishes a control command as the dispatcher does: issued now, a new id, signed with <see cref="DispatcherKey"/>.</summary>
    internal Task SendCommandAsync<T>(T command)
        where T : class => Events.PublishAsync(Signed(command));

    /// <summary>A control command as the dispatcher sends it (issued now, a new id, signed), to publish once or more.</summary>
    internal T Signed<T>(T command)
        where T : class
    {
        object stamped = command switch
        {
            Contracts.Builds.CancelBuild c => c with { IssuedAt = DateTimeOffset.UtcNow, CommandId = Guid.NewGuid() },
            Contracts.Workers.DrainWorker c => c with { IssuedAt = DateTimeOffset.UtcNow, CommandId = Guid.NewGuid() },
            Contracts.Workers.PauseWorker c => c with { IssuedAt = DateTimeOffset.UtcNow, CommandId = Guid.NewGuid() },
            Contracts.Workers.ResumeWorker c => c with { IssuedAt = DateTimeOffset.UtcNow, CommandId = Guid.NewGuid() },
            _ => command,
        };
        return (T)Messaging.Signing.MessageSignatures.Sign(stamped, DispatcherKey);
    }

    /// <summary>The first heartbeat comes after the consumers started: from then on the worker takes builds.</summary>
    internal Task WaitOnlineAsync(string name) =>
        Events.WaitForAsync<Contracts.Workers.WorkerStatusReported>(s => s.WorkerName == name, $"first heartbeat of {name}");

    public async Task DisposeAsync()
    {
        await Publisher.DisposeAsync();
        await Events.DisposeAsync();
        await Broker.DisposeAsync();
    }

    public void Dispose()
    {
        _dir.Dispose();
        _scratch.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>A broker whose consumer_timeout is one minute, for the long-build test.</summary>
public sealed class ShortConsumerTimeoutFarmFixture : FarmFixture
{
    protected override TimeSpan? ConsumerTimeout => TimeSpan.FromMinutes(1);
}
