using System.Diagnostics;
using System.Globalization;
using BuildFarm.Contracts.Builds;
using BuildFarm.Store.Quarantine;
using BuildFarm.Worker.Tests.Consuming;
using BuildFarm.Worker.Tests.Farm;

namespace BuildFarm.Worker.Tests.Origins;

/// <summary>
/// Returning outputs to an origin that stops reading (its upload process SIGSTOPped behind a real sshd, as on a
/// blackholed link: nothing is refused, nothing moves): the worker gives up after Origins:UploadStallTimeout.
/// </summary>
public sealed class UploadStallTests(FarmFixture farm) : IClassFixture<FarmFixture>
{
    [Fact]
    public async Task Upload_OriginStopsReading_FailsAsInfrastructureWithinTheStallTimeoutAndLeavesNoPartialFile()
    {
        await using var world = await OriginWorld.CreateAsync(farm.StoreDir);
        var settings = world.WorkerSettings();
        settings["Origins:UploadStallTimeout"] = "00:00:03";
        await using var worker = await TestWorker.StartAsync(farm.Broker.AmqpUri, farm.StoreDir, farm.DispatcherKey.PublicKey, "stalled-upload", ["stall-linux"], extraSettings: settings);
        await farm.WaitOnlineAsync("stalled-upload");

        // 16 MiB of output: far more than the SSH window, the pipe and sshd's buffers take from a reader that never reads.
        var request = await world.RequestAsync("stall-linux", "stall", script: "$bb head -c 16777216 /dev/urandom > \"$out\"");
        await File.WriteAllTextAsync(world.StopUploadsFile, "");
        var pid = 0;
        try
        {
            await farm.Publisher.PublishAsync(request, farm.DispatcherKey);
            await RejectionTests.WaitUntilAsync(
                () => Task.FromResult(int.TryParse(File.ReadAllText(world.StopUploadsFile).Trim(), CultureInfo.InvariantCulture, out pid)),
                "the upload to reach the origin (and stop there)", TimeSpan.FromMinutes(2));
            var stalledSince = Stopwatch.StartNew();

            var failed = Assert.IsType<BuildFailed>(await farm.Events.WaitForResultAsync(request.BuildId, "the stalled upload to fail", TimeSpan.FromSeconds(60)));
            var took = stalledSince.Elapsed;
            Assert.Equal(BuildFailureKind.Infrastructure, failed.Kind);
            Assert.Contains("stalled: no progress for 3 s after", failed.Reason, StringComparison.Ordinal);
            Assert.Contains("Origins:UploadStallTimeout", failed.Reason, StringComparison.Ordinal);
            Assert.InRange(took, TimeSpan.FromSeconds(2.5), TimeSpan.FromSeconds(20));
            Assert.DoesNotContain(farm.Events.OfType<BuildSucceeded>(), s => s.BuildId == request.BuildId);

            // The worker dropped the channel: once the origin's process runs again it reads a cut archive, deletes its
            // .part file and ends; nothing of the attempt stays in the quarantine.
            File.Delete(world.StopUploadsFile);
            Signal("CONT", pid);
            await RejectionTests.WaitUntilAsync(() => Task.FromResult(!Directory.Exists($"/proc/{pid}")), $"the origin's upload process {pid} to end", TimeSpan.FromSeconds(60));
            var quarantine = new OutputQuarantine(world.OriginLayout);
            Assert.Empty(quarantine.Entries());
            Assert.False(File.Exists(quarantine.FileFor(request.BuildId, request.Attempt)));
        }
        finally
        {
            File.Delete(world.StopUploadsFile);
            if (pid > 0 && Directory.Exists($"/proc/{pid}"))
            {
                Signal("CONT", pid);
                Signal("KILL", pid);
            }
        }
    }

    private static void Signal(string signal, int pid)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]) { UseShellExecute = false })!;
        kill.WaitForExit();
    }
}
