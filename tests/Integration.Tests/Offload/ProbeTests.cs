using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Offload;

/// <summary>
/// <c>buildfarm probe</c> against the real farm: the dispatcher asks the live worker processes over RabbitMQ, each
/// reaches the origin's sshd with its own pins and key and runs the origin's buildfarm, and answers.
/// </summary>
[Collection(OffloadFarmDefinition.Name)]
public sealed class ProbeTests(OffloadFarmFixture farm)
{
    [Fact]
    public async Task Probe_LiveWorkers_ReachTheOriginOverSsh_WrongPinIsRefusedBeforeLogin()
    {
        var wrongFingerprint = await farm.UnrelatedHostKeyFingerprintAsync("probe-key");
        using var badhost = farm.StartWorker("badhost", ["badhost"], pinnedFingerprint: wrongFingerprint);
        await farm.WaitOnlineAsync(badhost);
        var callsBefore = farm.Origin.Calls().Count;

        var result = await farm.Origin.RunAsync("probe", "--url", farm.ApiUrl, "--wait", "30");

        Assert.True(result.ExitCode == 2, $"exit {result.ExitCode}\n{result.Stdout}\n{result.Stderr}");
        foreach (var good in new[] { farm.W1.Name, farm.W2.Name })
        {
            var section = ProbeReport.Section(result.Stdout, good);
            Assert.Contains($"{good}: ok", section);
            Assert.Matches(@"answers probe:\s+yes, round trip", section);
            Assert.Contains("reaches origin:  reachable: ", section);
            Assert.Contains($":{farm.Sshd.Port} answered over SSH", section);
            Assert.Contains("key:             trusted: probe answer signed by trusted key", section);
        }

        var bad = ProbeReport.Section(result.Stdout, "badhost");
        Assert.Contains("badhost: origin refused", bad);
        Assert.Contains("reaches origin:  refused: ", bad);
        Assert.Contains("not the one pinned", bad);
        // The two good workers ran the origin's buildfarm over SSH; the refused one never logged in.
        Assert.Equal(2, farm.Origin.Calls().Skip(callsBefore).Count(c => c == "--version"));
    }
}
