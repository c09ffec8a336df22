using System.Net;
using System.Net.Http.Json;
using BuildFarm.Dispatcher.Api;
using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.EndToEnd;

/// <summary>
/// Issue 14, point 3 on real processes: a worker whose sandbox cannot work here (its <c>Sandbox:Bwrap</c> is a
/// missing file) with <c>AllowUnsandboxed: true</c> says so to the dispatcher, never takes an untrusted build, takes a
/// trusted one, and the build's record says it ran unsandboxed; the untrusted build goes to a sandboxed worker.
/// </summary>
public sealed class TrustedBuildTests(EndToEndFarm farm) : IClassFixture<EndToEndFarm>
{
    private const string System = "e2etrust-linux";
    private static readonly TimeSpan Generous = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task UnsandboxedWorker_ReportsIt_TakesOnlyTheTrustedBuild_RecordSaysUnsandboxed()
    {
        using var scratch = new TempDirectory("e2e-trust");
        var missing = scratch.Combine("no-such-bwrap");
        using var bare = await farm.StartUnsandboxedWorkerAsync(System, "trust-bare", missing);
        RealWorker[] boxed = [];
        try
        {
            var worker = (await farm.WorkerAsync("trust-bare"))!;
            Assert.Equal("unsandboxed", worker.Isolation);
            Assert.Contains(missing, worker.IsolationReason, StringComparison.Ordinal);
            Assert.Contains("buildfarm-trusted", worker.MandatoryFeatures);
            Assert.False(worker.Paused);

            // Untrusted: no known worker may run it, so it is refused at once, or queued with waitForCapacity.
            var untrustedDrv = await ShellDerivation.CreateAsync("untrusted", System, "echo untrusted > $out");
            using (var refused = await farm.Http.PostAsJsonAsync("api/builds", new SubmitBuildBody(untrustedDrv.DrvPath, untrustedDrv.DrvText)))
            {
                Assert.Equal(HttpStatusCode.UnprocessableEntity, refused.StatusCode);
                Assert.Contains("mandatory buildfarm-trusted", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            var untrusted = await farm.SubmitAsync(untrustedDrv, waitForCapacity: true);
            var trustedDrv = await ShellDerivation.CreateAsync("trusted", System, "echo trusted > $out");
            var trusted = await farm.SubmitAsync(trustedDrv, trusted: true);

            var done = Assert.Single(await farm.WaitFinishedAsync([trusted], Generous));
            Assert.Equal(("succeeded", "trust-bare", true, "unsandboxed"), (done.State, done.Worker, done.Trusted, done.Isolation));
            Assert.Equal("unsandboxed", Assert.Single(done.Attempts).Isolation);
            Assert.Equal("e2etrust-linux.buildfarm-trusted", done.ClassKey);
            Assert.Equal("trusted\n", await File.ReadAllTextAsync(Path.Combine(bare.PhysicalStoreDir, Path.GetFileName(trustedDrv.OutPath))));

            // The untrusted build, submitted first, was never claimed by the unsandboxed worker.
            var waiting = await farm.GetAsync(untrusted);
            Assert.Equal(("queued", null, false), (waiting.State, waiting.Worker, waiting.Trusted));
            Assert.Empty(waiting.Attempts);
            Assert.Equal("waiting: no capable worker online", waiting.WaitingReason);

            boxed = await farm.StartWorkersAsync(System, "trust-boxed");
            Assert.Equal("sandboxed", (await farm.WorkerAsync("trust-boxed"))!.Isolation);
            var built = Assert.Single(await farm.WaitFinishedAsync([untrusted], Generous));
            Assert.Equal(("succeeded", "trust-boxed", "sandboxed"), (built.State, built.Worker, built.Isolation));
            Assert.All(built.Attempts, a => Assert.Equal("trust-boxed", a.Worker));
        }
        finally
        {
            foreach (var w in boxed)
                w.Dispose();
        }
    }
}
