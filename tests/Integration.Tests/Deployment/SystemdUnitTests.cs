using BuildFarm.Testing;

namespace BuildFarm.Integration.Tests.Deployment;

public sealed class SystemdUnitTests
{
    /// <summary>systemd's own parser: every directive known, every value valid. The units name binaries under
    /// /opt/buildfarm/bin, so the copies checked here point ExecStart at an executable that exists.</summary>
    [Theory]
    [InlineData("buildfarm-dispatcher.service", "/opt/buildfarm/bin/buildfarm ")]
    [InlineData("buildfarm-worker.service", "/opt/buildfarm/bin/buildfarm-worker ")]
    public async Task Unit_SystemdAnalyzeVerify_ReportsNothing(string unit, string binary)
    {
        using var temp = new TempDirectory("bf-unit");
        var text = await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "packaging", unit));
        Assert.Contains("ExecStart=" + binary, text, StringComparison.Ordinal);
        var copy = temp.Combine(unit);
        await File.WriteAllTextAsync(copy, text.Replace("ExecStart=" + binary, "ExecStart=/bin/true ", StringComparison.Ordinal));

        var result = await ProcessRunner.RunAsync("systemd-analyze", ["verify", copy]);

        Assert.True(result.ExitCode == 0 && result.Stderr.Trim().Length == 0, $"systemd-analyze verify {unit}: {result.Stderr}{result.Stdout}");
    }

    [Theory]
    [InlineData("buildfarm-dispatcher.service", "User=buildfarm")]
    [InlineData("buildfarm-worker.service", "User=buildfarm-worker")]
    public async Task Unit_Hardening_DedicatedUserAndDrainingStop(string unit, string user)
    {
        var lines = (await File.ReadAllLinesAsync(Path.Combine(RepoPaths.Root, "packaging", unit))).Select(l => l.Trim()).ToArray();

        foreach (var directive in new[] { user, "Restart=on-failure", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes", "NoNewPrivileges=yes", "KillMode=mixed", "KillSignal=SIGTERM" })
            Assert.Contains(directive, lines);
        Assert.Contains(lines, l => l.StartsWith("ReadWritePaths=/var/lib/", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("LimitNOFILE=", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("TimeoutStopSec=", StringComparison.Ordinal));
    }
}
