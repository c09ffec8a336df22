using BuildFarm.Contracts.Builds;
using BuildFarm.Dispatcher.Lifecycle;
using BuildFarm.Store.Hashing;
using BuildFarm.Store.Paths;
using BuildFarm.Store.Signing;

namespace BuildFarm.Dispatcher.Tests.Lifecycle;

/// <summary>Without an origin, a result is recorded only when its outputs are signed by a trusted worker key.</summary>
public sealed class ResultVerificationTests
{
    private const string OutPath = "/nix/store/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-hello";
    private const string NarHash = "sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s";
    private static readonly SigningKey Worker = SigningKey.Generate("w1-1");

    private static string Sign(SigningKey key) =>
        key.Sign(NarInfoFingerprint.Compute(StorePath.Parse(StoreDirectory.Nix, OutPath), NixHash.Parse(NarHash), 120, []));

    private static async Task<(LifecycleHarness Harness, Guid Id)> RunningAsync()
    {
        var h = await LifecycleHarness.CreateAsync(workerKeys: TrustedKeysFile.Fixed(new TrustedKeys([Worker.PublicKey])));
        var id = await h.SubmitAsync(wait: true);
        await h.StartAsync(id, 1, "w1");
        return (h, id);
    }

    private static BuildSucceeded Result(Guid id, params string[] signatures) => new(id, 1, "w1",
        [new BuiltOutput("out", OutPath, NarHash, 120, [], signatures)], new PhaseTimings(TimeSpan.Zero, TimeSpan.Zero, TimeSpan.Zero), DateTimeOffset.UtcNow);

    [Fact]
    public async Task OnSucceeded_NoOriginOutputsSignedByTrustedKey_Succeeded()
    {
        var (h, id) = await RunningAsync();
        await using var _ = h;
        await h.Lifecycle.OnSucceededAsync(Result(id, Sign(Worker)), CancellationToken.None);
        Assert.Equal(BuildState.Succeeded, (await h.GetAsync(id))!.State);
    }

    [Theory]
    [InlineData("unsigned")]
    [InlineData("untrusted")]
    [InlineData("garbage")]
    public async Task OnSucceeded_NoOriginOutputsNotSignedByTrustedKey_RejectedAsFinal(string how)
    {
        var (h, id) = await RunningAsync();
        await using var _ = h;
        string[] signatures = how switch
        {
            "unsigned" => [],
            "untrusted" => [Sign(SigningKey.Generate("w1-1"))],
            _ => ["w1-1:c2ln"],
        };

        await h.Lifecycle.OnSucceededAsync(Result(id, signatures), CancellationToken.None);

        var b = (await h.GetAsync(id))!;
        Assert.Equal(BuildState.Failed, b.State);
        Assert.Equal(nameof(BuildFailureKind.Rejected), b.FailureKind);
        Assert.Contains("is not signed by a trusted worker key", b.FailureReason, StringComparison.Ordinal);
    }
}
