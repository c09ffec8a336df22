using System.Text;
using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Events;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Messaging.Signing;
using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Dispatcher.Tests.Events;

/// <summary>
/// Events from workers one contract version apart: an event in the version-2 format (what every release one version
/// apart sends) is accepted; one carrying members this dispatcher lacks, signed over them, is refused naming them.
/// </summary>
public sealed class EventVersionTests : IAsyncDisposable
{
    private static readonly DateTimeOffset At = new(2026, 12, 5, 8, 0, 0, TimeSpan.Zero);
    private readonly TempDirectory _dir = new("event-versions");
    private readonly SigningKey _key = SigningKey.Generate("worker-v-1");
    private LifecycleDatabase? _db;

    private async Task<WorkerEventAuthenticator> AuthenticatorAsync()
    {
        _db = await LifecycleDatabase.OpenAsync(_dir.Combine("dispatcher.db"), CancellationToken.None);
        return new WorkerEventAuthenticator(TrustedKeysFile.Fixed(new TrustedKeys([_key.PublicKey])), _db, TimeProvider.System);
    }

    [Fact]
    public async Task Refusal_Version2EventsOfEveryKind_Accepted()
    {
        var auth = await AuthenticatorAsync();
        object[] events =
        [
            new BuildStarted(Guid.NewGuid(), 1, "w", At),
            new BuildFailed(Guid.NewGuid(), 1, "w", BuildFailureKind.Infrastructure, null, "refused: version", "", At),
            new WorkerStatusReported("w", new WorkerCapabilities(["x86_64-linux"], ["buildfarm-contract-3"], [], 1, 1), [], 0, 0, "1", false, false, null, At),
        ];
        foreach (var e in events)
            Assert.Null(await auth.RefusalAsync("w", MessageSignatures.Sign(e, _key), CancellationToken.None, () => []));
    }

    [Fact]
    public async Task Refusal_EventOfANewerWorkerWithMembersThisDispatcherLacks_RefusedNamingThem()
    {
        var auth = await AuthenticatorAsync();
        var failed = new BuildFailed(Guid.NewGuid(), 1, "w", BuildFailureKind.Infrastructure, null, "x", "", At);
        // A newer worker signs its new member too: over a text this dispatcher cannot rebuild from the record.
        var signature = _key.Sign(MessageSignatures.SignedText(failed) + "9:retryHint;");
        var envelope = Encoding.UTF8.GetBytes($$$"""{"messageId":"1","message":{"buildId":"{{{failed.BuildId}}}","attempt":1,"workerName":"w","retryHint":"later","signature":"{{{signature}}}"}}""");

        var refusal = await auth.RefusalAsync("w", failed with { Signature = signature }, CancellationToken.None,
            () => EventMembers.Unknown(envelope, typeof(BuildFailed)));

        Assert.NotNull(refusal);
        Assert.StartsWith("bad signature by 'worker-v-1'", refusal, StringComparison.Ordinal);
        Assert.Contains("it carries members this dispatcher's contracts lack (retryHint): it comes from a worker of a newer contract version", refusal, StringComparison.Ordinal);
        Assert.Contains("upgrade the dispatcher first", refusal, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_NullOrKnownMembers_NotCounted()
    {
        var envelope = """{"message":{"BuildId":"x","workerName":"w","later":null,"newer":1},"headers":{"other":2}}"""u8;

        Assert.Equal(["newer"], EventMembers.Unknown(envelope, typeof(BuildStarted)));
        Assert.Empty(EventMembers.Unknown("""{"messageId":"1"}"""u8, typeof(BuildStarted)));
    }

    public async ValueTask DisposeAsync()
    {
        if (_db is not null)
            await _db.DisposeAsync();
        _dir.Dispose();
    }
}
