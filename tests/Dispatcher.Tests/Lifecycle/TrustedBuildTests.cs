using BuildFarm.Contracts.Builds;
using BuildFarm.Contracts.Workers;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Dispatcher.Registry;
using BuildFarm.Messaging.Routing;

namespace BuildFarm.Dispatcher.Tests.Lifecycle;

/// <summary>Trusted builds through the lifecycle: routed with the mark, refused or declined where only unsandboxed workers exist.</summary>
public sealed class TrustedBuildTests
{
    private static readonly WorkerCapabilities Sandboxed = TrustedRouting.Declared(LifecycleHarness.Caps("x86_64-linux", ["kvm"]), BuildIsolation.Sandboxed);
    private static readonly WorkerCapabilities Unsandboxed = TrustedRouting.Declared(LifecycleHarness.Caps("x86_64-linux"), BuildIsolation.Unsandboxed);

    [Fact]
    public async Task Submit_Trusted_PublishedWithTheMarkInTheRoutingNotInTheFeatures()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("w1", Sandboxed);

        var result = await h.Lifecycle.SubmitAsync(LifecycleHarness.Request(features: ["kvm"]) with { Trusted = true }, CancellationToken.None);

        var record = await h.GetAsync(result.BuildId!.Value);
        Assert.True(record!.Trusted);
        Assert.Equal("x86_64-linux.buildfarm-trusted+kvm", record.Class.Key);
        Assert.Equal(["kvm"], record.Features);
        var published = Assert.Single(h.Publisher.Published);
        Assert.True(published.Trusted);
        Assert.Equal(["kvm"], published.RequiredFeatures);
        Assert.Equal("x86_64-linux.buildfarm-trusted+kvm", TrustedRouting.ClassOf(published).Key);
    }

    [Fact]
    public async Task Submit_OnlyAnUnsandboxedWorker_UntrustedRefusedTrustedAccepted()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("bare", Unsandboxed);

        var untrusted = await h.Lifecycle.SubmitAsync(LifecycleHarness.Request(), CancellationToken.None);
        var trusted = await h.Lifecycle.SubmitAsync(LifecycleHarness.Request() with { Trusted = true }, CancellationToken.None);

        Assert.Null(untrusted.BuildId);
        Assert.Contains("mandatory buildfarm-trusted", untrusted.RefusedBecause, StringComparison.Ordinal);
        Assert.NotNull(trusted.BuildId);
        Assert.True(Assert.Single(h.Publisher.Published).Trusted);
    }

    [Fact]
    public async Task Submit_DerivationRequiresTheMarkItself_RefusedAsReserved()
    {
        await using var h = await LifecycleHarness.CreateAsync();
        await h.HeartbeatAsync("bare", Unsandboxed);

        var result = await h.Lifecycle.SubmitAsync(
            LifecycleHarness.Request(features: [TrustedRouting.Feature]) with { WaitForCapacity = true }, CancellationToken.None);

        Assert.Null(result.BuildId);
        Assert.Contains("requiredSystemFeatures", result.RefusedBecause, StringComparison.Ordinal);
        Assert.Contains("reserved", result.RefusedBecause, StringComparison.Ordinal);
        Assert.Empty(h.Publisher.Published);
    }

    [Fact]
    public async Task Started_WorkerSaysUnsandboxed_BuildAndAttemptRecordIt_RequeueForgetsIt()
    {
        await using var h = await LifecycleHarness.CreateAsync(LifecycleSettings.Default with { MaxAttempts = 3 });
        await h.Lifecycle.OnStatusAsync(new WorkerStatusReported("bare", Unsandboxed, [], 0, 0, "t", false, false, null, h.Time.GetUtcNow(),
            new WorkerIsolation(BuildIsolation.Unsandboxed, "bwrap not found")), CancellationToken.None);
        var id = (await h.Lifecycle.SubmitAsync(LifecycleHarness.Request() with { Trusted = true }, CancellationToken.None)).BuildId!.Value;

        await h.Lifecycle.OnStartedAsync(new BuildStarted(id, 1, "bare", h.Time.GetUtcNow(), BuildIsolation.Unsandboxed), CancellationToken.None);

        Assert.Equal(BuildIsolation.Unsandboxed, (await h.GetAsync(id))!.Isolation);
        Assert.Equal(BuildIsolation.Unsandboxed, Assert.Single(await h.AttemptsAsync(id)).Isolation);
        var worker = Assert.Single(await h.Db.RunAsync(s => WorkerTable.ListAsync(s), CancellationToken.None));
        Assert.Equal(new WorkerIsolation(BuildIsolation.Unsandboxed, "bwrap not found"), worker.Isolation);

        await h.FailAsync(id, 1, "bare", BuildFailureKind.Infrastructure);

        var requeued = (await h.GetAsync(id))!;
        Assert.Equal((BuildState.Queued, 2), (requeued.State, requeued.Attempt));
        Assert.Null(requeued.Isolation);
    }

    [Fact]
    public void HookDecide_OnlyAnUnsandboxedWorker_DeclinesTheUntrustedClass()
    {
        var now = DateTimeOffset.UtcNow;
        var bare = new WorkerRecord("bare", Unsandboxed, now, now, WorkerTable.Online, "t", 0, 0, false, false, null, 0, 0,
            new WorkerIsolation(BuildIsolation.Unsandboxed, "no bwrap"));

        var decision = HookDecider.Decide([bare], OpenBuildCounts.None, new BuildClass("x86_64-linux", []), now, TimeSpan.FromMinutes(1));

        Assert.Equal("decline", decision.Verdict);
        Assert.Contains("mandatory buildfarm-trusted", decision.Reason, StringComparison.Ordinal);
    }
}
