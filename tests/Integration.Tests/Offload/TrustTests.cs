using BuildFarm.Store.Signing;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>What the offload path refuses: a wrong origin host key, an untrusted worker key, damaged uploads.</summary>
[Collection(OffloadFarmDefinition.Name)]
public sealed class TrustTests(OffloadFarmFixture farm)
{
    [Fact]
    public async Task Pull_WrongPinnedHostKey_RefusedWithTheReasonAndOriginUnchanged()
    {
        await farm.EnsureChainBuiltAsync();
        var (_, drv) = await farm.PrepareAsync("routed", feature: "badhost");
        var wrongFingerprint = await farm.UnrelatedHostKeyFingerprintAsync("badhost-key");
        using var worker = farm.StartWorker("badhost", ["badhost"], pinnedFingerprint: wrongFingerprint);
        await farm.WaitOnlineAsync(worker);
        var originBefore = (await farm.Origin.ReadContentsAsync()).Describe();
        var callsBefore = farm.Origin.Calls().Count;

        var result = await farm.BuildAsync([drv]);

        Assert.True(result.ExitCode != 0, "a worker that cannot verify the origin built anyway:\n" + result.Stderr);
        Assert.Contains("host key", result.Stderr + worker.Process.Output, StringComparison.OrdinalIgnoreCase);
        Assert.Contains(wrongFingerprint, worker.Process.Output, StringComparison.Ordinal);
        Assert.Equal([], farm.Origin.Calls().Skip(callsBefore)); // nothing ran on the origin: refused before login
        Assert.Equal(originBefore, (await farm.Origin.ReadContentsAsync()).Describe());
    }

    /// <summary>
    /// A worker whose key the dispatcher does not trust speaks for no one: its heartbeats are dropped and logged, so it
    /// never counts as a machine, no build is sent its way, and nothing of it reaches the origin. (Before events were
    /// signed it was taken as online, built, and only its returned output was refused.)
    /// </summary>
    [Fact]
    public async Task Events_WorkerKeyNotTrustedByDispatcher_DroppedNoBuildAndOriginUnchanged()
    {
        await farm.EnsureChainBuiltAsync();
        var (graph, drv) = await farm.PrepareAsync("routed", feature: "untrusted");
        var output = (await graph.ReferenceHashesAsync([drv])).Keys.Single(p => p.EndsWith("-routed-untrusted", StringComparison.Ordinal));
        var originBefore = (await farm.Origin.ReadContentsAsync()).Describe();
        using var worker = farm.StartWorker("untrusted", ["untrusted"]);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!File.ReadLines(farm.DispatcherJsonLog).Any(l => l.Contains("Dropped {EventType}", StringComparison.Ordinal) && l.Contains("\"untrusted\"", StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, "the dispatcher did not log the untrusted worker's dropped heartbeat within 60 s");
            await Task.Delay(200);
        }

        var result = await farm.BuildAsync([drv]);

        Assert.True(result.ExitCode != 0, "a build was accepted for a worker the dispatcher does not trust:\n" + result.Stderr);
        Assert.Contains("no machine can build", result.Stderr, StringComparison.Ordinal);
        Assert.False((await worker.ReadStoreAsync()).ValidPaths.ContainsKey(output), "the untrusted worker built it");
        Assert.Equal(originBefore, (await farm.Origin.ReadContentsAsync()).Describe());
    }

    [Fact]
    public async Task Pull_OriginKeysTrustedWhileTheWorkerRuns_NextBuildPullsWithoutARestart()
    {
        await farm.EnsureChainBuiltAsync();
        var (_, drv) = await farm.PrepareAsync("routed", feature: "rekey");
        // The worker starts trusting one unrelated key: the chain outputs it must pull carry no signature it trusts.
        var trust = Path.Combine(farm.Scratch("rekey"), "trusted-inputs.pub");
        await File.WriteAllTextAsync(trust, SigningKey.Generate("someone-else-1").PublicKey + "\n");
        using var worker = farm.StartWorker("rekey", ["rekey"], trustedInputKeysFile: trust);
        await farm.WaitOnlineAsync(worker);

        var refused = await farm.BuildAsync([drv]);
        Assert.True(refused.ExitCode != 0, "inputs without a trusted signature were imported:\n" + refused.Stderr);
        Assert.Contains("signature", refused.Stderr + worker.Process.Output, StringComparison.OrdinalIgnoreCase);

        // The operator trusts the origin's keys: the running worker reads the file again at its next import.
        File.Copy(farm.TrustedInputKeysFile, trust, overwrite: true);
        var accepted = await farm.BuildAsync([drv]);

        Assert.True(accepted.ExitCode == 0, "the new trust file was not used:\n" + accepted.Stderr + "\n" + farm.DiagnosticText());
        Assert.False(worker.Process.HasExited);
        Assert.Contains("Reloaded trusted keys from " + trust, worker.Process.Output.Replace("\"", "", StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tamper")]
    [InlineData("truncate")]
    public async Task Return_DamagedUpload_RefusedAndOriginUnchanged(string hook)
    {
        var (graph, drv) = await farm.PrepareAsync("marked", salt: hook);
        var output = (await graph.ReferenceHashesAsync([drv])).Keys.Single();
        var originBefore = (await farm.Origin.ReadContentsAsync()).Describe();
        var firingsBefore = farm.Origin.HookFirings().Count;
        farm.Origin.Arm(hook);
        ProcessResult result;
        try
        {
            result = await farm.BuildAsync([drv]);
        }
        finally
        {
            farm.Origin.Disarm(hook);
        }

        Assert.Contains(farm.Origin.HookFirings().Skip(firingsBefore), f => f.StartsWith(hook, StringComparison.Ordinal));
        Assert.True(result.ExitCode != 0, $"a {hook}ed upload was accepted:\n{result.Stderr}\n{farm.DiagnosticText()}");
        var origin = await farm.Origin.ReadContentsAsync();
        Assert.DoesNotContain(output, origin.ValidPaths.Keys);
        Assert.Equal(originBefore, origin.Describe());
    }
}
