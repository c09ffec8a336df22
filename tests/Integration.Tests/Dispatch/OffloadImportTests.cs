using System.Net;
using System.Net.Http.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Store.Derivations;
using BuildFarm.Store.Quarantine;

namespace BuildFarm.Integration.Tests.Dispatch;

/// <summary>Step 6 of the offload path: the dispatcher imports a worker's quarantined outputs, or rejects them and leaves the origin as it was.</summary>
public sealed class OffloadImportTests(OffloadFixture farm) : IClassFixture<OffloadFixture>
{
    [Fact]
    public async Task Import_CorrectlySignedArchive_OutputsValidWithTheEventsHash()
    {
        var drvs = await farm.AddAsync(OffloadFixture.Spec("good", Guid.NewGuid().ToString("N")));
        var build = await farm.WaitBuildFinishedAsync(await farm.SubmitBuildOkAsync(drvs["good"].DrvPath.FullPath));

        Assert.Equal("succeeded", build.State);
        var output = Assert.Single(build.Outputs);
        var info = await farm.OriginStore.QueryPathInfoAsync(farm.OriginStore.ParsePath(output.Path), CancellationToken.None);
        Assert.NotNull(info);
        Assert.Equal(output.NarHash, info.NarHash.ToString());
        Assert.False(File.Exists(new OutputQuarantine(farm.Origin).FileFor(build.Id, 1)), "the quarantine file is deleted after the import");
    }

    [Theory]
    [InlineData("untrusted", "is not signed by a trusted key: signature by 'intruder-1': no trusted key has that name")]
    [InlineData("tamper", "NAR hash mismatch")]
    [InlineData("noupload", "no returned outputs in quarantine")]
    public async Task Import_BadResult_RejectedNotRetriedOriginUnchanged(string mode, string reason)
    {
        var drvs = await farm.AddAsync(OffloadFixture.Spec("bad-" + mode, Guid.NewGuid().ToString("N"), mode));
        var before = farm.OriginEntries();
        var build = await farm.WaitBuildFinishedAsync(await farm.SubmitBuildOkAsync(drvs["bad-" + mode].DrvPath.FullPath));

        Assert.Equal(("failed", "Rejected"), (build.State, build.FailureKind));
        Assert.Contains("outputs rejected: ", build.FailureReason, StringComparison.Ordinal);
        Assert.Contains(reason, build.FailureReason, StringComparison.Ordinal);
        Assert.Equal(1, build.Attempt);
        Assert.Single(build.Attempts, a => a.Outcome == "Rejected");
        Assert.Equal(before, farm.OriginEntries());
        Assert.False(await farm.OriginStore.IsValidAsync(drvs["bad-" + mode].Derivation.Outputs["out"].Path!, CancellationToken.None));
        Assert.False(File.Exists(new OutputQuarantine(farm.Origin).FileFor(build.Id, 1)), "the quarantine file is deleted after the rejection");
    }

    [Fact]
    public async Task Import_FixedOutputNotTheDeclaredContentSignedByTrustedKey_RejectedNotRetriedOriginUnchanged()
    {
        // The stand-in worker signs with a trusted key (what a thief of that key can do) and writes its usual text,
        // not the empty file this fixed output declares.
        const string emptyFile = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
        var spec = OffloadFixture.Spec("fod-forged", Guid.NewGuid().ToString("N")) with { FixedOutput = new FixedOutputSpec(emptyFile, null, false) };
        var drv = (await farm.AddAsync(spec))["fod-forged"];
        var before = farm.OriginEntries();
        var build = await farm.WaitBuildFinishedAsync(await farm.SubmitBuildOkAsync(drv.DrvPath.FullPath));

        Assert.Equal(("failed", "Rejected"), (build.State, build.FailureKind));
        Assert.Contains($"outputs rejected: hash mismatch in fixed-output derivation '{drv.DrvPath}':\n  specified: {emptyFile}\n     got:    sha256-", build.FailureReason, StringComparison.Ordinal);
        Assert.Equal(1, build.Attempt);
        Assert.Equal(before, farm.OriginEntries());
        Assert.False(await farm.OriginStore.IsValidAsync(drv.Derivation.Outputs["out"].Path!, CancellationToken.None));
    }

    [Fact]
    public async Task Submit_InputNotInOriginStore_RefusedNamingThePath()
    {
        var tag = Guid.NewGuid().ToString("N");
        var drvs = await farm.AddAsync(OffloadFixture.Spec("needs", tag, "ok", ("dep", OffloadFixture.Spec("dep", tag))));
        using var response = await farm.Http.PostAsJsonAsync("api/builds", new SubmitBuildBody(drvs["needs"].DrvPath.FullPath, null));
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<ErrorResponse>())!.Error;
        Assert.Contains($"input {OffloadFixture.Out(drvs["dep"])} (output 'out' of {drvs["dep"].DrvPath}) is not valid in the origin store", error, StringComparison.Ordinal);
    }
}
